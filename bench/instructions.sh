#!/usr/bin/env bash
# The instruction-count gate: counts the instructions the analyser and the diagnosis spend per
# frame on each fixed workload of core/benches/instructions.rs (callgrind counts only its
# `counted_analysis`), and compares them with the figures recorded in bench/instructions.txt.
#
#   bench/instructions.sh            check: fails when a workload counts more than 3 % above
#                                     its recorded figure
#   bench/instructions.sh --update   writes the figures measured now into the file
#
# A change that costs instructions on purpose updates the file in the same commit and says why
# in its commit message. Counts, unlike timings, do not move with the machine's load: the same
# binary counts the same on a busy machine, within a fraction of a percent (hash seeds).
set -euo pipefail
cd "$(dirname "$0")/.."
figures=bench/instructions.txt
# A rise over this many percent fails the check.
allowed=3

mode=check
case "${1:-}" in
  "") ;;
  --update) mode=update ;;
  *) echo "usage: bench/instructions.sh [--update]" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "bench/instructions.sh needs valgrind" >&2; exit 1; }

# The bench profile (release, with its link-time optimisation): the code inspect runs.
exe=$(cargo bench -p connlab-core --features testframes --bench instructions --no-run \
        --message-format=json 2>/dev/null |
      python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
[ -x "$exe" ] || { echo "building the instructions bench failed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# count_once WORKLOAD: prints "FRAMES INSTRUCTIONS" for one run under callgrind.
count_once() {
  local out="$work/$1.callgrind"
  local frames
  frames=$(valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted_analysis*' \
             --callgrind-out-file="$out" "$exe" "$1" 2>"$work/$1.log" | awk '/^frames / { print $2 }') ||
    { cat "$work/$1.log" >&2; echo "the $1 workload failed" >&2; exit 1; }
  local total
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
  [ -n "$frames" ] && [ -n "$total" ] && [ "$total" -gt 0 ] ||
    { cat "$work/$1.log" >&2; echo "no count for the $1 workload" >&2; exit 1; }
  echo "$frames $total"
}

# count WORKLOAD: the fewest instructions of three runs. The hash maps' seeds differ from run
# to run, and now and then a run's collisions cost a few percent more (the websocket workload
# once counted 4.4 % above its usual figure with the same binary): extra work, never less, so
# the least of three is the code's own cost.
count() {
  local best="" frames total
  for _ in 1 2 3; do
    read -r frames total < <(count_once "$1")
    [ -n "${total:-}" ] || { echo "no count for the $1 workload" >&2; exit 1; }
    if [ -z "$best" ] || [ "$total" -lt "${best#* }" ]; then best="$frames $total"; fi
  done
  echo "$best"
}

workloads=$(awk '!/^#/ && NF { print $1 }' "$figures")
failed=0
new="$work/figures"
grep '^#' "$figures" > "$new"
printf '%-18s %8s %12s %12s %7s\n' workload frames recorded measured ratio
for w in $workloads; do
  read -r frames total < <(count "$w")
  # A workload that failed counts nothing: that fails the check, never passes it.
  [ -n "${total:-}" ] || { echo "the $w workload gave no count" >&2; exit 1; }
  per=$(awk -v t="$total" -v f="$frames" 'BEGIN { printf "%.1f", t / f }')
  recorded=$(awk -v w="$w" '$1 == w { print $3 }' "$figures")
  ratio=$(awk -v m="$per" -v r="$recorded" 'BEGIN { printf "%.3f", m / r }')
  verdict=""
  if awk -v q="$ratio" -v a="$allowed" 'BEGIN { exit !(q > 1 + a / 100) }'; then
    verdict="  more than $allowed % above the recorded figure"
    failed=1
  fi
  printf '%-18s %8s %12s %12s %7s%s\n' "$w" "$frames" "$recorded" "$per" "$ratio" "$verdict"
  printf '%s %s %s\n' "$w" "$frames" "$per" >> "$new"
done

if [ "$mode" = update ]; then
  cp "$new" "$figures"
  echo "wrote $figures"
elif [ "$failed" -ne 0 ]; then
  cat <<EOF
The analyser spends more instructions per frame than $figures records. Find what added
work per frame (perf, or callgrind_annotate on a workload), or, when the cost is meant,
run bench/instructions.sh --update and commit the file with the reason.
EOF
  exit 1
fi
