#!/usr/bin/env bash
# Fails (exit 1) when code, docs, benchmark reports or file names refer to how the work on the package was organised
# rather than to the product: numbered work periods, issue numbers, names of outside tools, pointers to
# specification files outside the repository. Prints file:line: text for every hit.
# "session" alone is a product word (federated training sessions, ONNX Runtime's InferenceSession) and is not flagged.
set -uo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root" || exit 2

# Text patterns: "flags<TAB>regex<TAB>paths to skip (regex, optional)". flags: i = ignore case.
# Conversation turns are data in PragWorld ("turn 4: 'did' → 'didn't'"), so "turn N" is not checked there.
rules=(
  $'i\t\\bsessions?[ -]+[0-9]+([–-][0-9]+)?\\b'                  # "session 16", "sessions 15–16"
  $'-\t(^|[^[:alnum:]_])S[0-9]{1,2}([ ),:;]|$)\t\\.cs$'              # "S16" as a label (in code it is a name: checked in comments below)
  $'-\t//.*\\bS[0-9]{1,2}\\b'                                       # ... in C# comments
  $'i\t\\bturns? [0-9]+\\b\t[Pp]rag[Ww]orld'                        # "turn 3"
  $'i\t\\b(issues?|pr|pull requests?|fixes|closes|see|in|from|per) #[0-9]+\\b'  # "#28" as an issue reference
  $'i\t\\(#[0-9]+\\)\t\\.(cs|html|svg)$'                          # "(#28)" in docs and reports
  $'i\t\\bissues? [0-9]+\\b'                                        # "issue 28"
  $'i\t\\bhelper-[0-9]+\\b'                                         # outside tool names
  $'i\tduplicates --change'
  $'-\t\\bAgents?\\b'
  $'i\t\\bsub-?agents?\\b'
  $'i\tshared/methods'                                               # specification files outside the repository
)

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard | while read -r f; do [ -f "$f" ] && echo "$f"; done)
else
  mapfile -t files < <(find . -type f -not -path './.git/*' -not -path '*/bin/*' -not -path '*/obj/*' -not -path './artifacts/*' | sed 's|^\./||')
fi

# This script and its test spell the patterns out; artifacts are build output.
skip='^(scripts/check-product-words\.sh|tests/MLNetExt\.Tests/Docs/ProductWordsTests\.cs)$|^artifacts/|/(bin|obj)/'
text=()
for f in "${files[@]}"; do
  [[ "$f" =~ $skip ]] && continue
  text+=("$f")
done

hits=0
report() { echo "$1"; hits=$((hits + 1)); }

# File names.
for f in "${text[@]}"; do
  base="${f##*/}"
  if [[ "${base,,}" =~ (^|[-_.])(s|session|sessions|turn|issue)[-_]?[0-9]+([-_.]|$) ]]; then report "$f:0: file name"; fi
done

# File contents (text files only; -I skips binary files such as PNG plots).
for rule in "${rules[@]}"; do
  IFS=$'\t' read -r flags regex skippaths <<<"$rule"
  opts=-nIHE; [ "$flags" = i ] && opts=-nIHiE
  sel=()
  for f in "${text[@]}"; do
    if [ -n "${skippaths:-}" ] && [[ "$f" =~ $skippaths ]]; then continue; fi
    sel+=("$f")
  done
  [ ${#sel[@]} -eq 0 ] && continue
  while IFS= read -r line; do report "$line"; done < <(printf '%s\0' "${sel[@]}" | xargs -0 grep $opts -e "$regex" -- 2>/dev/null | cut -c1-240)
done

if [ "$hits" -gt 0 ]; then
  echo "check-product-words: $hits hit(s); write about the product only (see the patterns in scripts/check-product-words.sh)" >&2
  exit 1
fi
echo "check-product-words: ok (${#text[@]} files)"
