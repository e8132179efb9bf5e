#!/usr/bin/env python3
"""Smoke test of the API proxy benchmark: bench/api_stream.py with short loads
and few streams, results read back from --json.

Not a performance test (no target is checked, only that each has a figure):
it fails when a streamed request stops working straight to the fake provider
or through awf-proxy's API listener (no request succeeds, a request fails, no
time to first byte), when the hold test cannot keep its streams open or
samples nothing, or when api_stream.py itself breaks, so the benchmark users
run by hand keeps working.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, or openssl missing; with
CI=true those fail instead).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "differential"))
import proxy_harness as harness  # noqa: E402

CONCURRENCY = (1, 8)
STREAMS = 50
LOADS = ("direct_ka", "direct_new", "proxy_ka", "proxy_new")


def check(results):
    problems = []
    for c in CONCURRENCY:
        per_load = results.get("latency", {}).get(str(c), {})
        for key in LOADS:
            m = per_load.get(key)
            if not m:
                problems.append(f"c={c} {key}: no result")
                continue
            if m.get("failed"):
                problems.append(f"c={c} {key}: {m['failed']}")
            if not m.get("requests"):
                problems.append(f"c={c} {key}: no request succeeded")
            if m.get("errors"):
                problems.append(f"c={c} {key}: {m['errors']} errors {m.get('errors_by_kind')}")
            ttfb, setup = m.get("latency_us", {}).get("p50"), m.get("latency_with_setup_us", {}).get("p50")
            if not ttfb or not setup or setup < ttfb:
                problems.append(f"c={c} {key}: time to first byte p50 {ttfb} us, with set-up {setup} us")
            if m.get("events", 0) < 2 * m.get("requests", 0):
                problems.append(f"c={c} {key}: {m.get('events')} events for {m.get('requests')} streams "
                                "(each is a first event and [DONE])")
    hold = results.get("hold") or {}
    load = hold.get("load", {})
    if load.get("streams_held") != STREAMS or load.get("errors") or load.get("failed"):
        problems.append(f"hold: held {load.get('streams_held')} of {STREAMS} streams, errors "
                        f"{load.get('errors')} {load.get('errors_by_kind')}, {load.get('failed')}")
    if load.get("events", 0) < STREAMS:
        problems.append(f"hold: {load.get('events')} events for {STREAMS} streams")
    if not hold.get("samples"):
        problems.append("hold: no RSS/fd sample taken while the streams were open")
    else:
        idle = hold["idle"]
        # Every open stream holds at least its client connection in the proxy.
        if hold["fds_first"] - idle["fds"] < STREAMS:
            problems.append(f"hold: {hold['fds_first']} fds with {STREAMS} streams open, {idle['fds']} idle")
        if not hold.get("rss_per_stream_kib") or hold["rss_per_stream_kib"] <= 0:
            problems.append(f"hold: RSS per stream {hold.get('rss_per_stream_kib')} KiB")
    if hold.get("proxy_exited") is not None:
        problems.append(f"hold: awf-proxy exited ({hold['proxy_exited']}) during the hold")
    rows = results.get("targets", [])
    if len(rows) != 4 or any(r.get("value") is None or r.get("pass") is None for r in rows):
        problems.append(f"targets: a figure or verdict is missing: {json.dumps(rows)}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--awf-proxy", required=True)
    ap.add_argument("--loadgen", required=True)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        return harness.skip_or_fail("needs root (the fake provider listens on port 443)", "API stream smoke test")
    if not shutil.which("openssl"):
        return harness.skip_or_fail("openssl is not installed (scripts/install-deps.sh installs it)",
                                    "API stream smoke test")

    with tempfile.TemporaryDirectory(prefix="awf-api-bench-smoke-") as d:
        out = os.path.join(d, "results.json")
        argv = [sys.executable, os.path.join(REPO, "bench", "api_stream.py"),
                "--awf-proxy", opts.awf_proxy, "--loadgen", opts.loadgen,
                "--rounds", "1", "--duration", "0.3", "--concurrency", ",".join(map(str, CONCURRENCY)),
                "--streams", str(STREAMS), "--hold-seconds", "2", "--hold-interval-ms", "100", "--json", out]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        print(r.stdout)
        if r.returncode != 0:
            print(f"FAIL: api_stream.py exited {r.returncode}\n{r.stderr}")
            return 1
        with open(out) as f:
            results = json.load(f)
    if "target" not in r.stdout or "TTFB" not in r.stdout:
        print("FAIL: api_stream.py printed no table")
        return 1
    problems = check(results)
    for p in problems:
        print(f"FAIL: {p}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
