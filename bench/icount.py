#!/usr/bin/env python3
"""User-space instructions per request of one or more awf-proxy builds, under
Valgrind's callgrind: a measure that does not move with the machine's load, for
comparing two builds where timings on a shared 2-core machine cannot tell a
few percent apart.

Each build runs each load twice, with N1 and N2 requests (one fresh proxy per
run); (Ir(N2) - Ir(N1)) / (N2 - N1) is what one more request costs, start-up
and shutdown cancelled out. Kernel work is not counted (callgrind sees user
space only): compare the system calls per request with strace -c -f when a
change could alter them.

  bench/icount.py build/bin/awf-proxy                      one build
  bench/icount.py /tmp/old/awf-proxy build/bin/awf-proxy   old first: deltas against it
  bench/icount.py --loads denied --n1 200 --n2 1200 A B

Loads (loopback only: an origin this script serves on 127.77.x.y:80, names
from its own hosts file):
  denied      CONNECT denied.test:443, answered 403 (awf-loadgen connect-only)
  forward_ka  GET http://allowed.test/1k through one kept-alive connection per client
  tunnel      a new CONNECT allowed.test:80 per request, then GET /1k inside it

Exit status 1 when a run fails (a request errors, the proxy does not start).
"""

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b"x" * 1024
# One write per answer: a head and body in two segments would meet the
# client's delayed ACK and make every request wait 40 ms.
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" + BODY

SETTLE_S = 1.5  # seconds between "ready" and the load (see run_once)

LOADS = {
    "denied": ["--mode", "connect-only", "--target", "denied.test:443", "--expect-status", "403"],
    "forward_ka": ["--mode", "forward", "-k", "--target", "allowed.test:80", "--path", "/1k"],
    "tunnel": ["--mode", "tunnel-http", "--target", "allowed.test:80", "--path", "/1k"],
}


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (the handler's name is the method's)
        self.wfile.write(RESPONSE)

    def log_message(self, *args):
        pass


def start_origin():
    """The origin on a loopback address of its own (port 80 is what the
    default policy lets through), tried until one is free."""
    for _ in range(50):
        ip = f"127.77.{random.randint(1, 254)}.{random.randint(1, 254)}"
        try:
            server = ThreadingHTTPServer((ip, 80), Origin)
        except OSError:
            continue
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, ip
    raise RuntimeError("no free 127.77.x.y:80 for the origin")


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"{path}: no summary line")


def run_once(opts, binary, load, n, work):
    """Total Ir of one proxy run serving n requests of the load."""
    run_dir = tempfile.mkdtemp(dir=work)
    out_file = os.path.join(run_dir, "callgrind.out")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", binary,
            "--listen", "127.0.0.1:0", "--allow-domains", "allowed.test",
            "--allow-private-ranges", "127.0.0.0/8",
            "--hosts-file", os.path.join(work, "hosts"), "--dns-servers", "127.0.0.1:1",
            "--log-dir", os.path.join(run_dir, "logs"), "--log-level", "warn", "--threads", "1"]
    stderr_path = os.path.join(run_dir, "stderr")
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(argv, stdout=err, stderr=subprocess.STDOUT)
    try:
        port, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            text = open(stderr_path).read()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            if m and "awf-proxy: ready" in text:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if port is None:
            raise RuntimeError(f"{binary} did not start:\n{open(stderr_path).read()[-2000:]}")
        # Let the work a proxy does once, shortly after start-up (records made
        # ahead for descriptors, 200 ms in), happen before the load in every
        # run: else a short run may end before it and a long one not, and the
        # difference is no longer the requests'.
        time.sleep(SETTLE_S)
        lg = subprocess.run([opts.loadgen, "--proxy", f"127.0.0.1:{port}", *LOADS[load], "-c", "2",
                             "-n", str(n), "-d", "300", "--json"], capture_output=True, text=True, timeout=600)
        result = json.loads(lg.stdout.strip().splitlines()[-1])
        if result["requests"] != n or result["errors"]:
            raise RuntimeError(f"{load} through {binary}: {result['requests']} of {n} requests, "
                               f"errors {result.get('errors_by_kind')}")
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=120)
    ir = total_ir(out_file)
    shutil.rmtree(run_dir, ignore_errors=True)
    return ir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", help="awf-proxy builds; the first is the reference")
    default_build = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin")
    ap.add_argument("--loadgen", default=os.path.join(default_build, "awf-loadgen"))
    ap.add_argument("--loads", default="denied,forward_ka,tunnel",
                    help="comma list of " + ", ".join(LOADS))
    ap.add_argument("--n1", type=int, default=300)
    ap.add_argument("--n2", type=int, default=1300)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    opts = ap.parse_args()
    loads = opts.loads.split(",")
    for load in loads:
        if load not in LOADS:
            ap.error(f"unknown load '{load}' (known: {', '.join(LOADS)})")
    if opts.n2 <= opts.n1 or opts.n1 < 1:
        ap.error(f"--n2 ({opts.n2}) must exceed --n1 ({opts.n1}), which must be at least 1")
    for tool in [shutil.which("valgrind"), opts.loadgen, *opts.binaries]:
        if not tool or not os.access(tool, os.X_OK):
            ap.error(f"not executable: {tool or 'valgrind (apt-get install valgrind)'}")

    origin, origin_ip = start_origin()
    work = tempfile.mkdtemp(prefix="awf-icount-")
    with open(os.path.join(work, "hosts"), "w") as f:
        f.write(f"{origin_ip} allowed.test\n127.77.0.1 denied.test\n")
    figures = {}
    try:
        for load in loads:
            for binary in opts.binaries:
                a = run_once(opts, binary, load, opts.n1, work)
                b = run_once(opts, binary, load, opts.n2, work)
                figures.setdefault(load, {})[binary] = (b - a) / (opts.n2 - opts.n1)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
        print(f"icount: {e}", file=sys.stderr)
        return 1
    finally:
        origin.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    ref = opts.binaries[0]
    print(f"user-space instructions per request (callgrind, {opts.n2} - {opts.n1} requests, 2 clients)")
    for load in loads:
        for binary in opts.binaries:
            ir = figures[load][binary]
            delta = "" if binary == ref else f"  {100 * (ir / figures[load][ref] - 1):+.1f}% vs first"
            print(f"  {load:<11} {ir:>10.0f}  {binary}{delta}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"n1": opts.n1, "n2": opts.n2, "ir_per_request": figures}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
