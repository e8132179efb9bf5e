#!/usr/bin/env python3
"""Smoke test of the benchmark pipeline: bench/compare.py with short loads,
Squid, awf-proxy and awf-floor all measured (and awf-floor-uring where io_uring
works on the host), and the bumped TLS load through
awf-proxy and (with Squid's OpenSSL build) Squid, results read back from --json.

Not a performance test (timings are not checked): it fails when a load stops
working through any of the three (no request succeeds, a request fails, no
CPU time is seen), when the idle-tunnel load cannot hold its tunnels, when a
client trusting only the per-run CA cannot get through a bumping proxy, or when
compare.py itself breaks, so the comparison users run by hand keeps working.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, or squid/nginx missing;
with CI=true those fail instead).
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


# Two concurrency levels, as compare.py's own default runs, kept small.
LEVELS = (4, 32)

def skip_or_fail(reason):
    return harness.skip_or_fail(reason, "benchmark smoke test")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--awf-proxy", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--floor-uring", help="awf-floor-uring, measured too where io_uring works here")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        return skip_or_fail("needs root (the origin listens on ports 80 and 443)")
    for tool in ("squid", "nginx", "openssl"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return skip_or_fail(f"{tool} is not installed (scripts/install-deps.sh installs it)")

    # The io_uring floor is a benchmark, not a part of awf: where io_uring is
    # unavailable (a container's seccomp profile, kernel.io_uring_disabled)
    # it is left out with a note, not failed.
    uring = ["--no-floor-uring"]
    if opts.floor_uring:
        check = subprocess.run([opts.floor_uring, "--check"], capture_output=True, text=True, timeout=10)
        if check.returncode == 0:
            uring = ["--floor-uring", opts.floor_uring]
        else:
            print(f"note: awf-floor-uring left out: {check.stderr.strip()}")

    tunnels = 200
    with tempfile.TemporaryDirectory(prefix="awf-bench-smoke-") as d:
        out = os.path.join(d, "results.json")
        argv = [sys.executable, os.path.join(REPO, "bench", "compare.py"),
                "--awf-proxy", opts.awf_proxy, "--loadgen", opts.loadgen, "--floor", opts.floor,
                "--rounds", "1", "--duration", "0.5", "--bulk-count", "1", "--idle-tunnels", str(tunnels),
                "--concurrency", ",".join(map(str, LEVELS)), *uring,
                "--json", out]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=240)
        print(r.stdout)
        if r.returncode != 0:
            print(f"FAIL: compare.py exited {r.returncode}\n{r.stderr}")
            return 1
        with open(out) as f:
            results = json.load(f)

    problems = []
    # Every load at each level (results keyed "load@concurrency"), bulk once.
    loads = [f"{key}@{c}" for c in LEVELS for key in ("forward_ka", "forward_new", "tunnel_tls", "denied")]
    loads.append("bulk")
    for kind in ("squid", "awf-proxy", "floor") + (("floor-uring",) if "--floor-uring" in uring else ()):
        side = results.get(kind)
        if not side:
            problems.append(f"{kind}: not measured")
            continue
        for key in loads:
            m = side["loads"].get(key)
            if not m:
                problems.append(f"{kind} {key}: no result")
                continue
            if m.get("failed"):
                problems.append(f"{kind} {key}: {m['failed']}")
            if not m.get("requests"):
                problems.append(f"{kind} {key}: no request succeeded")
            if m.get("errors"):
                problems.append(f"{kind} {key}: {m['errors']} errors {m.get('errors_by_kind')}")
            if not m.get("cpu_per_unit_us") or m["cpu_per_unit_us"] <= 0:
                problems.append(f"{kind} {key}: no CPU time measured")
        if kind not in ("floor", "floor-uring"):
            idle = side.get("idle", {})
            if idle.get("tunnels_held") != tunnels or not idle.get("rss_held_kib"):
                problems.append(f"{kind} idle: held {idle.get('tunnels_held')} of {tunnels} tunnels, "
                                f"RSS {idle.get('rss_held_kib')}")
            if not side.get("log_lines"):
                problems.append(f"{kind}: wrote no access.log line")
    # The bumped load: awf-proxy always, Squid where its build can bump.
    bumpers = ["awf-bump"]
    if os.access("/usr/lib/squid/security_file_certgen", os.X_OK):
        bumpers.append("squid-bump")
    for kind in bumpers:
        side = results.get(kind)
        if not side:
            problems.append(f"{kind}: not measured")
            continue
        if side.get("bump_check") != "ok":
            problems.append(f"{kind}: verified request through it: {side.get('bump_check')}")
        m = side["loads"].get("tunnel_tls_bumped") or {}
        if m.get("failed") or not m.get("requests") or m.get("errors"):
            problems.append(f"{kind} tunnel_tls_bumped: {m.get('requests')} requests, {m.get('errors')} errors "
                            f"{m.get('errors_by_kind')} {m.get('failed') or ''}")
    for p in problems:
        print(f"FAIL: {p}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
