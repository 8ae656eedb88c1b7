#!/usr/bin/env bash
# What WebSocket parsing costs `connlab inspect`: the same number of frames as keep-alive
# HTTP/1.1 (bench/many-requests.toml, 300,000 requests) and as WebSocket messages past the
# upgrade (bench/many-messages.toml, 16 WebSockets echoing 20,000 messages each), timed side
# by side (medians of interleaved runs, bench/measure.py); the figure is time per frame.
# Needs root to make the captures.
#   sudo bench/ws-inspect.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/connlab
runs=${1:-9}
out=$(mktemp -d)
"$bin" run bench/many-requests.toml --out "$out/http" | tail -n 2
"$bin" run bench/many-messages.toml --out "$out/ws" | tail -n 2
http=$(ls "$out"/http/*.pcapng)
ws=$(ls "$out"/ws/*.pcapng)
for capture in "$http" "$ws"; do
  "$bin" inspect "$capture" --json | tail -n 1 | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["packets"], "frames,", s["requests"], "requests,", s["websocket"]["messages"], "WebSocket messages")'
done
python3 bench/measure.py "$runs" \
  "inspect http" "$bin inspect $http" \
  "inspect websocket" "$bin inspect $ws"
rm -rf "$out"
