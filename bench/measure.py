#!/usr/bin/env python3
"""Runs commands side by side, interleaved, N times each; prints median wall time, median peak
RSS and the ratio to the first command. Usage: measure.py RUNS NAME CMD [NAME CMD ...]"""
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time


def once(cmd):
    start = time.perf_counter()
    # Run directly, not through a shell: the shell's own start-up is not the command's time.
    pid = subprocess.Popen(shlex.split(cmd), stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"command failed ({status}): {cmd}")
    return wall, usage.ru_maxrss / 1024  # MiB


def main():
    runs = int(sys.argv[1])
    pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
    results = {name: [] for name, _ in pairs}
    for _ in range(runs):
        for name, cmd in pairs:  # interleaved, so machine noise hits both alike
            results[name].append(once(cmd))
    base = statistics.median(w for w, _ in results[pairs[0][0]])
    print(f"{'command':<18}{'median s':>10}{'min s':>9}{'max s':>9}{'peak MiB':>10}{'vs first':>10}")
    for name, _ in pairs:
        walls = [w for w, _ in results[name]]
        rss = statistics.median(r for _, r in results[name])
        med = statistics.median(walls)
        print(f"{name:<18}{med:>10.3f}{min(walls):>9.3f}{max(walls):>9.3f}{rss:>10.1f}{med / base:>9.1f}x")


if __name__ == "__main__":
    main()
