#!/usr/bin/env python3
"""CI version of the soak: bench/soak.py with reduced counts (1000 idle TLS
tunnels, 500 SSE streams held one minute, 200 WebSocket sessions), results read
back from its soak.json.

soak.py itself fails (exit 1) when a session failed (a tunnel closed or its
echo differs, an SSE event lost, out of order or late, a WebSocket echo wrong),
when awf-proxy's RSS or open descriptors end more than 10 % above the baseline,
when it leaves connections to the origin open, or when it exits. This wrapper
also checks that the run measured what it claims: every phase ran with the
counts asked for, a sample every second, and a PNG plot.

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

TUNNELS, STREAMS, WS_SESSIONS, WS_MESSAGES = 1000, 500, 200, 20
SSE_SECONDS = 60


def check(results, png):
    problems = []
    phases = results.get("phases", {})
    for name, wanted in (("tunnels", TUNNELS), ("sse", STREAMS), ("websocket", WS_SESSIONS)):
        ph = phases.get(name)
        if not ph:
            problems.append(f"{name}: the phase did not run")
            continue
        if ph.get("wanted") != wanted or ph.get("ok") != wanted:
            problems.append(f"{name}: {ph.get('ok')} of {ph.get('wanted')} passed (asked for {wanted})")
    sse = phases.get("sse", {})
    # One event a second per stream for a minute, give or take the opening.
    if sse.get("events", 0) < STREAMS * (SSE_SECONDS - 5):
        problems.append(f"sse: {sse.get('events')} events for {STREAMS} streams held {SSE_SECONDS} s")
    if phases.get("websocket", {}).get("messages") != WS_SESSIONS * WS_MESSAGES:
        problems.append(f"websocket: {phases.get('websocket', {}).get('messages')} messages echoed, "
                        f"{WS_SESSIONS * WS_MESSAGES} sent")
    samples = results.get("samples", [])
    if len(samples) < 0.8 * results.get("run_s", 0) - 10:
        problems.append(f"{len(samples)} RSS/fd samples in a {results.get('run_s')} s run")
    if not any(s["fds"] >= 2 * TUNNELS for s in samples):
        problems.append(f"no sample saw the {TUNNELS} tunnels' descriptors (max {max((s['fds'] for s in samples), default=None)})")
    for key in ("rss_kib_return_pct", "fds_return_pct"):
        if key not in results:
            problems.append(f"no {key} figure")
    try:
        with open(png, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                problems.append(f"{png} is not a PNG")
    except OSError as e:
        problems.append(f"no plot: {e}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--awf-proxy", required=True)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        return harness.skip_or_fail("needs root (the origins listen on ports 80 and 443)", "soak smoke test")
    if not shutil.which("openssl"):
        return harness.skip_or_fail("openssl is not installed (scripts/install-deps.sh installs it)",
                                    "soak smoke test")
    with tempfile.TemporaryDirectory(prefix="awf-soak-smoke-") as d:
        argv = [sys.executable, os.path.join(REPO, "bench", "soak.py"), "--awf-proxy", opts.awf_proxy,
                "--tunnels", str(TUNNELS), "--tunnel-hold-s", "2",
                "--streams", str(STREAMS), "--sse-duration-s", str(SSE_SECONDS),
                "--ws-sessions", str(WS_SESSIONS), "--ws-messages", str(WS_MESSAGES), "--ws-interval-ms", "0",
                "--settle-s", "12", "--out", d]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=240)
        print(r.stdout)
        if r.returncode != 0:
            print(f"FAIL: soak.py exited {r.returncode}\n{r.stderr[-4000:]}")
            return 1
        with open(os.path.join(d, "soak.json")) as f:
            results = json.load(f)
        problems = check(results, os.path.join(d, "soak.png"))
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
