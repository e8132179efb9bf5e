#!/usr/bin/env python3
"""Start-up overhead of awf (target: `awf -- true` at most 25 ms median).

Measures, over N runs each, on loopback only:
  1. `true` alone vs `awf --allow-domains x -- true`
  2. one curl to a local origin vs the same curl through awf (forward proxy)
  3. the phases of `awf -- true`: the same command with AWF_TRACE_STARTUP set
     to the monotonic clock just before the spawn, so every line awf,
     awf-proxy and awf-entrypoint print is in microseconds since then; per
     phase the median time it is reached and the median time since the
     phase before it (the slowest process' path: phases of processes that
     run side by side overlap).
Runs are interleaved (plain, traced, and with --compare-bin-dir the other
build's plain and traced) so that a load change on a shared machine touches
both builds alike. A loopback DNS server (dnsmasq, knowing only the origin's
name) is the proxy's only resolver. Needs root (namespaces). Prints tables in
ms; --json FILE writes every sample, the phase medians and the load average.
"""
import argparse
import json
import os
import re
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
TRACE = re.compile(r"^awf-trace: (-?\d+) (\S+) (.+)$")


def run_once(argv, env=None, trace=False, cwd=None):
    """Wall ms of one run; with `trace`, also {phase: µs since the spawn}."""
    if trace:
        env = dict(env or os.environ)
    t0 = time.perf_counter()
    if trace:
        env["AWF_TRACE_STARTUP"] = str(time.monotonic_ns() // 1000)  # CLOCK_MONOTONIC, as awf reads it
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    wall = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        sys.exit(f"startup.py: {' '.join(argv)} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    marks = {}
    if trace:
        for line in r.stderr.decode(errors="replace").splitlines():
            m = TRACE.match(line)
            if m:
                marks.setdefault(f"{m.group(2)}: {m.group(3)}", int(m.group(1)))
        marks["(process ended)"] = int(wall * 1000)
    return wall, marks


def summary(samples):
    s = sorted(samples)
    return {"median": statistics.median(s), "p90": s[max(0, int(len(s) * 0.9) - 1)], "min": s[0], "samples": s}


def phase_table(traces):
    """[(phase, median µs reached, median µs since the previous phase)] in order of the median."""
    names = {}
    for t in traces:
        for name in t:
            names.setdefault(name, []).append(t[name])
    order = sorted(names, key=lambda n: statistics.median(names[n]))
    rows = []
    for i, name in enumerate(order):
        at = statistics.median(names[name])
        if i == 0:
            step = at
        else:
            prev = order[i - 1]
            steps = [t[name] - t[prev] for t in traces if name in t and prev in t]
            step = statistics.median(steps) if steps else float("nan")
        rows.append((name, at, step))
    return rows


# The start-up in stages: (what, from marks, to marks); the first mark of a
# list that a run has counts (builds differ in their marks). None: the spawn.
STAGES = [
    ("spawn -> awf main (exec, dynamic linking)", None, ["awf: main"]),
    ("awf: options, config, directories, plan", ["awf: main"], ["awf: clone"]),
    ("clone -> listeners (netns, lo, routes)", ["awf: clone"], ["awf: listeners received"]),
    ("agent: nftables ruleset", ["awf: agent: listeners sent"], ["awf: agent: ruleset applied"]),
    ("proxy: fork, exec, dynamic linking", ["awf: proxy started"], ["awf-proxy: main"]),
    ("proxy: main -> ready seen by awf", ["awf-proxy: main"], ["awf: proxy ready"]),
    ("entrypoint: exec, dynamic linking", ["awf: agent: go received", "awf: agent: ruleset applied"],
     ["awf-entrypoint: main"]),
    ("entrypoint: main -> view and plan ready", ["awf-entrypoint: main"], ["awf-entrypoint: launch planned"]),
    ("entrypoint: child forked -> exec", ["awf-entrypoint: child: forked"],
     ["awf-entrypoint: child: confined, exec"]),
    ("= spawn -> the command's exec", None, ["awf-entrypoint: child: confined, exec"]),
    ("the command (bash -c true)", ["awf-entrypoint: child: confined, exec"], ["awf-entrypoint: command reaped"]),
    ("command reaped -> awf sees it", ["awf-entrypoint: command reaped"], ["awf: command ended"]),
    ("proxy stop (SIGTERM -> reaped)", ["awf: proxy stop"], ["awf: proxy stopped"]),
    ("proxy stopped -> awf exit", ["awf: proxy stopped"], ["awf: exit"]),
    ("awf exit -> process ended", ["awf: exit"], ["(process ended)"]),
    ("= spawn -> process ended", None, ["(process ended)"]),
]


def stage_table(traces):
    """[(stage, median ms, runs)]: per run the time between the stage's marks."""
    rows = []
    for name, start, end in STAGES:
        values = []
        for t in traces:
            a = 0 if start is None else next((t[m] for m in start if m in t), None)
            b = next((t[m] for m in end if m in t), None)
            if a is not None and b is not None:
                values.append((b - a) / 1000)
        rows.append((name, statistics.median(values) if values else float("nan"), len(values)))
    return rows


def print_phases(title, rows):
    print(f"\n{title}")
    print(f"{'phase (program: mark)':52} {'at ms':>8} {'step ms':>8}")
    for name, at, step in rows:
        print(f"{name[:52]:52} {at / 1000:8.2f} {step / 1000:8.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--compare-bin-dir", help="another build's bin directory, measured interleaved with --bin-dir")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--only-true", action="store_true", help="skip the curl rows")
    ap.add_argument("--workspace", help="directory awf runs in, the command's workspace (default: a fresh empty "
                                        "one under /var/tmp; the entrypoint searches the workspace for host "
                                        "sockets, so its size is part of the start-up)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--fifo", action="store_true",
                    help="run every measured command under SCHED_FIFO (chrt -f 10): on a machine others load, "
                         "the figures come near an idle machine's (waits for the disk and the kernel's work "
                         "queues remain)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("startup.py: run as root (network namespaces, ports 53/80 on loopback)")
    builds = [("A", args.bin_dir)] + ([("B", args.compare_bin_dir)] if args.compare_bin_dir else [])
    work = tempfile.mkdtemp(prefix="awf-startup-")
    procs = []
    load_before = os.getloadavg()
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
        hosts = os.path.join(work, "hosts")
        with open(hosts, "w") as f:
            f.write("")

        prefix = ["chrt", "-f", "10"] if args.fifo else []

        def base(bin_dir, n):
            return prefix + [os.path.join(bin_dir, "awf"), "--dns-servers", DNS_IP, "--hosts-file", hosts,
                    "--allow-private-ranges", "127.0.92.0/24", "--proxy-logs-dir",
                    os.path.join(work, f"logs-{os.path.basename(bin_dir.rstrip('/'))}-{n}"),
                    "--allow-domains", "origin.bench.test", "--"]

        # An empty workspace outside /tmp, as a CI checkout is: one under /tmp
        # also gets its mount points made in the command's private /tmp.
        workspace = args.workspace or tempfile.mkdtemp(prefix="awf-startup-ws-",
                                                       dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
        curl = ["curl", "-sf", "-o", "/dev/null", "http://origin.bench.test/"]
        results = {b: {"true": [], "awf -- true": [], "awf -- true (traced)": [], "traces": [],
                       "awf -- curl (via proxy)": []} for b, _ in builds}
        direct = []
        n = 0
        for _ in range(args.runs):
            direct_true = run_once(prefix + ["true"])[0]
            for b, bin_dir in builds:
                results[b]["true"].append(direct_true)
                n += 1
                results[b]["awf -- true"].append(run_once(base(bin_dir, n) + ["true"], cwd=workspace)[0])
                n += 1
                wall, marks = run_once(base(bin_dir, n) + ["true"], trace=True, cwd=workspace)
                results[b]["awf -- true (traced)"].append(wall)
                results[b]["traces"].append(marks)
                if not args.only_true:
                    n += 1
                    results[b]["awf -- curl (via proxy)"].append(run_once(base(bin_dir, n) + curl, cwd=workspace)[0])
            if not args.only_true:
                direct.append(run_once(prefix + curl[:-1] + ["--resolve", f"origin.bench.test:80:{ORIGIN_IP}",
                                                             curl[-1]])[0])
        load_after = os.getloadavg()

        out = {"runs": args.runs, "load_average_before": load_before, "load_average_after": load_after,
               "workspace": args.workspace or "(empty)", "sched_fifo": args.fifo, "builds": {}}
        for b, bin_dir in builds:
            r = results[b]
            rows = [("true", r["true"]), ("awf -- true", r["awf -- true"]),
                    ("awf -- true (traced)", r["awf -- true (traced)"])]
            if not args.only_true:
                rows += [("curl (direct, --resolve)", direct), ("awf -- curl (via proxy)", r["awf -- curl (via proxy)"])]
            print(f"\n[{b}] {bin_dir}")
            print(f"{'command':28} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
            stats = {}
            for name, s in rows:
                stats[name] = summary(s)
                print(f"{name:28} {stats[name]['median']:10.1f} {stats[name]['p90']:8.1f} {stats[name]['min']:8.1f}")
            phases = phase_table(r["traces"])
            print_phases(f"[{b}] phases of `awf -- true`, medians over {len(r['traces'])} traced runs", phases)
            stages = stage_table(r["traces"])
            print(f"\n[{b}] stages (median of each run's time between the marks)")
            for name, ms, n in stages:
                print(f"{name:52} {ms:8.2f}")
            verdict = stats["awf -- true"]["median"]
            print(f"\n[{b}] awf -- true: {verdict:.1f} ms median; target <= 25 ms")
            out["builds"][b] = {"bin_dir": bin_dir, "commands": stats,
                                "phases": [{"phase": p, "at_ms": a / 1000, "step_ms": s / 1000} for p, a, s in phases],
                                "stages": [{"stage": n, "median_ms": ms, "runs": k} for n, ms, k in stages],
                                "traces": r["traces"]}
        print(f"\nload average: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
              f"({os.cpu_count()} CPUs); workspace: {args.workspace or '(empty)'}"
              f"{'; SCHED_FIFO' if args.fifo else ''}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=5)
        shutil.rmtree(work, ignore_errors=True)
        if not args.workspace and "workspace" in locals():
            shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
