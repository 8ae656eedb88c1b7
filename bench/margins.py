#!/usr/bin/env python3
"""Margins of the labs' bounded expectations, idle vs loaded: for every expectation written as
a range (`lo..hi`) or a comparison (`>= n`, `< n`), how far the run's figure sits from the
bound it could cross, as a share of the figure (or of the bound, when the figure is 0).
Usage: margins.py IDLE.jsonl LOADED.jsonl (one `{"summary": ...}` line per lab run)."""
import json
import re
import sys


def load(path):
    runs = {}
    for line in open(path):
        try:
            s = json.loads(line)["summary"]
        except (ValueError, KeyError):
            continue
        runs[s["lab"]] = s
    return runs


def margin(want, got):
    """Distance from `got` to the nearest bound of `want`, relative; None when exact."""
    if not isinstance(got, (int, float)):
        return None
    m = re.fullmatch(r"in ([-\d.e+]+)\.\.([-\d.e+]+)", want) or re.fullmatch(r"([-\d.e+]+)\.\.([-\d.e+]+)", want)
    if m:
        bounds = [float(m.group(1)), float(m.group(2))]
    else:
        m = re.fullmatch(r"(>=|<=|>|<) ([-\d.e+]+)", want)
        if not m:
            return None
        bounds = [float(m.group(2))]
    scale = abs(got) or max(abs(b) for b in bounds) or 1.0
    return min(abs(got - b) for b in bounds) / scale


def main():
    idle, loaded = load(sys.argv[1]), load(sys.argv[2])
    print(f"{'lab':<34}{'expectation':<42}{'idle got':>14}{'margin':>8}{'loaded got':>14}{'margin':>8}  pass idle/loaded")
    for lab in sorted(idle):
        i, l = idle[lab], loaded.get(lab, {})
        by_name = {e["name"]: e for e in l.get("expectations", [])}
        for e in i["expectations"]:
            le = by_name.get(e["name"], {})
            mi, ml = margin(e["want"], e["got"]), margin(e["want"], le.get("got"))
            if mi is None and ml is None and e["pass"] and le.get("pass", True):
                continue  # exact counts that held: no margin to speak of
            fmt = lambda m: "-" if m is None else f"{m:.0%}"
            print(f"{lab:<34}{e['name'] + ' ' + e['want']:<42}{str(e['got']):>14}{fmt(mi):>8}"
                  f"{str(le.get('got', '-')):>14}{fmt(ml):>8}  {e['pass']}/{le.get('pass', '-')}")
    failed = [lab for lab, s in loaded.items() if not all(e["pass"] for e in s["expectations"])]
    print(f"\n{len(idle)} labs idle, {len(loaded)} loaded; failed under load: {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main()
