#!/usr/bin/env python3
"""bench/scale.py: how awf-proxy's throughput grows with its threads, beside
Squid (SMP workers) and awf-floor (event loops), each pinned to its own CPUs.

The machine's CPUs (those this process may use) are split three ways: the
proxy's, the origin's (nginx, one worker per CPU) and the load generator's.
With 4 or more CPUs the proxy gets half, the origin a quarter and the
generator the rest; with 2 or 3 the proxy gets one and the origin and the
generator share the rest; with 1 all share it. At T threads the proxy runs T
threads (Squid: T workers) pinned to the first min(T, its CPUs) of its CPUs,
so threads beyond its CPUs show what oversubscription costs. The same script
runs unchanged on 2 cores and on 16.

Per proxy, thread count and load: requests/s and the proxy's CPU time per
request (all its threads and processes) of the best of --rounds rounds, and
the loadgen's p50/p99 latency. The scaling efficiency is
rps(T) / (min(T, proxy CPUs) * rps(1)): 1.0 is linear where cores are free.

Writes a table, --json FILE and --png FILE (matplotlib: requests/s and CPU per
request against threads, one panel per load). Loopback only: the origin is
nginx on a per-run 127.x.y.z, names from a hosts file given to the proxies.

  python3 bench/scale.py --awf-proxy build/bin/awf-proxy --loadgen build/bin/awf-loadgen \\
      --floor build/bin/awf-floor --json scale.json --png scale.png
"""

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (loads, names, loadgen runner; it puts the harness on the path)
from compare import DENIED, ECHO, ORIGIN, harness  # noqa: E402

SCALE_LOADS = ("forward_ka", "forward_new", "denied", "tunnel_tls")


def split_cpus(cpus):
    """(proxy, origin, generator) CPU lists from the CPUs we may use."""
    n = len(cpus)
    if n >= 4:
        proxy, origin = cpus[: n // 2], cpus[n // 2: n // 2 + max(1, n // 4)]
        generator = cpus[n // 2 + len(origin):] or origin
        return proxy, origin, generator
    if n >= 2:
        return cpus[:1], cpus[1:], cpus[1:]
    return cpus, cpus, cpus


def tasks_of(pid):
    """Every thread of pid and of its descendant processes."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{p}/task")]
        except OSError:
            continue
        out += tids
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except OSError:
                pass
    return out


def process_tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def pin(pid, cpus):
    for tid in tasks_of(pid):
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass  # gone meanwhile


def tree_cpu_ns(pid):
    return sum(harness.read_proc_cpu_ns(p) for p in process_tree(pid) if os.path.exists(f"/proc/{p}"))


class Pinned:
    """Runs the body with this process pinned to `cpus`: what it starts
    inherits them from the first instruction."""

    def __init__(self, cpus):
        self.cpus = cpus

    def __enter__(self):
        self.saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.cpus)

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.saved)


def start(tb, kind, threads, opts, policy):
    if kind == "awf-proxy":
        extra = ["--threads", str(threads), "--log-level", "warn", "--max-connections", "20000"]
        return tb.start_awf_proxy(opts.awf_proxy, policy, name=f"awf-proxy-{threads}", extra=extra)
    if kind == "squid":
        return tb.start_squid(policy, name=f"squid-{threads}", workers=threads)
    name = f"floor-{threads}"
    proc = tb.spawn([opts.floor, "--listen", "127.0.0.1:0", "--upstream", tb.origin_ip, "--deny", DENIED,
                     "--threads", str(threads)], name)
    end = time.monotonic() + 10
    while time.monotonic() < end and proc.poll() is None:
        text = tb.output_of(name)
        if "listening on 127.0.0.1:" in text:
            return harness.Proxy("floor", proc, int(text.split("listening on 127.0.0.1:", 1)[1].split()[0]), tb.root)
        time.sleep(0.02)
    raise RuntimeError(f"awf-floor did not start: {tb.output_of(name)}")


def measure(proxy, load, opts, generator_cpus):
    before = tree_cpu_ns(proxy.pid)
    with Pinned(generator_cpus):
        result = compare.run_loadgen(opts.loadgen, proxy, load.args + ["--threads", str(len(generator_cpus))])
    time.sleep(0.3)
    cpu_s = (tree_cpu_ns(proxy.pid) - before) / 1e9
    n = result.get("requests", 0)
    lat = result.get("latency_us", {})
    return {"rps": result.get("rps"), "requests": n, "errors": result.get("errors", 0),
            "failed": result.get("failed"), "cpu_per_request_us": cpu_s / n * 1e6 if n else None,
            "p50_us": lat.get("p50"), "p99_us": lat.get("p99")}


def best(rounds):
    ok = [r for r in rounds if r.get("rps")]
    if not ok:
        return rounds[-1]
    b = dict(max(ok, key=lambda r: r["rps"]))
    b["rounds_rps"] = [r.get("rps") for r in rounds]
    b["errors"] = sum(r.get("errors", 0) for r in rounds)
    return b


def plot(results, opts, proxy_cpus, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    loads = [k for k in SCALE_LOADS if k in opts.loads]
    fig, axes = plt.subplots(2, len(loads), figsize=(4.2 * len(loads), 7), squeeze=False)
    for col, key in enumerate(loads):
        for kind, per_t in results.items():
            ts = sorted(int(t) for t in per_t if per_t[t].get(key, {}).get("rps"))
            if not ts:
                continue
            axes[0][col].plot(ts, [per_t[str(t)][key]["rps"] for t in ts], marker="o", label=kind)
            axes[1][col].plot(ts, [per_t[str(t)][key]["cpu_per_request_us"] for t in ts], marker="o", label=kind)
        axes[0][col].set_title(f"{key} (c={opts.concurrency})")
        axes[0][col].set_ylabel("requests/s")
        axes[1][col].set_ylabel("proxy CPU per request (µs)")
        for row in (0, 1):
            axes[row][col].set_xlabel("proxy threads (Squid: workers)")
            axes[row][col].set_xscale("log", base=2)
            axes[row][col].set_xticks(opts.threads, [str(t) for t in opts.threads])
            axes[row][col].axvline(len(proxy_cpus), color="grey", linestyle=":", linewidth=1)
            axes[row][col].grid(True, alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.suptitle(f"bench/scale.py: {os.cpu_count()} CPUs, proxy pinned to {len(proxy_cpus)} (dotted line)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_build = os.path.join(compare.REPO, "build-bench", "bin")
    ap.add_argument("--awf-proxy", default=os.path.join(default_build, "awf-proxy"))
    ap.add_argument("--loadgen", default=os.path.join(default_build, "awf-loadgen"))
    ap.add_argument("--floor", default=os.path.join(default_build, "awf-floor"))
    ap.add_argument("--proxies", default="awf-proxy,squid,floor", help="comma list of awf-proxy, squid, floor")
    ap.add_argument("--threads", default="1,2,4,8", help="comma list of proxy thread counts (default 1,2,4,8)")
    ap.add_argument("--loads", default=",".join(SCALE_LOADS), help="comma list of " + ", ".join(SCALE_LOADS))
    ap.add_argument("--concurrency", type=int, default=256, help="concurrent clients per load (default 256)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per load and round (default 3)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per load; the best is kept (default 2)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--png", help="plot requests/s and CPU per request against threads here")
    opts = ap.parse_args()
    try:
        opts.threads = sorted({int(t) for t in opts.threads.split(",") if t.strip()})
    except ValueError:
        ap.error(f"--threads {opts.threads!r}: expected a comma list of integers")
    if not opts.threads or opts.threads[0] < 1 or opts.threads[-1] > 64:
        ap.error(f"--threads {opts.threads}: each from 1 to 64")
    opts.loads = [x for x in opts.loads.split(",") if x]
    for x in opts.loads:
        if x not in SCALE_LOADS:
            ap.error(f"--loads: unknown load {x!r} (known: {', '.join(SCALE_LOADS)})")
    kinds = [x for x in opts.proxies.split(",") if x]
    for k in kinds:
        if k not in ("awf-proxy", "squid", "floor"):
            ap.error(f"--proxies: unknown proxy {k!r} (known: awf-proxy, squid, floor)")
    for path, what in ((opts.loadgen, "awf-loadgen"), (opts.awf_proxy if "awf-proxy" in kinds else None, "awf-proxy"),
                       (opts.floor if "floor" in kinds else None, "awf-floor")):
        if path is not None and not os.access(path, os.X_OK):
            ap.error(f"{what} not found at {path}")
    if "squid" in kinds and not os.path.exists(harness.SQUID_BIN):
        ap.error("squid is not installed (--proxies awf-proxy,floor to leave it out)")
    if opts.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            ap.error("--png needs matplotlib (apt-get install python3-matplotlib)")

    cpus = sorted(os.sched_getaffinity(0))
    proxy_cpus, origin_cpus, generator_cpus = split_cpus(cpus)
    compare.raise_fd_limit(opts.concurrency * 2)
    load_opts = argparse.Namespace(duration=opts.duration, concurrency=[opts.concurrency], bulk_count=1)
    loads = [ld for ld in compare.loads(load_opts) if ld.key in opts.loads]
    print(f"scale.py: {len(cpus)} CPUs: proxy {proxy_cpus}, origin {origin_cpus}, generator {generator_cpus}",
          file=sys.stderr, flush=True)

    policy = harness.Policy(allow=[ORIGIN, ECHO])
    tb = harness.Testbed(prefix="awf-scale-")
    results = {}
    started = time.monotonic()
    try:
        tb.write_hosts({ORIGIN: tb.origin_ip, ECHO: tb.echo_ip, DENIED: tb.origin_ip})
        with Pinned(origin_cpus):
            tb.start_origin({"/1k": 1024}, workers=len(origin_cpus))
        for kind in kinds:
            for t in opts.threads:
                cores = proxy_cpus[: min(t, len(proxy_cpus))]
                try:
                    with Pinned(cores):
                        proxy = start(tb, kind, t, opts, policy)
                except (RuntimeError, OSError) as e:
                    print(f"scale.py: {kind} with {t} threads could not start: {str(e)[:300]}", file=sys.stderr)
                    results.setdefault(kind, {})[str(t)] = {"error": str(e)[:500]}
                    continue
                pin(proxy.pid, cores)  # threads and kids started before the pin took
                per_load = {}
                for load in loads:
                    rounds = []
                    for rnd in range(opts.rounds):
                        print(f"  {kind} threads={t} on {len(cores)} CPUs: {load.title} round {rnd + 1}",
                              file=sys.stderr, flush=True)
                        rounds.append(measure(proxy, load, opts, generator_cpus))
                    per_load[load.key] = best(rounds)
                per_load["proxy_cpus"] = len(cores)
                results.setdefault(kind, {})[str(t)] = per_load
                tb.stop(proxy.proc)
    finally:
        tb.close()

    # Efficiency against the 1-thread figure, where cores are free.
    for kind, per_t in results.items():
        one = per_t.get(str(opts.threads[0]), {})
        for t, per_load in per_t.items():
            for key in opts.loads:
                m, base = per_load.get(key), one.get(key)
                if m and base and m.get("rps") and base.get("rps"):
                    m["efficiency"] = m["rps"] / (per_load["proxy_cpus"] / one["proxy_cpus"] * base["rps"])

    print(f"\nscale.py: {len(cpus)} CPUs (proxy {len(proxy_cpus)}, origin {len(origin_cpus)}, generator "
          f"{len(generator_cpus)}{', shared with the origin' if generator_cpus == origin_cpus else ''}); "
          f"c={opts.concurrency}, {opts.rounds} rounds of {opts.duration:g} s, best kept; load average "
          f"{os.getloadavg()[0]:.1f}; {time.monotonic() - started:.0f} s\n")
    hdr = ("proxy", "threads", "CPUs", "load", "req/s", "CPU us/req", "efficiency", "p50/p99 us", "errors")
    rows = []
    for kind, per_t in results.items():
        for t in opts.threads:
            per_load = per_t.get(str(t), {})
            if "error" in per_load:
                rows.append((kind, t, "-", "-", "did not start", "", "", "", ""))
                continue
            for key in opts.loads:
                m = per_load.get(key, {})
                rows.append((kind, t, per_load.get("proxy_cpus", "-"), key, compare.fmt(m.get("rps"), "{:.0f}"),
                             compare.fmt(m.get("cpu_per_request_us")), compare.fmt(m.get("efficiency"), "{:.2f}"),
                             f"{compare.fmt(m.get('p50_us'), '{:.0f}')}/{compare.fmt(m.get('p99_us'), '{:.0f}')}",
                             m.get("failed") or str(m.get("errors", "-"))))
    compare._print_rows(hdr, rows)
    doc = {"cpus": len(cpus), "proxy_cpus": proxy_cpus, "origin_cpus": origin_cpus,
           "generator_cpus": generator_cpus, "concurrency": opts.concurrency, "duration": opts.duration,
           "rounds": opts.rounds, "threads": opts.threads, "results": results}
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(doc, f, indent=1)
    if opts.png:
        plot(results, opts, proxy_cpus, opts.png)
        print(f"\nplot: {opts.png}")
    failed = [(k, t, key) for k, per_t in results.items() for t, pl in per_t.items()
              for key in opts.loads if "error" in pl or not (pl.get(key) or {}).get("requests")]
    if failed:
        print(f"scale.py: no request succeeded in {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
