#!/usr/bin/env python3
"""bench/compare.py: drives the same loads through Squid (configured the way awf
configures it) and through awf-proxy in one run, and prints per proxy the CPU time
per request (the process CPU clock, i.e. what /proc/<pid>/stat counts, in ns), requests/s and memory, with the awf/squid ratio
against the performance targets (see bench/README.md).

Loopback only: the origin is nginx on a per-run 127.x.y.2, names map to it through a
hosts file given to both proxies. Everything started here is stopped at the end.
"""

import argparse
import json
import os
import resource
import select
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "differential"))
import proxy_harness as harness  # noqa: E402

ORIGIN = "origin.bench.test"
ECHO = "echo.bench.test"
DENIED = "denied.bench.test"
CLIENT_ADDR = "127.0.0.20"  # not 127.0.0.1, so Squid logs the requests like awf-proxy does
MIB = 1024 * 1024


class Load:
    def __init__(self, key, title, args, target, unit="request", unit_bytes=None, concurrency=None):
        self.key, self.title, self.args, self.target = key, title, args, target
        self.unit, self.unit_bytes = unit, unit_bytes
        self.concurrency = concurrency  # None: a fixed one (bulk), measured at the first level only
        # Results are kept per load and concurrency: "forward_ka@16".
        self.id = f"{key}@{concurrency}" if concurrency else key


# The loads measured again at the higher concurrency levels; the others (bulk,
# the bumped ones) only at the first.
HIGH_CONCURRENCY_LOADS = {"forward_ka", "forward_new", "tunnel_tls", "denied"}
# What awf-proxy may spend per unit over awf-floor, on every load and level.
FLOOR_TARGET = 1.10


def loads(opts, concurrency=None):
    d = str(opts.duration)
    level = concurrency or opts.concurrency[0]
    c = str(level)
    return [load for load in _loads(d, c, opts) if concurrency is None or load.concurrency == level]


def _loads(d, c, opts):
    n = int(c)
    return [
        Load("forward_ka", "forward keep-alive 1 KiB",
             ["--mode", "forward", "-k", "--target", f"{ORIGIN}:80", "--path", "/1k", "-c", c, "-d", d], 1 / 8,
             concurrency=n),
        # A new client connection per request: accept, parse, decide, log and
        # a new connection to the origin each time (no upstream reuse).
        Load("forward_new", "forward, new connection each, 1 KiB",
             ["--mode", "forward", "--target", f"{ORIGIN}:80", "--path", "/1k", "-c", c, "-d", d], 1 / 4,
             concurrency=n),
        Load("tunnel_tls", "new CONNECT + TLS + 1 KiB",
             ["--mode", "tunnel-tls", "--target", f"{ORIGIN}:443", "--path", "/1k", "-c", c, "-d", d], 1 / 4,
             concurrency=n),
        # The same load through a bumping proxy: TLS to the proxy with a minted
        # certificate, the request read and decided, a second TLS connection to
        # the origin, verified. Measured on awf-proxy with --ssl-bump-cert
        # ("awf-bump") and on Squid with ssl-bump ("squid-bump"), each its own
        # instance, both signing with the same per-run CA.
        Load("tunnel_tls_bumped", "bumped CONNECT + TLS + 1 KiB",
             ["--mode", "tunnel-tls", "--target", f"{ORIGIN}:443", "--path", "/1k", "-c", c, "-d", d], 1 / 4),
        Load("tunnel_tls_bumped_ka", "bumped, keep-alive, 1 KiB",
             ["--mode", "tunnel-tls", "-k", "--target", f"{ORIGIN}:443", "--path", "/1k", "-c", c, "-d", d], 1 / 4),
        Load("denied", "denied CONNECT (403)",
             ["--mode", "connect-only", "--target", f"{DENIED}:443", "--expect-status", "403", "-c", c, "-d", d],
             1 / 8, concurrency=n),
        # Per 100 MiB transfer; a few downloads in a row through kept-alive tunnels.
        Load("bulk", "bulk 100 MiB in a tunnel",
             ["--mode", "tunnel-http", "-k", "--target", f"{ORIGIN}:80", "--path", "/100m", "-c", "1",
              "-n", str(opts.bulk_count), "-d", str(max(opts.duration * 4, 10)), "--timeout", "30"],
             1 / 5, unit="100 MiB", unit_bytes=100 * MIB),
    ]


# Loads only a bumping proxy runs, and the proxies that run only those.
BUMP_LOADS = {"tunnel_tls_bumped", "tunnel_tls_bumped_ka"}
BUMP_KINDS = {"awf-bump", "squid-bump"}
# Squid's certificate generator helper; only its OpenSSL build (squid-openssl) has it.
SQUID_CERTGEN = "/usr/lib/squid/security_file_certgen"


def selected_loads(opts, kind=None):
    """Every load to run, level by level: all of them at the first concurrency,
    HIGH_CONCURRENCY_LOADS again at each further one."""
    wanted = [load for load in loads(opts) if load.key in opts.loads]
    for level in opts.concurrency[1:]:
        wanted += [load for load in loads(opts, level)
                   if load.key in opts.loads and load.key in HIGH_CONCURRENCY_LOADS]
    if kind is None:
        return wanted
    if kind in BUMP_KINDS:
        return [load for load in wanted if load.key in BUMP_LOADS]
    return [load for load in wanted if load.key not in BUMP_LOADS]


def bump_ca(tb):
    """The per-run CA both bumping proxies sign with (P-256, one day, key 0600),
    made on first use: (certificate, key) paths."""
    ca, key = os.path.join(tb.root, "bump-ca.pem"), os.path.join(tb.root, "bump-ca-key.pem")
    if not os.path.exists(ca):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=awf bench CA", "-keyout", key, "-out", ca],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(key, 0o600)
    return ca, key


def squid_can_bump():
    """Whether the installed Squid is the OpenSSL build with its certificate
    generator (Debian's squid-openssl); the GnuTLS build cannot bump."""
    if not os.access(SQUID_CERTGEN, os.X_OK):
        return False
    r = subprocess.run([harness.SQUID_BIN, "-v"], capture_output=True, text=True)
    return "--with-openssl" in r.stdout


def start_bumping_squid(tb, policy):
    """Squid bumping every CONNECT with the per-run CA: peek at the client's
    hello (step 1, for the SNI), then bump; certificates minted by
    security_file_certgen into a per-run database and kept in memory (16 MB);
    the origin's certificate is the only trust for the connections to it, as
    for awf-bump, so nothing is accepted unverified."""
    ca, key = bump_ca(tb)
    db = os.path.join(tb.root, "squid-bump-ssl_db")
    subprocess.run([SQUID_CERTGEN, "-c", "-s", db, "-M", "16MB"], check=True, capture_output=True)
    user = harness.squid_user()
    if user:  # the helper runs as Squid's unprivileged user and writes there
        for parent, dirs, files in os.walk(db):
            for name in [parent] + [os.path.join(parent, n) for n in dirs + files]:
                os.chown(name, user.pw_uid, user.pw_gid)
    port_options = (f"ssl-bump tls-cert={ca} tls-key={key} generate-host-certificates=on "
                    "dynamic_cert_mem_cache_size=16MB")
    extra = [
        f"sslcrtd_program {SQUID_CERTGEN} -s {db} -M 16MB",
        "sslcrtd_children 4 startup=1 idle=1",
        f"tls_outgoing_options cafile={tb.origin_cert}",
        "acl step1 at_step SslBump1",
        "ssl_bump peek step1",
        "ssl_bump bump all",
    ]
    return tb.start_squid(policy, name="squid-bump", port_options=port_options, extra=extra)


def check_bump(proxy, ca):
    """One request the way a client trusting only the per-run CA makes it
    (certificate chain and name verified; awf-loadgen does not verify): CONNECT,
    TLS with SNI, GET /1k. Returns None when it worked, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10,
                                      source_address=(CLIENT_ADDR, 0)) as sock:
            sock.sendall(f"CONNECT {ORIGIN}:443 HTTP/1.1\r\nHost: {ORIGIN}:443\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    return "proxy closed the connection after CONNECT"
                head += chunk
            if not head.startswith(b"HTTP/1.1 200"):
                return "CONNECT answered " + head.split(b"\r\n", 1)[0].decode(errors="replace")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and name
            ctx.load_verify_locations(cafile=ca)  # the only trust
            with ctx.wrap_socket(sock, server_hostname=ORIGIN) as tls:
                tls.sendall(f"GET /1k HTTP/1.1\r\nHost: {ORIGIN}\r\nConnection: close\r\n\r\n".encode())
                reply = b""
                try:
                    while chunk := tls.recv(65536):
                        reply += chunk
                except ssl.SSLEOFError:
                    pass  # closed without close_notify after the response
            if not reply.startswith(b"HTTP/1.1 200"):
                return "GET answered " + reply.split(b"\r\n", 1)[0].decode(errors="replace")
            return None
    except (OSError, ssl.SSLError) as e:
        return f"{type(e).__name__}: {e}"


def start_bumping_awf(tb, opts, policy):
    """awf-proxy with the per-run CA and the origin's certificate as the only
    extra trust: what awf --ssl-bump runs."""
    ca, key = bump_ca(tb)
    extra = ["--threads", str(opts.awf_threads), "--log-level", "warn", "--ssl-bump-cert", ca, "--ssl-bump-key", key,
             "--ssl-bump-upstream-ca", tb.origin_cert] + opts.awf_arg
    return tb.start_awf_proxy(opts.awf_proxy, policy, name="awf-bump", extra=extra)


def run_loadgen(loadgen, proxy, args):
    argv = [loadgen, "--proxy", proxy.address, "--bind", CLIENT_ADDR, "--json", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "{}"
    result = json.loads(line)
    if r.returncode != 0:
        result["failed"] = r.stderr.strip() or "no successful request"
    return result


def measure_load(proxy, loadgen, load):
    before = harness.read_proc_cpu_ns(proxy.pid)
    result = run_loadgen(loadgen, proxy, load.args)
    time.sleep(0.3)  # let the proxy finish closing and logging what it has in flight
    after = harness.read_proc_cpu_ns(proxy.pid)
    cpu_s = (after - before) / 1e9
    units = result.get("requests", 0)
    if load.unit_bytes:
        units = result.get("bytes", 0) / load.unit_bytes
    result["cpu_s"] = cpu_s
    result["cpu_per_unit_us"] = cpu_s / units * 1e6 if units else None
    return result


def measure_idle(proxy, loadgen, tunnels):
    """Opens `tunnels` idle CONNECT tunnels to the echo origin and reads the proxy's
    memory while they are held."""
    argv = [loadgen, "--proxy", proxy.address, "--bind", CLIENT_ADDR, "--json", "--mode", "idle",
            "--target", f"{ECHO}:443", "--tunnels", str(tunnels), "-c", "64", "-d", "30", "--hold", "2"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held_mem = None
    end = time.monotonic() + 90
    buf = ""
    try:
        while time.monotonic() < end and held_mem is None:
            ready, _, _ = select.select([p.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(p.stderr.fileno(), 4096).decode()
                if not chunk:
                    break
                buf += chunk
                if "holding" in buf:
                    time.sleep(0.5)
                    held_mem = harness.read_proc_memory_kib(proxy.pid)
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    result["rss_held_kib"] = held_mem["VmRSS"] if held_mem else None
    return result


def start_floor(tb, binary, name="floor", extra=()):
    """awf-floor (bench/floor): no parsing, policy, DNS or logging, only the
    relaying every proxy must do; CONNECTs to DENIED get a canned 403. The
    same for awf-floor-uring (name "floor-uring"), which exits with a message
    where io_uring is unavailable: raised here, so that column is skipped."""
    out_path = os.path.join(tb.root, f"{name}.out")
    proc = tb.spawn([binary, "--listen", "127.0.0.1:0", "--upstream", tb.origin_ip, "--deny", DENIED, *extra], name)
    end = time.monotonic() + 10
    while time.monotonic() < end and proc.poll() is None:
        text = tb.output_of(name)
        if "listening on 127.0.0.1:" in text:
            port = int(text.split("listening on 127.0.0.1:", 1)[1].split()[0])
            return harness.Proxy(name, proc, port, tb.root)
        time.sleep(0.02)
    time.sleep(0.1)  # the last words of one that exited
    raise RuntimeError(f"{os.path.basename(binary)} did not start (exit {proc.poll()}): {tb.output_of(name).strip()} "
                       f"({out_path})")


def start_proxy(tb, kind, opts, policy):
    if kind == "squid":
        # Squid's own cap on descriptors (the harness sets 20000): as many as
        # this run's limit, so it can hold the same idle tunnels.
        return tb.start_squid(policy, extra=[f"max_filedescriptors {opts.fd_limit}"])
    if kind == "floor":
        return start_floor(tb, opts.floor)
    if kind == "floor-uring":
        return start_floor(tb, opts.floor_uring, "floor-uring", opts.floor_uring_arg)
    if kind == "awf-bump":
        return start_bumping_awf(tb, opts, policy)
    if kind == "squid-bump":
        return start_bumping_squid(tb, policy)
    # --max-connections: its default is derived from the fd limit and would stop
    # the idle-tunnel load before the tunnel count Squid is given.
    extra = ["--threads", str(opts.awf_threads), "--log-level", "warn",
             "--max-connections", str(opts.idle_tunnels + 100)] + opts.awf_arg
    return tb.start_awf_proxy(opts.awf_proxy, policy, extra=extra)


FD_HEADROOM = 2048  # listeners, logs, DNS, pooled pipes, upstream connections kept from the loads before


def raise_fd_limit(tunnels):
    """Lifts this process's RLIMIT_NOFILE (the proxies, the generator and the
    echo origin inherit it) so `tunnels` idle tunnels fit: each costs a proxy
    two descriptors and the generator and the origin one each. Root may raise
    the hard limit, up to fs.nr_open; anyone may raise the soft one to the hard
    one. Returns (limit, tunnels that fit)."""
    need = 2 * tunnels + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < need:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                ceiling = int(f.read())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, ceiling), min(need, ceiling)))
        except (OSError, ValueError):
            pass  # not root: the hard limit stays
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return limit, max(1, min(tunnels, (limit - FD_HEADROOM) // 2))


def best_round(rounds):
    """The round with the least CPU per unit: interference from other processes on
    a shared machine only ever adds CPU time, so the minimum is the best estimate."""
    measured = [r for r in rounds if r.get("cpu_per_unit_us") is not None]
    best = min(measured, key=lambda r: r["cpu_per_unit_us"]) if measured else dict(rounds[-1])
    best = dict(best)
    best["rounds_cpu_per_unit_us"] = [r.get("cpu_per_unit_us") for r in rounds]
    best["errors"] = sum(r.get("errors", 0) for r in rounds)
    return best


def measure_all(tb, kinds, opts, policy):
    """Both proxies run side by side; each round runs every load through each of
    them in turn (order alternating), so slow drifts in machine load hit both."""
    proxies, results = {}, {}
    try:
        for kind in kinds:
            try:
                proxies[kind] = start_proxy(tb, kind, opts, policy)
            except (RuntimeError, OSError) as e:
                print(f"compare.py: {kind} could not be started: {e}", file=sys.stderr)
                continue
            results[kind] = {"loads": {}, "rss_start_kib": harness.read_proc_memory_kib(proxies[kind].pid)["VmRSS"]}
            if kind in BUMP_KINDS:
                problem = check_bump(proxies[kind], bump_ca(tb)[0])
                results[kind]["bump_check"] = problem or "ok"
                if problem:
                    print(f"compare.py: {kind}: a client trusting only the per-run CA fails: {problem}",
                          file=sys.stderr)
        rounds = {kind: {} for kind in proxies}
        for rnd in range(opts.rounds):
            order = list(proxies.items())
            if rnd % 2:
                order.reverse()
            for load in selected_loads(opts):
                for kind, proxy in order:
                    if load.id not in {l.id for l in selected_loads(opts, kind)}:
                        continue
                    level = f", c={load.concurrency}" if load.concurrency else ""
                    print(f"  round {rnd + 1}/{opts.rounds} {kind}: {load.title}{level}", file=sys.stderr,
                          flush=True)
                    rounds[kind].setdefault(load.id, []).append(measure_load(proxy, opts.loadgen, load))
        for kind, per_load in rounds.items():
            results[kind]["loads"] = {key: best_round(rs) for key, rs in per_load.items()}
        for kind, proxy in proxies.items():
            if kind in ("floor", "floor-uring") or kind in BUMP_KINDS:
                continue  # holds no per-tunnel state worth comparing, or measures one load only
            if "idle" in opts.loads:
                print(f"  {kind}: {opts.idle_tunnels} idle tunnels", file=sys.stderr, flush=True)
                results[kind]["idle"] = measure_idle(proxy, opts.loadgen, opts.idle_tunnels)
                time.sleep(0.5)
            mem = harness.read_proc_memory_kib(proxy.pid)
            results[kind]["rss_after_kib"], results[kind]["hwm_kib"] = mem["VmRSS"], mem["VmHWM"]
            results[kind]["log_lines"] = len(proxy.log_lines("access.log"))
    finally:
        for proxy in proxies.values():
            tb.stop(proxy.proc)
    return results


def ratio(a, s):
    return a / s if a is not None and s else None


def fmt(v, spec="{:.1f}"):
    return "-" if v is None else spec.format(v)


def _print_rows(hdr, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    print(" | ".join(str(c).ljust(w) for c, w in zip(hdr, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def _latency(m):
    lat = (m or {}).get("latency_us", {})
    return f"{fmt(lat.get('p50'), '{:.0f}')}/{fmt(lat.get('p99'), '{:.0f}')}"


def print_table(results, opts):
    sq, aw, fl = results.get("squid"), results.get("awf-proxy"), results.get("floor")
    fu = results.get("floor-uring")  # bench/floor/floor_uring.cc; not in the verdicts
    bumped, sq_bumped = results.get("awf-bump"), results.get("squid-bump")
    hdr = ("load", "c", "squid CPU us", "awf CPU us", "floor CPU us", "floor-uring", "awf/squid", "target", "result",
           "awf/floor", f"<= {FLOOR_TARGET:.2f}", "p50/p99 us squid", "awf", "floor", "awf req/s", "errors s/a/f")
    rows = []
    for load in selected_loads(opts):
        if load.key in BUMP_LOADS:
            continue  # in their own table below
        s = (sq or {}).get("loads", {}).get(load.id, {})
        a = (aw or {}).get("loads", {}).get(load.id, {})
        f = (fl or {}).get("loads", {}).get(load.id, {})
        r = ratio(a.get("cpu_per_unit_us"), s.get("cpu_per_unit_us"))
        rf = ratio(a.get("cpu_per_unit_us"), f.get("cpu_per_unit_us"))
        verdict = "-" if r is None else ("ok" if r <= load.target else "MISS")
        floor_verdict = "-" if rf is None else ("ok" if rf <= FLOOR_TARGET else "MISS")
        rows.append((load.title, load.concurrency or 1, fmt(s.get("cpu_per_unit_us")), fmt(a.get("cpu_per_unit_us")),
                     fmt(f.get("cpu_per_unit_us")),
                     fmt((fu or {}).get("loads", {}).get(load.id, {}).get("cpu_per_unit_us")),
                     fmt(r, "{:.3f}"), f"<= 1/{round(1 / load.target)}", verdict,
                     fmt(rf, "{:.2f}"), floor_verdict, _latency(s), _latency(a), _latency(f), fmt(a.get("rps")),
                     f"{s.get('errors', '-')}/{a.get('errors', '-')}/{f.get('errors', '-')}"))
    if rows:
        print("CPU per unit, best round; awf/floor: what awf-proxy spends over awf-floor (bench/floor: relaying "
              "only, no parsing, policy, DNS or logging); latency from the loadgen, of the best round.\n")
        _print_rows(hdr, rows)

    mem_rows = []
    s_idle, a_idle = (sq or {}).get("idle", {}), (aw or {}).get("idle", {})
    s_held, a_held = s_idle.get("tunnels_held"), a_idle.get("tunnels_held")
    same_count = s_held is not None and s_held == a_held
    s, a = s_idle.get("rss_held_kib"), a_idle.get("rss_held_kib")
    r = ratio(a, s)
    verdict = "-" if r is None else ("ok" if r <= 0.2 else "MISS") if same_count else "n/a: counts differ"
    mem_rows.append(("RSS, idle tunnels held", "KiB", fmt(s, "{:.0f}"), fmt(a, "{:.0f}"), fmt(r, "{:.3f}"),
                     "<= 1/5", verdict, f"held {s_held if s_held is not None else '-'}",
                     f"held {a_held if a_held is not None else '-'}",
                     f"{s_idle.get('errors', '-')}/{a_idle.get('errors', '-')}"))

    def per_tunnel(side, idle):
        if not side or not idle.get("tunnels_held") or idle.get("rss_held_kib") is None:
            return None
        return (idle["rss_held_kib"] - side["rss_start_kib"]) / idle["tunnels_held"]

    s, a = per_tunnel(sq, s_idle), per_tunnel(aw, a_idle)
    r = ratio(a, s)
    mem_rows.append(("RSS per idle tunnel (held - start)", "KiB", fmt(s, "{:.2f}"), fmt(a, "{:.2f}"),
                     fmt(r, "{:.3f}"), "<= 1/5; awf <= 4", "-" if r is None else
                     ("ok" if r <= 0.2 and a <= 4 else "MISS"), "", "", ""))
    for key, title in (("rss_after_kib", "RSS after the loads"), ("hwm_kib", "peak RSS (VmHWM)"),
                       ("rss_start_kib", "RSS at start")):
        s, a = (sq or {}).get(key), (aw or {}).get(key)
        r = ratio(a, s)
        target = "<= 1/5" if key == "rss_after_kib" else ""
        verdict = "" if not target or r is None else ("ok" if r <= 0.2 else "MISS")
        mem_rows.append((title, "KiB", fmt(s, "{:.0f}"), fmt(a, "{:.0f}"), fmt(r, "{:.3f}"), target, verdict, "",
                         "", ""))
    print(f"\nMemory ({opts.idle_tunnels} idle tunnels asked, open-file limit {opts.fd_limit}):\n")
    _print_rows(("measure", "unit", "squid", "awf", "awf/squid", "target", "result", "squid", "awf", "errors s/a"),
                mem_rows)

    tls_rows = []
    for kind, key, how in (("squid", f"tunnel_tls@{opts.concurrency[0]}", "spliced"),
                           ("squid-bump", "tunnel_tls_bumped", "bumped"),
                           ("squid-bump", "tunnel_tls_bumped_ka", "bumped, keep-alive"),
                           ("awf-proxy", f"tunnel_tls@{opts.concurrency[0]}", "spliced"),
                           ("awf-bump", "tunnel_tls_bumped", "bumped"),
                           ("awf-bump", "tunnel_tls_bumped_ka", "bumped, keep-alive")):
        name = "squid" if kind.startswith("squid") else "awf-proxy"
        m = (results.get(kind) or {}).get("loads", {}).get(key)
        if not m:
            continue
        tls_rows.append((name, how, fmt(m.get("cpu_per_unit_us")), fmt(m.get("rps")), _latency(m),
                         str(m.get("errors", "-"))))
    if tls_rows and (bumped or sq_bumped):
        print(f"\nCONNECT + TLS + 1 KiB at c={opts.concurrency[0]}, spliced and bumped (no target; Squid bumps "
              "only in its OpenSSL build):\n")
        _print_rows(("proxy", "TLS", "CPU us/req", "req/s", "p50/p99 us", "errors"), tls_rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_build = os.path.join(REPO, "build-bench", "bin")
    ap.add_argument("--awf-proxy", default=os.path.join(default_build, "awf-proxy"))
    ap.add_argument("--loadgen", default=os.path.join(default_build, "awf-loadgen"))
    ap.add_argument("--floor", default=os.path.join(default_build, "awf-floor"),
                    help="awf-floor binary, measured as a third proxy (default build-bench/bin/awf-floor)")
    ap.add_argument("--no-floor", action="store_true", help="do not measure awf-floor")
    ap.add_argument("--floor-uring", default=os.path.join(default_build, "awf-floor-uring"),
                    help="awf-floor-uring binary (the floor on io_uring), its CPU shown in the floor-uring column "
                         "(default build-bench/bin/awf-floor-uring; skipped with a note where missing or where "
                         "io_uring is unavailable)")
    ap.add_argument("--no-floor-uring", action="store_true", help="do not measure awf-floor-uring")
    ap.add_argument("--floor-uring-arg", action="append", default=[], metavar="FLAG",
                    help="one more awf-floor-uring flag, repeatable (e.g. --floor-uring-arg=--splice-after=0)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per load and round (default 2)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of every load per proxy; the least CPU per unit is kept (default 3)")
    ap.add_argument("--concurrency", default="16,256",
                    help="comma list of concurrency levels (default 16,256): every load at the first, "
                         + ", ".join(sorted(HIGH_CONCURRENCY_LOADS)) + " again at the others")
    ap.add_argument("--bulk-count", type=int, default=6, help="100 MiB downloads per round in the bulk load (default 6)")
    ap.add_argument("--idle-tunnels", type=int, default=25000,
                    help="idle tunnels to hold (default 25000; the open-file limit is raised to fit them "
                         "where root may, else the count is capped to what the limit allows, and said)")
    ap.add_argument("--awf-threads", type=int, default=1)
    ap.add_argument("--awf-arg", action="append", default=[], metavar="FLAG",
                    help="one more awf-proxy flag, repeatable (e.g. --awf-arg=--tunnel-sni-check=off to measure "
                         "what a feature costs)")
    all_loads = [load.key for load in loads(argparse.Namespace(duration=1, concurrency=[1], bulk_count=1))] + ["idle"]
    ap.add_argument("--loads", default=",".join(all_loads),
                    help=f"comma list of loads to run (default all: {','.join(all_loads)})")
    ap.add_argument("--only", choices=["squid", "awf-proxy"], help="measure one proxy only (plus awf-floor)")
    ap.add_argument("--json", help="also write all measurements to this file")
    ap.add_argument("--keep-temp", action="store_true", help="keep the temp dir (configs, logs)")
    opts = ap.parse_args()
    opts.loads = [x.strip() for x in opts.loads.split(",") if x.strip()]
    try:
        opts.concurrency = [int(x) for x in opts.concurrency.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"compare.py: --concurrency {opts.concurrency!r}: expected a comma list of integers")
    if not opts.concurrency or min(opts.concurrency) < 1:
        sys.exit(f"compare.py: --concurrency {opts.concurrency!r}: levels must be 1 or more")
    asked = opts.idle_tunnels
    opts.fd_limit, opts.idle_tunnels = raise_fd_limit(asked)
    if "idle" in opts.loads and opts.idle_tunnels < asked:
        print(f"compare.py: idle tunnels capped at {opts.idle_tunnels} of {asked}: the open-file limit is "
              f"{opts.fd_limit} and could not be raised (a tunnel costs a proxy two descriptors)", file=sys.stderr)
    unknown = [x for x in opts.loads if x not in all_loads]
    if unknown:
        sys.exit(f"compare.py: --loads: unknown load {unknown[0]!r}; known: {', '.join(all_loads)}")

    for path, what in ((opts.loadgen, "awf-loadgen"),):
        if not os.access(path, os.X_OK):
            sys.exit(f"compare.py: {what} not found at {path}; build it with "
                     f"cmake --build build-bench --target {what}")
    kinds = [opts.only] if opts.only else ["squid", "awf-proxy"]
    if not opts.no_floor and opts.only != "squid":
        if not os.access(opts.floor, os.X_OK):
            sys.exit(f"compare.py: awf-floor not found at {opts.floor}; build it with "
                     f"cmake --build build-bench --target awf-floor (or --no-floor)")
        kinds.append("floor")
    if not opts.no_floor_uring and opts.only != "squid":
        if os.access(opts.floor_uring, os.X_OK):
            kinds.append("floor-uring")
        else:
            print(f"compare.py: awf-floor-uring not found at {opts.floor_uring} (built where liburing-dev is "
                  f"installed: cmake --build build-bench --target awf-floor-uring); its column stays empty",
                  file=sys.stderr)
    if BUMP_LOADS & set(opts.loads):
        if opts.only != "squid":
            kinds.append("awf-bump")
        if opts.only != "awf-proxy":
            if squid_can_bump():
                kinds.append("squid-bump")
            else:
                print(f"compare.py: this Squid cannot bump (needs the OpenSSL build, squid-openssl, and "
                      f"{SQUID_CERTGEN}); the bumped load is compared with Squid's spliced tunnel",
                      file=sys.stderr)
    if "awf-proxy" in kinds and not os.access(opts.awf_proxy, os.X_OK):
        sys.exit(f"compare.py: awf-proxy not found at {opts.awf_proxy} (--awf-proxy, or --only squid)")
    if {"squid", "squid-bump"} & set(kinds) and not os.path.exists(harness.SQUID_BIN):
        sys.exit("compare.py: squid is not installed (--only awf-proxy to skip it)")

    policy = harness.Policy(allow=[ORIGIN, ECHO])
    tb = harness.Testbed(prefix="awf-bench-")
    results = {}
    started = time.monotonic()
    try:
        tb.write_hosts({ORIGIN: tb.origin_ip, ECHO: tb.echo_ip, DENIED: tb.origin_ip})
        tb.start_origin({"/1k": 1024, "/100m": 100 * MIB})
        echo = tb.spawn([opts.loadgen, "--serve-echo", f"{tb.echo_ip}:443"], "echo")
        harness.wait_for_port(tb.echo_ip, 443, proc=echo)
        results = measure_all(tb, kinds, opts, policy)
    finally:
        tb.close(keep=opts.keep_temp)
        if opts.keep_temp:
            print(f"temp dir kept: {tb.root}", file=sys.stderr)
    print(f"\nawf-proxy vs Squid: {opts.rounds} rounds of {opts.duration:g} s per load, concurrency "
          f"{','.join(map(str, opts.concurrency))}; CPU = proxy CPU time (all threads) per unit, best round; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; total run {time.monotonic() - started:.0f} s\n")
    print_table(results, opts)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
