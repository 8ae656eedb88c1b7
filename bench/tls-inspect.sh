#!/usr/bin/env bash
# Times `connlab inspect` on the same keep-alive traffic in clear and over TLS (decrypted with
# the keys its capture carries), and tshark decrypting the TLS capture with the same keys (it
# reads them from the capture's Decryption Secrets Blocks too): two
# captures of bench/many-requests.toml (300,000 requests, over 600,000 frames), the second with
# `--set server.tls=true --set client.tls=true`. Medians of interleaved runs (bench/measure.py).
# Needs root to make the captures.
#   sudo bench/tls-inspect.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/connlab
runs=${1:-9}
out=$(mktemp -d)
"$bin" run bench/many-requests.toml --out "$out/clear" | tail -n 3
"$bin" run bench/many-requests.toml --set server.tls=true --set client.tls=true \
  --out "$out/tls" | tail -n 3
clear=$(ls "$out"/clear/*.pcapng)
tls=$(ls "$out"/tls/*.pcapng)
for capture in "$clear" "$tls"; do
  summary=$("$bin" inspect "$capture" --json | tail -n 1)
  echo "$(basename "$capture"): $(echo "$summary" | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["packets"], "frames,", s["requests"], "requests,", s["tls"]["decrypted"], "decrypted connections")') $(du -h "$capture" | cut -f1)"
done
python3 bench/measure.py "$runs" \
  "inspect clear" "$bin inspect $clear" \
  "inspect tls" "$bin inspect $tls" \
  "tshark tls+http" "tshark -r $tls -q -z http,tree"
rm -rf "$out"
