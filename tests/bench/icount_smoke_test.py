#!/usr/bin/env python3
"""Smoke test of bench/icount.py: every load on a hundred requests through
one awf-proxy build under callgrind, figures read back from --json.

It fails when a request through the proxy under Valgrind fails, when a load
has no figure, or when a figure is not plausible for one request (below a
thousand instructions: the counter read nothing; above ten million: the
subtraction went wrong), so the tool users run by hand to compare builds keeps
working. No target is checked.

Exit codes: 0 pass, 1 fail, 77 skipped (valgrind missing, or binding port 80
refused for want of root; with CI=true those fail instead).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADS = ("denied", "forward_ka", "tunnel")


def skip(reason):
    if os.environ.get("CI") == "true":
        print(f"FAIL (CI=true, so not skipped): {reason}")
        return 1
    print(f"SKIP: {reason}")
    return 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--awf-proxy", required=True)
    ap.add_argument("--loadgen", required=True)
    opts = ap.parse_args()
    if not shutil.which("valgrind"):
        return skip("valgrind is not installed (apt-get install valgrind)")
    if os.geteuid() != 0:
        return skip("the origin listens on port 80, which needs root")
    work = tempfile.mkdtemp(prefix="awf-icount-smoke-")
    try:
        out = os.path.join(work, "icount.json")
        r = subprocess.run([sys.executable, os.path.join(REPO, "bench", "icount.py"), opts.awf_proxy,
                            "--loadgen", opts.loadgen, "--loads", ",".join(LOADS), "--n1", "50", "--n2", "150",
                            "--json", out], capture_output=True, text=True, timeout=280)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        if r.returncode != 0:
            print(f"FAIL: bench/icount.py exited {r.returncode}")
            return 1
        with open(out) as f:
            figures = json.load(f)["ir_per_request"]
        problems = []
        for load in LOADS:
            ir = figures.get(load, {}).get(opts.awf_proxy)
            if ir is None:
                problems.append(f"{load}: no figure")
            elif not 1_000 <= ir <= 10_000_000:
                problems.append(f"{load}: {ir:.0f} instructions per request is not plausible")
        if problems:
            print("FAIL: " + "; ".join(problems))
            return 1
        print("PASS")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
