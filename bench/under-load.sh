#!/usr/bin/env bash
# Runs every lab of labs/ (and labs/scale/: c500k) twice, on an idle machine and with a CPU hog on every core
# (stress-ng), and prints each timed expectation's margin: how far the figure sits from the
# bound it could cross, as a share of the figure. A lab whose loaded margin nears 0 % is one
# a busy machine can fail.
#   sudo bench/under-load.sh [connlab binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/connlab}
[ -x "$bin" ] || cargo build --release --quiet
command -v stress-ng >/dev/null || { echo "needs stress-ng (apt-get install stress-ng)"; exit 2; }
out=$(mktemp -d)
run_all() {
  for lab in labs/*.toml labs/scale/*.toml; do
    "$bin" run "$lab" --json-summary --out "$out/$1" | tail -n 1 || true
  done >"$out/$1.jsonl"
}
run_all idle
stress-ng --cpu "$(nproc)" --timeout 3600s >/dev/null 2>&1 &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT
run_all loaded
kill $hog
python3 bench/margins.py "$out/idle.jsonl" "$out/loaded.jsonl"
