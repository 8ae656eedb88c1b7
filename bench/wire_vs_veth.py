#!/usr/bin/env python3
"""bench/wire-vs-veth.sh's work: run iperf3 bulk TCP and small-frame UDP loads through
connlab's wire (bench/labs/wire-*.toml) and through a plain veth pair made here with iproute2
(same addresses, offloads off), interleaved; print medians and ratios.
Usage: wire_vs_veth.py CONNLAB RUNS"""
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

# bulk: one TCP stream; small: 18-byte datagrams (60-byte frames) paced at about 600,000 a
# second; flood: the same, as fast as iperf3 sends them.
LOADS = {
    "bulk": ["-t", "4"],
    "small": ["-u", "-l", "18", "-b", "88M", "-t", "4"],
    "flood": ["-u", "-l", "18", "-b", "0", "-t", "4"],
}
OFFLOADS = ["tx", "off", "sg", "off", "tso", "off", "gso", "off", "gro", "off"]


def sh(*args, ns=None, check=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def iperf_figures(report, load):
    """(Gbit/s, datagrams or segments delivered per second) from iperf3's JSON."""
    end = report["end"]
    if load == "bulk":
        return end["sum_received"]["bits_per_second"] / 1e9, None
    s = end["sum"]
    delivered = s["packets"] - s["lost_packets"]
    return s["bits_per_second"] / 1e9, delivered / s["seconds"]


class Veth:
    """Two namespaces joined by one veth pair, as plain as the kernel makes it."""

    def __init__(self):
        self.a, self.b = f"connlab-bench-{os.getpid()}-a", f"connlab-bench-{os.getpid()}-b"

    def __enter__(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", self.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
           "netns", self.b)
        for ns, addr in ((self.a, "198.18.0.1/24"), (self.b, "198.18.0.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ethtool", "-K", "eth0", *OFFLOADS, ns=ns, check=False)
        return self

    def __exit__(self, *_):
        for ns in (self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)

    def packets(self):
        stats = json.loads(sh("ip", "-s", "-j", "link", "show", "eth0", ns=self.b))
        return stats[0]["stats64"]["rx"]["packets"]

    def run(self, load):
        server = subprocess.Popen(["ip", "netns", "exec", self.b, "iperf3", "-s", "-1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["sleep", "0.3"])
        before = self.packets()
        out = sh("iperf3", "-c", "198.18.0.2", "-J", *LOADS[load], ns=self.a)
        server.wait(timeout=10)
        report = json.loads(out)
        gbit, delivered = iperf_figures(report, load)
        seconds = report["end"]["sum_received" if load == "bulk" else "sum"]["seconds"]
        # Frames one way (what crossed to the server); the wire counts both ways.
        fps = (self.packets() - before) / seconds
        return {"gbit": gbit, "fps": fps, "delivered": delivered, "drops": 0}


def wire(connlab, load, out):
    lab = f"bench/labs/wire-{'bulk' if load == 'bulk' else 'small'}.toml"
    rate = LOADS[load][LOADS[load].index("-b") + 1] if "-b" in LOADS[load] else None
    pace = ["--set", f"exec_client.command=['sh', '-c', 'iperf3 -c $CONNLAB_SERVER_ADDR "
            f"{' '.join(LOADS[load])} -J']"] if rate else []
    res = subprocess.run([connlab, "run", lab, "--out", out, "--json-summary", *pace],
                         capture_output=True, text=True)
    summary = json.loads(res.stdout.strip().splitlines()[-1])["summary"]
    stdout = [e["stdout"] for e in summary["exec"] if e["side"] == "client"][0]
    report = json.load(open(stdout))
    gbit, delivered = iperf_figures(report, load)
    w = summary["wire"]
    return {"gbit": gbit, "fps": w["frames_per_second"], "delivered": delivered,
            "drops": summary["dropped"]}


def main():
    connlab, runs = sys.argv[1], int(sys.argv[2])
    out = tempfile.mkdtemp(prefix="connlab-wire-bench-")
    results = {(path, load): [] for path in ("veth", "wire") for load in LOADS}
    with Veth() as veth:
        for _ in range(runs):
            for load in LOADS:  # interleaved, so machine noise hits both alike
                results[("veth", load)].append(veth.run(load))
                results[("wire", load)].append(wire(connlab, load, out))
    med = lambda rows, key: statistics.median(r[key] for r in rows if r[key] is not None)
    print(f"{'load':<7}{'path':<6}{'Gbit/s':>9}{'frames/s':>12}{'delivered/s':>13}"
          f"{'capture drops':>15}")
    for load in LOADS:
        for path in ("veth", "wire"):
            rows = results[(path, load)]
            delivered = med(rows, "delivered") if rows[0]["delivered"] is not None else 0
            print(f"{load:<7}{path:<6}{med(rows, 'gbit'):>9.2f}{med(rows, 'fps'):>12.0f}"
                  f"{delivered:>13.0f}{med(rows, 'drops'):>15.0f}")
    ratio = lambda load, key: med(results[("wire", load)], key) / med(results[("veth", load)], key)
    print(f"\nwire / veth: bulk goodput {ratio('bulk', 'gbit'):.0%}; small frames forwarded "
          f"{ratio('small', 'fps'):.0%} (paced), {ratio('flood', 'fps'):.0%} (flood)")
    print(f"medians of {runs} interleaved runs; frames/s: the wire counts what it forwarded, "
          f"veth what its receiver got; delivered/s: datagrams iperf3's server read (2 cores "
          f"shared by sender, receiver and path); captures in {out}")


if __name__ == "__main__":
    main()
