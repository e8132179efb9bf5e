#!/usr/bin/env python3
"""bench/api_stream.py: the API proxy's speed benchmark. Streams chat completions
(SSE) from a fake provider straight (HTTPS) and through awf-proxy's API listener
(plain HTTP in, TLS out), compares the time to the first event byte at c=1 and
c=256, then holds 2000 open streams through the proxy for 2 minutes while its RSS
and descriptor count are sampled, and prints pass/fail per target (see
bench/README.md, "api_stream.py").

Loopback only: the provider is `awf-loadgen --serve-sse` on port 443 of a per-run
127.x.y.2 (the API proxy always dials port 443), with a CA and leaf made here at
run time; the proxy finds it by name through a hosts file and trusts the CA with
--api-ca-cert. Every process started here is stopped at the end, and every wait
is bounded.
"""

import argparse
import json
import math
import os
import resource
import secrets
import select
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "differential"))
import proxy_harness as harness  # noqa: E402

PROVIDER = "api.bench.test"
PATH = "/v1/chat/completions"

# The latency loads, per concurrency: the agent straight to the provider
# (HTTPS) or to the API listener (plain HTTP), keeping its connection or
# opening one per request.
LOADS = [
    ("direct_ka", "direct HTTPS, keep-alive", True, True),
    ("direct_new", "direct HTTPS, new connection per request", True, False),
    ("proxy_ka", "API proxy, keep-alive", False, True),
    ("proxy_new", "API proxy, new connection per request", False, False),
]


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit, here and so in every process
    started from here. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def make_certificates(d, ip):
    """A throwaway CA and a leaf it signed for PROVIDER and ip (EC P-256, one
    day), made with the openssl command the way tests/support's fake provider
    makes its own. Returns (ca_cert, leaf_cert, leaf_key)."""
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "openssl.cnf")
    with open(conf, "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier = hash\n"
                "[leaf_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
                f"extendedKeyUsage = serverAuth\nsubjectAltName = DNS:{PROVIDER},IP:{ip}\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca-key.pem")
    cert, key, csr = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"), os.path.join(d, "leaf.csr")
    steps = [
        ["req", "-x509", "-config", conf, "-extensions", "ca_ext", *ec, "-keyout", ca_key, "-out", ca,
         "-days", "1", "-subj", "/CN=awf api_stream bench CA"],
        ["req", "-new", "-config", conf, *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={PROVIDER}"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-days", "1", "-extfile", conf,
         "-extensions", "leaf_ext", "-out", cert],
    ]
    for args in steps:
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")
    return ca, cert, key


def wait_for_line(tb, name, proc, needle, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = tb.output_of(name)
        if needle in text:
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not print {needle!r} (exit {proc.poll()}):\n{tb.output_of(name)}")


def proxy_environment():
    """Our environment less every variable awf-proxy would read as provider
    settings: the flags alone configure it."""
    def provider_setting(name):
        return (name.endswith(("_API_KEY", "_API_TARGET", "_API_BASE_PATH")) or name.startswith(("COPILOT_", "AWF_"))
                or name in ("GITHUB_SERVER_URL", "GITHUB_TOKEN", "GH_TOKEN", "SSL_CERT_FILE", "SSL_CERT_DIR"))
    return {k: v for k, v in os.environ.items() if not provider_setting(k)}


class ApiProxy:
    def __init__(self, proc, port, name):
        self.proc, self.port, self.name = proc, port, name

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


def start_api_proxy(tb, opts, name, ca, key_file, max_connections):
    log_dir = os.path.join(tb.root, name + "-logs")
    os.makedirs(log_dir)
    argv = [opts.awf_proxy, "--api-listen", "openai=127.0.0.1:0", "--api-key", f"openai=file:{key_file}",
            "--api-target", f"openai={PROVIDER}", "--api-ca-cert", ca,
            "--hosts-file", tb.hosts_file, "--dns-servers", tb.dns_ip,
            "--threads", str(opts.proxy_threads), "--max-connections", str(max_connections),
            "--log-dir", log_dir, "--log-level", "warn"]
    proc = tb.spawn(argv, name, env=proxy_environment())
    text = wait_for_line(tb, name, proc, "awf-proxy: ready")
    for line in text.splitlines():
        if "(api-openai)" in line and "listening on 127.0.0.1:" in line:
            port = int(line.split("listening on 127.0.0.1:", 1)[1].split()[0])
            return ApiProxy(proc, port, name)
    raise RuntimeError(f"{name}: no api-openai listener in its output:\n{text}")


def loadgen_argv(opts, direct, keep_alive, provider_addr, proxy, extra, mode="sse"):
    if direct:
        argv = ["--proxy", provider_addr, "--target", f"{PROVIDER}:443", "--tls"]
    else:
        argv = ["--proxy", proxy.address, "--target", proxy.address]
    if keep_alive:
        argv.append("-k")
    return [opts.loadgen, "--mode", mode, "--json", "--path", PATH, "--threads", str(opts.loadgen_threads), *argv,
            *extra]


def run_loadgen(argv, timeout):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    lines = r.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    if r.returncode != 0:
        result["failed"] = r.stderr.strip() or "no successful request"
    return result


def check_path(opts, direct, provider_addr, proxy):
    """One request each way before measuring, so a broken set-up says why."""
    result = run_loadgen(loadgen_argv(opts, direct, True, provider_addr, proxy, ["-c", "1", "-n", "2", "-d", "10"]),
                         timeout=30)
    if result.get("failed") or result.get("errors") or result.get("requests", 0) < 2:
        where = "to the provider" if direct else "through the API proxy"
        raise RuntimeError(f"a streamed request {where} failed: {json.dumps(result)}")


def best_round(rounds):
    """The round with the lowest median time to first byte: on a shared machine
    interference only ever adds latency, so the minimum is the best estimate.
    The other rounds' medians are kept beside it."""
    measured = [r for r in rounds if r.get("requests")]
    best = dict(min(measured, key=lambda r: r["latency_us"]["p50"]) if measured else rounds[-1])
    best["rounds_p50_us"] = [r.get("latency_us", {}).get("p50") for r in rounds]
    best["errors"] = sum(r.get("errors", 0) for r in rounds)
    best["failed"] = "; ".join(r["failed"] for r in rounds if r.get("failed")) or None
    return best


def measure_latency(opts, provider_addr, proxy):
    """Every load at each concurrency, rounds alternating the order."""
    results = {}
    for c in opts.concurrency:
        rounds = {key: [] for key, *_ in LOADS}
        for rnd in range(opts.rounds):
            order = LOADS if rnd % 2 == 0 else list(reversed(LOADS))
            for key, title, direct, keep_alive in order:
                print(f"  c={c} round {rnd + 1}/{opts.rounds}: {title}", file=sys.stderr, flush=True)
                argv = loadgen_argv(opts, direct, keep_alive, provider_addr, proxy,
                                    ["-c", str(c), "-d", str(opts.duration), "--timeout", "30"])
                rounds[key].append(run_loadgen(argv, timeout=opts.duration + 120))
        results[str(c)] = {key: best_round(rs) for key, rs in rounds.items()}
    return results


def proc_sample(pid):
    mem = harness.read_proc_memory_kib(pid)
    return {"rss_kib": mem["VmRSS"], "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def slope_per_minute(points):
    """Least-squares slope of (t seconds, value) points, per minute."""
    if len(points) < 2:
        return None
    mt = statistics.fmean(t for t, _ in points)
    mv = statistics.fmean(v for _, v in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / den if den else None


def measure_hold(tb, opts, proxy):
    """K streams through a freshly started proxy, held while the provider
    trickles events; RSS and fds sampled every second of the hold."""
    warm = run_loadgen(loadgen_argv(opts, False, True, None, proxy, ["-c", "1", "-n", "3", "-d", "10"]), timeout=30)
    if warm.get("failed"):
        raise RuntimeError(f"warm-up request through {proxy.name} failed: {warm['failed']}")
    time.sleep(1.0)
    idle = proc_sample(proxy.pid)
    # Enough events that no stream ends before the hold does, however long the opening takes.
    events = math.ceil((opts.hold_open_seconds + opts.hold_seconds + 30) * 1000 / opts.hold_interval_ms)
    argv = loadgen_argv(opts, False, False, None, proxy,
                        ["--streams", str(opts.streams), "-c", "64",
                         "-d", str(opts.hold_open_seconds), "--hold", str(opts.hold_seconds), "--timeout", "30",
                         "--sse-events", str(events), "--sse-interval", str(opts.hold_interval_ms)],
                        mode="sse-hold")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, err, held_at = [], "", None
    deadline = time.monotonic() + opts.hold_open_seconds + 30
    try:
        while held_at is None and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stderr], [], [], 0.5)
            if ready:
                chunk = os.read(p.stderr.fileno(), 4096).decode(errors="replace")
                if not chunk:
                    break
                err += chunk
                if "awf-loadgen: holding" in err:
                    held_at = time.monotonic()
        if held_at is not None:
            # One sample a second while every stream is open: at 0, 1, ... s
            # after the last one opened, the last a second before the hold ends.
            for k in range(max(1, math.ceil(opts.hold_seconds) - 1)):
                time.sleep(max(0.0, held_at + k - time.monotonic()))
                if p.poll() is not None or proxy.proc.poll() is not None:
                    break
                samples.append({"t_s": round(time.monotonic() - held_at, 2), **proc_sample(proxy.pid)})
        out, rest = p.communicate(timeout=opts.hold_seconds + 60)
        err += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    lines = out.strip().splitlines()
    load = json.loads(lines[-1]) if lines else {"failed": err.strip() or "no output"}
    if p.returncode != 0:
        load["failed"] = err.strip() or "no stream opened"
    time.sleep(1.0)
    after = proc_sample(proxy.pid) if proxy.proc.poll() is None else None
    result = {"streams": opts.streams, "hold_s": opts.hold_seconds, "interval_ms": opts.hold_interval_ms,
              "idle": idle, "samples": samples, "after_close": after, "load": load,
              "proxy_exited": proxy.proc.poll()}
    if samples:
        rss = [s["rss_kib"] for s in samples]
        held = load.get("streams_held") or 0
        result["rss_open_kib"] = statistics.median(rss)
        result["rss_per_stream_kib"] = (result["rss_open_kib"] - idle["rss_kib"]) / held if held else None
        result["rss_growth_kib"] = rss[-1] - rss[0]
        result["rss_slope_kib_per_min"] = slope_per_minute([(s["t_s"], s["rss_kib"]) for s in samples])
        result["fds_first"], result["fds_last"] = samples[0]["fds"], samples[-1]["fds"]
        result["fds_max"] = max(s["fds"] for s in samples)
        result["fds_per_stream"] = (samples[0]["fds"] - idle["fds"]) / held if held else None
    return result


def targets(opts, latency, hold):
    """The benchmark's targets as rows: name, measured, limit, verdict."""
    rows = []

    def p50(c, key):
        return latency.get(str(c), {}).get(key, {}).get("latency_us", {}).get("p50") or None

    lo, hi = opts.concurrency[0], opts.concurrency[-1]
    px, dx = p50(lo, "proxy_ka"), p50(lo, "direct_ka")
    d = px - dx if px is not None and dx is not None else None
    rows.append({"target": f"TTFB c={lo}: proxy - direct (keep-alive, p50)", "value": d, "unit": "us",
                 "limit": "<= 200", "pass": None if d is None else d <= 200})
    px, dx = p50(hi, "proxy_ka"), p50(hi, "direct_ka")
    r = px / dx if px is not None and dx else None
    rows.append({"target": f"TTFB c={hi}: proxy / direct (keep-alive, p50)", "value": r, "unit": "x",
                 "limit": "<= 1.2", "pass": None if r is None else r <= 1.2})
    per = hold.get("rss_per_stream_kib") if hold else None
    rows.append({"target": f"proxy RSS per open stream ({opts.streams} open)", "value": per, "unit": "KiB",
                 "limit": "<= 16", "pass": None if per is None else per <= 16})
    if hold and hold.get("samples"):
        load = hold["load"]
        held_all = load.get("streams_held") == opts.streams and not load.get("errors") and not load.get("failed")
        growth = hold["rss_growth_kib"]
        fd_growth = hold["fds_last"] - hold["fds_first"]
        ok = held_all and growth <= opts.growth_tolerance_kib and fd_growth <= 0 and hold["proxy_exited"] is None
        rows.append({"target": f"{opts.streams} streams held {opts.hold_seconds:g} s: RSS growth (fds growth)",
                     "value": growth, "unit": "KiB", "fd_growth": fd_growth, "held": load.get("streams_held"),
                     "limit": f"<= {opts.growth_tolerance_kib} KiB, fds +0, all held", "pass": ok})
    else:
        rows.append({"target": f"{opts.streams} streams held {opts.hold_seconds:g} s: RSS growth (fds growth)",
                     "value": None, "unit": "KiB", "limit": "no growth", "pass": None})
    return rows


def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def table(hdr, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    line = lambda cells: " | ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(hdr), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)])


def print_report(opts, latency, hold, rows):
    hdr = ("load", "c", "requests", "errors", "TTFB p50 us", "TTFB p99 us", "+set-up p50", "+set-up p99",
           "req/s", "rounds p50")
    lines = []
    for c, per_load in latency.items():
        for key, title, *_ in LOADS:
            m = per_load.get(key, {})
            lat, setup = m.get("latency_us", {}), m.get("latency_with_setup_us", {})
            lines.append((title, c, m.get("requests", "-"), m.get("errors", "-"), fmt(lat.get("p50")),
                          fmt(lat.get("p99")), fmt(setup.get("p50")), fmt(setup.get("p99")), fmt(m.get("rps")),
                          "/".join(fmt(x) for x in m.get("rounds_p50_us", []))))
    if lines:
        print("Time to the first SSE byte (TTFB: from the request write; +set-up: from connect, TCP and TLS "
              "included when the request opened a connection), best of "
              f"{opts.rounds} round(s) of {opts.duration:g} s by p50:\n")
        print(table(hdr, lines))
        for c, per_load in latency.items():
            for key, *_ in LOADS:
                if per_load.get(key, {}).get("failed"):
                    print(f"  c={c} {key}: {per_load[key]['failed']}")
        print()
    if hold:
        load = hold["load"]
        print(f"Hold: {opts.streams} streams through a fresh awf-proxy, an event every {opts.hold_interval_ms} ms, "
              f"{opts.hold_seconds:g} s; streams held {load.get('streams_held')}, errors {load.get('errors')}"
              f"{' ' + json.dumps(load['errors_by_kind']) if load.get('errors_by_kind') else ''}, "
              f"events {load.get('events')}")
        idle = hold["idle"]
        if hold.get("samples"):
            s0, s1 = hold["samples"][0], hold["samples"][-1]
            print(f"  RSS KiB: idle {idle['rss_kib']}, open (median of {len(hold['samples'])} samples) "
                  f"{hold['rss_open_kib']:.0f}, first {s0['rss_kib']} -> last {s1['rss_kib']} "
                  f"(slope {fmt(hold['rss_slope_kib_per_min'], '{:.1f}')} KiB/min), after close "
                  f"{hold['after_close']['rss_kib'] if hold.get('after_close') else '-'}")
            print(f"  fds: idle {idle['fds']}, first {s0['fds']} -> last {s1['fds']} (max {hold['fds_max']}), "
                  f"{fmt(hold['fds_per_stream'], '{:.2f}')} per stream")
        if load.get("failed"):
            print(f"  loadgen: {load['failed']}")
        print()
    trows = [(r["target"], fmt(r["value"], "{:.3f}" if r["unit"] == "x" else "{:.1f}") + " " + r["unit"]
              + (f" ({r['fd_growth']:+d} fds, {r['held']} held)" if "fd_growth" in r else ""),
              r["limit"], "-" if r["pass"] is None else ("ok" if r["pass"] else "MISS")) for r in rows]
    print(table(("target", "measured", "limit", "result"), trows))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_build = os.path.join(REPO, "build-bench", "bin")
    ap.add_argument("--awf-proxy", default=os.path.join(default_build, "awf-proxy"))
    ap.add_argument("--loadgen", default=os.path.join(default_build, "awf-loadgen"))
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of every latency load; the round with the lowest p50 is kept (default 3)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per latency load and round (default 2)")
    ap.add_argument("--concurrency", default="1,256",
                    help="comma list of client counts for the latency loads; the first is held to the "
                         "0.2 ms target, the last to the 1.2x one (default 1,256)")
    ap.add_argument("--streams", type=int, default=2000, help="streams held open in the hold test (default 2000)")
    ap.add_argument("--hold-seconds", type=float, default=120.0, help="how long they are held (default 120)")
    ap.add_argument("--hold-interval-ms", type=int, default=1000,
                    help="the provider's pause between events of a held stream (default 1000)")
    ap.add_argument("--hold-open-seconds", type=float, default=60.0,
                    help="time allowed to open the streams (default 60)")
    ap.add_argument("--growth-tolerance-kib", type=int, default=1024,
                    help="RSS growth over the hold still counted as none (default 1024: allocator noise; a "
                         "leak of 4 bytes per relayed event exceeds it at the defaults)")
    ap.add_argument("--no-latency", action="store_true", help="skip the latency loads")
    ap.add_argument("--no-hold", action="store_true", help="skip the hold test")
    ap.add_argument("--proxy-threads", type=int, default=1, help="awf-proxy --threads (default 1)")
    ap.add_argument("--provider-threads", type=int, default=1, help="the provider's threads (default 1)")
    ap.add_argument("--loadgen-threads", type=int, default=1, help="the client's threads (default 1)")
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--keep-temp", action="store_true", help="keep the temp dir (certificates, logs)")
    opts = ap.parse_args()
    try:
        opts.concurrency = [int(x) for x in opts.concurrency.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"api_stream.py: --concurrency {opts.concurrency!r}: expected a comma list of whole numbers")
    if not opts.concurrency or min(opts.concurrency) < 1:
        sys.exit(f"api_stream.py: --concurrency {opts.concurrency!r}: expected client counts of 1 or more")
    for name, value in (("--rounds", opts.rounds), ("--streams", opts.streams),
                        ("--hold-interval-ms", opts.hold_interval_ms)):
        if value < 1:
            sys.exit(f"api_stream.py: {name} {value}: must be 1 or more")
    if opts.hold_seconds <= 0 or opts.duration <= 0:
        sys.exit("api_stream.py: --hold-seconds and --duration must be positive")
    for path, what in ((opts.loadgen, "awf-loadgen"), (opts.awf_proxy, "awf-proxy")):
        if not os.access(path, os.X_OK):
            sys.exit(f"api_stream.py: {what} not found at {path}; build it with "
                     f"cmake --build build-bench --target {what}")
    if os.geteuid() != 0:
        sys.exit("api_stream.py: needs root: the provider listens on port 443, the only port the API proxy dials")
    nofile = raise_nofile()
    # The proxy holds two descriptors per stream, the client and provider one each.
    if not opts.no_hold and 2 * opts.streams + 256 > nofile:
        sys.exit(f"api_stream.py: --streams {opts.streams} needs {2 * opts.streams + 256} descriptors in the "
                 f"proxy; RLIMIT_NOFILE allows {nofile}")

    tb = harness.Testbed(prefix="awf-api-bench-")
    provider_addr = f"{tb.origin_ip}:443"
    results = {"config": {k: v for k, v in vars(opts).items() if k not in ("json",)},
               "environment": {"cpus": os.cpu_count(), "nofile": nofile}}
    latency, hold = {}, None
    started = time.monotonic()
    proxy = None
    try:
        ca, cert, key = make_certificates(os.path.join(tb.root, "certs"), tb.origin_ip)
        key_file = os.path.join(tb.root, "openai.key")
        with open(key_file, "w") as f:
            f.write("sk-" + secrets.token_hex(24) + "\n")
        os.chmod(key_file, 0o600)
        tb.write_hosts({PROVIDER: tb.origin_ip})
        budget = (len(opts.concurrency) * opts.rounds * len(LOADS) * (opts.duration + 5)
                  + opts.hold_open_seconds + opts.hold_seconds + 300)
        provider = tb.spawn([opts.loadgen, "--serve-sse", provider_addr, "--cert", cert, "--key", key,
                             "--threads", str(opts.provider_threads), "-d", str(math.ceil(budget))], "provider")
        wait_for_line(tb, "provider", provider, "sse listening on")
        max_conn = opts.streams + 512
        proxy = start_api_proxy(tb, opts, "awf-proxy", ca, key_file, max_conn)
        check_path(opts, True, provider_addr, proxy)
        check_path(opts, False, provider_addr, proxy)
        if not opts.no_latency:
            latency = measure_latency(opts, provider_addr, proxy)
        tb.stop(proxy.proc)
        proxy = None
        if not opts.no_hold:
            print(f"  hold: {opts.streams} streams for {opts.hold_seconds:g} s", file=sys.stderr, flush=True)
            proxy = start_api_proxy(tb, opts, "awf-proxy-hold", ca, key_file, max_conn)
            hold = measure_hold(tb, opts, proxy)
    finally:
        tb.close(keep=opts.keep_temp)
        if opts.keep_temp:
            print(f"temp dir kept: {tb.root}", file=sys.stderr)
    rows = targets(opts, latency, hold)
    results.update({"latency": latency, "hold": hold, "targets": rows})
    results["environment"]["loadavg"] = os.getloadavg()[0]
    print(f"\nAPI proxy streaming benchmark: awf-proxy --threads {opts.proxy_threads}, provider threads "
          f"{opts.provider_threads}, client threads {opts.loadgen_threads}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; total run {time.monotonic() - started:.0f} s\n")
    print_report(opts, latency, hold, rows)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
