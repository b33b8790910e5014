#!/usr/bin/env bash
# MLNetExt machine set-up. Idempotent: checks first, installs only what is missing, quiet when all is present.
#   bash scripts/setup.sh          check and (as root on Debian) install
#   bash scripts/setup.sh --check  only report what is missing (exit 1 if anything is)
set -euo pipefail

CHECK_ONLY=0
[ "${1:-}" = "--check" ] && CHECK_ONLY=1

# Debian packages the project uses (grows as methods land):
#   dataset-fashion-mnist  real Fashion-MNIST IDX files (Terminator, FAL, FFA-LoRA)
#   mpich libmpich-dev     MPI runtime for the CO2 trainer's multi-process backend
#   opensta                /usr/bin/sta, timing labels for the circuit pipeline
#   wordnet                lexical alterations for PragWorld
DEBIAN_PACKAGES=(dataset-fashion-mnist mpich libmpich-dev opensta wordnet)

say() { echo "[setup] $*"; }
missing=()

have_glibcxx() {
  # TorchSharp 0.107 (libtorch 2.10) needs libstdc++ from GCC >= 13.
  local lib
  for lib in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
    [ -e "$lib" ] && grep -qa 'GLIBCXX_3.4.32' "$lib" && return 0
  done
  return 1
}

command -v dotnet >/dev/null 2>&1 || { say "the .NET SDK (10.x) is required: install it first (https://dot.net)"; exit 1; }
have_glibcxx || missing+=("libstdc++6 with GLIBCXX_3.4.32 (GCC >= 13)")

is_debian=0
if [ -r /etc/os-release ] && grep -q '^ID=debian' /etc/os-release; then is_debian=1; fi

pkgs_missing=()
if [ $is_debian = 1 ]; then
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || pkgs_missing+=("$p")
  done
  [ ${#pkgs_missing[@]} -gt 0 ] && missing+=("Debian packages: ${pkgs_missing[*]}")
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ $CHECK_ONLY = 1 ] || [ $is_debian = 0 ] || [ "$(id -u)" != 0 ]; then
  say "missing:"; for m in "${missing[@]}"; do say "  - $m"; done
  if [ $is_debian = 0 ]; then
    say "not Debian: install a libstdc++ from GCC 13+ and the equivalents of: ${DEBIAN_PACKAGES[*]}"
  elif [ "$(id -u)" != 0 ]; then
    say "run as root (sudo bash scripts/setup.sh) to install them"
  fi
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
say "apt-get update"
apt-get update -q >/dev/null
if [ ${#pkgs_missing[@]} -gt 0 ]; then
  say "installing ${pkgs_missing[*]}"
  apt-get install "${APT_OPTS[@]}" --no-install-recommends "${pkgs_missing[@]}" >/dev/null
fi
if ! have_glibcxx; then
  # Debian 12 ships GCC 12's libstdc++; take libstdc++6 (and the libc6 it needs) from Debian 13 (trixie),
  # pinned low so nothing else is upgraded from trixie.
  say "installing libstdc++6 from Debian 13 (trixie) for GLIBCXX_3.4.32"
  cat > /etc/apt/sources.list.d/mlnetext-trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat > /etc/apt/preferences.d/mlnetext-trixie <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  apt-get update -q >/dev/null
  apt-get install "${APT_OPTS[@]}" -t trixie libstdc++6 >/dev/null
  have_glibcxx || { say "libstdc++6 from trixie did not provide GLIBCXX_3.4.32"; exit 1; }
fi
say "done"
