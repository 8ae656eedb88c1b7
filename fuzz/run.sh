#!/usr/bin/env bash
# Builds the fuzz targets (coverage-guided, libFuzzer through cargo-fuzz, on the stable
# toolchain: -s none) and runs each for SECONDS (default 60), seeded with fuzz/seeds. Prints
# each target's executions; exits non-zero on the first crash (its input is in
# fuzz/artifacts/TARGET/). The corpus grows in fuzz/corpus/TARGET (not kept in git).
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -s none -O -a 2>&1 | tail -n 3
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run -s none -O -a "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $t failed"
    exit 1
  fi
  runs=$(grep -Eo '^Done [0-9]+ runs' "$log" | awk '{print $2}')
  echo "$t: ${runs:-?} executions in ${seconds} s, no crash"
  rm -f "$log"
done
