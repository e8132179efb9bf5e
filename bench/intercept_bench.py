#!/usr/bin/env python3
"""bench/intercept_bench.py: what a new intercepted TLS connection costs awf-proxy
(tls-intercept: ClientHello peek, SNI decision, resolve, connect, replay, relay)
next to a new CONNECT tunnel (forward listener: CONNECT, 200, relay), both
followed by the same TLS handshake and 1 KiB GET to nginx.

One client implementation drives both front ends, so the difference is the
proxy's: CPU = awf-proxy CPU time per connection (its process CPU clock, the
best of --rounds rounds), plus the client-side latency of a whole connection.
Loopback only: nginx on a per-run 127.x.y.2:443 (tests/differential's harness),
names mapped there by a hosts file. Needs root (port 443), nginx and openssl.
"""

import argparse
import os
import socket
import ssl
import statistics
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "differential"))
import proxy_harness as harness  # noqa: E402

ORIGIN = "origin.bench.test"


def one_connection(mode, proxy_port, tls_port, ctx):
    """A new connection through the proxy, a TLS handshake with SNI=ORIGIN and
    GET /1k; returns the seconds it took or raises."""
    start = time.perf_counter()
    if mode == "connect":
        raw = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
        raw.sendall(f"CONNECT {ORIGIN}:443 HTTP/1.1\r\nHost: {ORIGIN}:443\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(4096)
            if not chunk:
                raise RuntimeError("proxy closed during CONNECT")
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
    else:
        raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=ORIGIN) as tls:
        tls.sendall(f"GET /1k HTTP/1.1\r\nHost: {ORIGIN}\r\nConnection: close\r\n\r\n".encode())
        body = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            body += chunk
        if not body.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("bad response")
    return time.perf_counter() - start


def drive(mode, proxy, tls_port, duration, concurrency):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    latencies, errors = [], []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker():
        while time.monotonic() < stop_at:
            try:
                took = one_connection(mode, proxy.port, tls_port, ctx)
                with lock:
                    latencies.append(took)
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(str(e))

    before = harness.read_proc_cpu_ns(proxy.pid)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)  # let the proxy finish closing and logging
    after = harness.read_proc_cpu_ns(proxy.pid)
    n = len(latencies)
    return {
        "connections": n,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "cpu_per_conn_us": (after - before) / 1e3 / n if n else None,
        "p50_ms": statistics.median(latencies) * 1e3 if n else None,
        "p99_ms": sorted(latencies)[int(0.99 * (n - 1))] * 1e3 if n else None,
        "rate": n / duration,
    }


def tls_intercept_port(out_path):
    for line in open(out_path, encoding="utf-8", errors="replace"):
        if "(tls-intercept)" in line:
            return int(line.split("(tls-intercept)")[0].strip().rsplit(":", 1)[1])
    raise RuntimeError("awf-proxy printed no tls-intercept listener")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--awf-proxy", default=os.path.join(REPO, "build-bench", "bin", "awf-proxy"))
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per load and round (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per load; the least CPU per connection is kept")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--keep-temp", action="store_true")
    opts = ap.parse_args()
    if not os.access(opts.awf_proxy, os.X_OK):
        sys.exit(f"intercept_bench.py: awf-proxy not found at {opts.awf_proxy} (--awf-proxy)")

    tb = harness.Testbed(prefix="awf-icpt-bench-")
    best = {}
    try:
        tb.write_hosts({ORIGIN: tb.origin_ip})
        tb.start_origin({"/1k": 1024})
        proxy = tb.start_awf_proxy(opts.awf_proxy, harness.Policy(allow=[ORIGIN]),
                                   extra=["--listen-tls-intercept", "127.0.0.1:0", "--threads", "1",
                                          "--log-level", "warn"])
        tls_port = tls_intercept_port(os.path.join(tb.root, "awf-proxy.out"))
        for r in range(opts.rounds):
            order = ["intercept", "connect"] if r % 2 == 0 else ["connect", "intercept"]
            for mode in order:
                res = drive(mode, proxy, tls_port, opts.duration, opts.concurrency)
                if res["errors"] and not res["connections"]:
                    sys.exit(f"intercept_bench.py: {mode}: every connection failed: {res['first_error']}")
                if mode not in best or (res["cpu_per_conn_us"] or 1e18) < (best[mode]["cpu_per_conn_us"] or 1e18):
                    best[mode] = res
    finally:
        tb.close(keep=opts.keep_temp)
        if opts.keep_temp:
            print(f"temp dir kept: {tb.root}", file=sys.stderr)

    i, c = best["intercept"], best["connect"]
    print(f"new TLS connection + 1 KiB GET, {opts.rounds} rounds x {opts.duration:g} s, concurrency "
          f"{opts.concurrency}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'front end':<26} | {'proxy CPU us/conn':>17} | {'conn/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
    for name, res in (("tls-intercept (SNI peek)", i), ("forward CONNECT", c)):
        print(f"{name:<26} | {res['cpu_per_conn_us']:>17.1f} | {res['rate']:>7.0f} | {res['p50_ms']:>7.2f} | "
              f"{res['p99_ms']:>7.2f} | {res['errors']}")
    print(f"intercept/CONNECT CPU ratio: {i['cpu_per_conn_us'] / c['cpu_per_conn_us']:.2f}")


if __name__ == "__main__":
    main()
