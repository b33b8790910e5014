#!/usr/bin/env bash
# Fails (exit 1) when docs/benchmarks holds a report no guide links, or a link into docs/benchmarks points at a
# file or section that does not exist. Rules: every NAME.md there is linked from README.md or docs/ (outside
# docs/benchmarks); every NAME.json has its NAME.md; every PNG is shown by a report or linked from the docs; every
# link "benchmarks/FILE#SECTION" names an existing FILE with a "## SECTION" heading. Prints one line per problem.
set -uo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root" || exit 2
reports=docs/benchmarks
mapfile -t guides < <(find README.md CHANGELOG.md docs samples -name '*.md' -not -path "$reports/*" -not -path '*/bin/*' -not -path '*/obj/*' 2>/dev/null)
problems=0
problem() { echo "$1"; problems=$((problems + 1)); }

# Links from the guides into the reports: "benchmarks/FILE" with an optional "#SECTION".
links=$(grep -oHE 'benchmarks/[A-Za-z0-9_-]+\.(md|json|png)(#[A-Za-z0-9_-]+)?' "${guides[@]}" | sort -u)
while IFS= read -r hit; do
  [ -z "$hit" ] && continue
  source=${hit%%:*}; target=${hit#*:benchmarks/}
  file=${target%%#*}; section=""; [[ $target == *#* ]] && section=${target#*#}
  if [ ! -f "$reports/$file" ]; then problem "$source: links benchmarks/$file, which does not exist"; continue; fi
  if [ -n "$section" ] && ! grep -qxF "## $section" "$reports/$file"; then
    problem "$source: links benchmarks/$file#$section, but $file has no section '## $section'"
  fi
done <<< "$links"

linked_files=$(grep -ohE 'benchmarks/[A-Za-z0-9_-]+\.(md|json|png)' "${guides[@]}" | sed 's|^benchmarks/||' | sort -u)
shown_in_reports=$(cat "$reports"/*.md 2>/dev/null | grep -oE '\]\([A-Za-z0-9._-]+\.png\)' | sed -E 's/^\]\(|\)$//g' | sort -u)
for path in "$reports"/*; do
  name=$(basename "$path")
  case "$name" in
    *.md) grep -qxF "$name" <<< "$linked_files" || problem "$path: no guide links this report (link it from the method's guide, or remove it)" ;;
    *.json) [ -f "$reports/${name%.json}.md" ] || problem "$path: a JSON report without its Markdown report ${name%.json}.md" ;;
    *.png) grep -qxF "$name" <<< "$shown_in_reports" || grep -qxF "$name" <<< "$linked_files" || problem "$path: no report shows this plot" ;;
    *) problem "$path: not a report file (.md, .json or .png)" ;;
  esac
done
# Plots a report shows must exist.
for md in "$reports"/*.md; do
  for png in $(grep -oE '\]\([A-Za-z0-9._-]+\.png\)' "$md" | sed -E 's/^\]\(|\)$//g'); do
    [ -f "$reports/$png" ] || problem "$md: shows $png, which does not exist"
  done
done

if [ "$problems" -gt 0 ]; then echo "report links: $problems problem(s)"; exit 1; fi
echo "report links: ok ($(ls "$reports" | wc -l) files in $reports, all linked)"
