#!/usr/bin/env bash
# The same traffic across connlab's wire (a lab with iperf3 as its actors) and across a plain
# veth pair between two namespaces, offloads off on both, interleaved, N runs each; prints the
# medians (Gbit/s, frames/s, capture drops) and the wire's ratio to plain veth.
#   sudo bench/wire-vs-veth.sh [runs]        (needs iperf3 and ethtool)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
python3 bench/wire_vs_veth.py target/release/connlab "${1:-3}"
