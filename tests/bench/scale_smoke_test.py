#!/usr/bin/env python3
"""Smoke test of bench/scale.py: awf-proxy and awf-floor at 1 and 2 threads,
two short loads, results read back from --json and the plot written.

Not a performance test: it fails when a load gets no successful request
through a proxy at some thread count, when the JSON lacks a figure, or when
the plot is not written, so the scaling benchmark users run by hand (and on
larger machines) keeps working. Squid is left out here (bench.compare_smoke
covers it); its SMP mode is exercised by hand runs.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, nginx or matplotlib
missing; with CI=true those fail instead).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "differential"))
import proxy_harness as harness  # noqa: E402

LOADS = ("forward_ka", "denied")
THREADS = (1, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--awf-proxy", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--floor", required=True)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        return harness.skip_or_fail("needs root (the origin listens on port 80)", "scale smoke test")
    if not os.path.exists(harness.NGINX_BIN):
        return harness.skip_or_fail("nginx is not installed (scripts/install-deps.sh installs it)", "scale smoke test")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return harness.skip_or_fail("python3-matplotlib is not installed", "scale smoke test")
    with tempfile.TemporaryDirectory(prefix="awf-scale-smoke-") as d:
        out, png = os.path.join(d, "scale.json"), os.path.join(d, "scale.png")
        r = subprocess.run([sys.executable, os.path.join(REPO, "bench", "scale.py"), "--awf-proxy", opts.awf_proxy,
                            "--loadgen", opts.loadgen, "--floor", opts.floor, "--proxies", "awf-proxy,floor",
                            "--threads", ",".join(map(str, THREADS)), "--loads", ",".join(LOADS),
                            "--concurrency", "16", "--duration", "0.4", "--rounds", "1", "--json", out, "--png", png],
                           capture_output=True, text=True, timeout=240)
        print(r.stdout)
        if r.returncode != 0:
            print(f"FAIL: scale.py exited {r.returncode}\n{r.stderr[-3000:]}")
            return 1
        with open(out) as f:
            doc = json.load(f)
        problems = []
        for kind in ("awf-proxy", "floor"):
            for t in THREADS:
                per_load = doc["results"].get(kind, {}).get(str(t), {})
                for key in LOADS:
                    m = per_load.get(key) or {}
                    if not m.get("requests") or m.get("errors") or not m.get("cpu_per_request_us"):
                        problems.append(f"{kind} threads={t} {key}: {m}")
        if not os.path.getsize(png):
            problems.append("empty plot")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
