#!/usr/bin/env bash
# Times `connlab inspect` against `tshark -q -z conv,tcp` on the same large capture.
# Makes the capture with bench/many-requests.toml (needs root), unless one is given:
#   sudo bench/inspect-vs-tshark.sh [capture.pcapng] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/connlab
runs=${2:-5}
capture=${1:-}
if [ -z "$capture" ]; then
  out=$(mktemp -d)
  "$bin" run bench/many-requests.toml --out "$out" | tail -n 12
  capture=$(ls "$out"/*.pcapng)
fi
frames=$("$bin" inspect "$capture" --json | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["packets"])')
echo "capture: $capture ($frames frames, $(du -h "$capture" | cut -f1))"
python3 bench/measure.py "$runs" \
  "connlab inspect" "$bin inspect $capture" \
  "tshark conv,tcp" "tshark -q -z conv,tcp -r $capture"
