#!/usr/bin/env python3
"""Start-up overhead of awf (target: at most 50 ms added).

Measures, over N runs each, on loopback only:
  1. `true` alone vs `awf --allow-domains x -- true`
  2. one curl to a local origin vs the same curl through awf (forward proxy)
A loopback DNS server (dnsmasq, knowing only the origin's name) is the
proxy's only resolver. Needs root (namespaces). Prints a table in ms.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGIN_IP = "127.0.92.10"
DNS_IP = "127.0.92.53"


def timed(argv, runs, env=None):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            sys.exit(f"startup.py: {' '.join(argv)} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("startup.py: run as root (network namespaces, ports 53/80 on loopback)")
    awf = os.path.join(args.bin_dir, "awf")
    work = tempfile.mkdtemp(prefix="awf-startup-")
    procs = []
    try:
        with open(os.path.join(work, "index.html"), "w") as f:
            f.write("x" * 1024)
        procs.append(subprocess.Popen([sys.executable, "-m", "http.server", "80", "--bind", ORIGIN_IP,
                                       "--directory", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                                       "--no-hosts", "--no-poll", f"--listen-address={DNS_IP}", "--bind-interfaces",
                                       "--port=53", f"--pid-file={work}/dnsmasq.pid",
                                       f"--address=/origin.bench.test/{ORIGIN_IP}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        base = [awf, "--dns-servers", DNS_IP, "--allow-private-ranges", "127.0.92.0/24",
                "--proxy-logs-dir", os.path.join(work, "logs"), "--allow-domains", "origin.bench.test", "--"]
        curl = ["curl", "-sf", "-o", "/dev/null", f"http://origin.bench.test/"]
        rows = [
            ("true", timed(["true"], args.runs)),
            ("awf -- true", timed(base + ["true"], args.runs)),
            ("curl (direct, --resolve)", timed(curl[:-1] + ["--resolve", f"origin.bench.test:80:{ORIGIN_IP}",
                                                            curl[-1]], args.runs)),
            ("awf -- curl (via proxy)", timed(base + curl, args.runs)),
        ]
        print(f"{'command':28} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
        for name, s in rows:
            s = sorted(s)
            print(f"{name:28} {statistics.median(s):10.1f} {s[int(len(s) * 0.9) - 1]:8.1f} {s[0]:8.1f}")
        added_true = statistics.median(rows[1][1]) - statistics.median(rows[0][1])
        added_curl = statistics.median(rows[3][1]) - statistics.median(rows[2][1])
        print(f"\nadded by awf: {added_true:.1f} ms (true), {added_curl:.1f} ms (curl); target <= 50 ms")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
