#!/usr/bin/env bash
# Runs every embedded lab once (needs root) and prints its key figures as a Markdown table.
#   sudo bench/catalogue-figures.sh [connlab binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/connlab}
[ -x "$bin" ] || cargo build --release --quiet
out=$(mktemp -d)
echo "| lab | pass | conns | reqs | reused | first FIN c/s | RST c/s | TIME_WAIT wire c/s | kernel TW c/s | probes | retrans | client ok/failed | elapsed | findings |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for lab in $("$bin" list | awk '{print $1}'); do
  line=$("$bin" run "$lab" --json-summary --out "$out" | tail -n 1 || true)
  python3 - "$lab" "$line" <<'PY'
import json, sys
lab, line = sys.argv[1], sys.argv[2]
try:
    s = json.loads(line)["summary"]
except Exception:
    print(f"| {lab} | error | | | | | | | | | | | | |"); sys.exit()
ok = all(e["pass"] for e in s["expectations"])
bs = lambda k: f'{s[k]["client"]}/{s[k]["server"]}'
c = s.get("client")  # absent for an external client
client = f'{c["ok"]}/{c["failed"]}' if c else "-"
elapsed = f'{c["elapsed_ns"]/1e9:.2f} s' if c else "-"
found = ", ".join(f'{f["kind"]} ({f["connections"]})' for f in s["findings"]) or "none"
print(f'| {lab} | {"yes" if ok else "NO"} | {s["connections"]} | {s["requests"]} | {s["reused"]} | {bs("fin_first_by")} | {bs("rst_by")} | {bs("time_wait")} | {bs("kernel_time_wait")} | {s["keepalive_probes"]} | {s["retransmits"]} | {client} | {elapsed} | {found} |')
PY
done
