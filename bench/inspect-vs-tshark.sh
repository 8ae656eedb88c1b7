#!/usr/bin/env bash
# Times `connlab inspect` against `tshark -q -z conv,tcp` on the same large captures:
# connlab's own (bench/many-requests.toml, 600,000 frames of keep-alive requests) and two
# tcpdump captures of nginx + ab over 60,000 connections (bench/nginx-ab-capture.sh: a 3-byte
# body, about 600,000 packets; a 3,000-byte body, about 840,000); or on the captures given.
# Needs root to make them.
#   sudo bench/inspect-vs-tshark.sh [runs] [capture ...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/connlab
runs=${1:-15}
captures=("${@:2}")
if [ ${#captures[@]} -eq 0 ]; then
  out=$(mktemp -d)
  "$bin" run bench/many-requests.toml --out "$out" | tail -n 12
  bench/nginx-ab-capture.sh "$out/nginx-ab.pcap"
  bench/nginx-ab-capture.sh "$out/nginx-ab-800k.pcap" 60000 3000
  captures=("$(ls "$out"/*.pcapng)" "$out/nginx-ab.pcap" "$out/nginx-ab-800k.pcap")
fi
for capture in "${captures[@]}"; do
  summary=$("$bin" inspect "$capture" --json | tail -n 1)
  figures=$(echo "$summary" | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["packets"], "frames,", s["connections"], "connections")')
  echo
  echo "capture: $capture ($figures, $(du -h "$capture" | cut -f1))"
  python3 bench/measure.py "$runs" \
    "connlab inspect" "$bin inspect $capture" \
    "tshark conv,tcp" "tshark -q -z conv,tcp -r $capture"
done
