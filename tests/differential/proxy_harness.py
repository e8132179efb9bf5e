"""Loopback test bed shared by the differential test and bench/compare.py: an nginx
origin (HTTP + HTTPS), a hosts file, Squid configured the way awf generates
squid.conf, and awf-proxy, each in its own temp dirs.

Everything listens on and connects to 127.0.0.0/8 only. Every process started
here is tracked and stopped by Testbed.close(), also when a test fails.
"""

import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

SQUID_BIN = shutil.which("squid") or "/usr/sbin/squid"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
AWF_VERSION = "0.23.1"  # the _schema version the reference log lines carry

# awf's log formats, verbatim from the squid.conf it generates (reference 3.1 item 2).
FIREWALL_DETAILED = ('logformat firewall_detailed %ts.%03tu %>a:%>p %{Host}>h %<a:%<p %rv %rm '
                     '%>Hs %Ss:%Sh %ru "%{User-Agent}>h"')
AUDIT_JSONL = ('logformat audit_jsonl {"_schema":"audit/v' + AWF_VERSION + '","timestamp":'
               '"%{%Y-%m-%dT%H:%M:%S}tg.%03tuZ","event":"http_access","client":"%>a",'
               '"host":"%{Host}>h","dest":"%<a:%<p","method":"%rm","status":%>Hs,'
               '"decision":"%Ss","url":"%ru"}')


@dataclass
class Policy:
    """The awf flags that shape squid.conf: --allow-domains, --block-domains."""
    allow: list
    block: list = field(default_factory=list)


SKIP = 77  # ctest's SKIP_RETURN_CODE for the Python tests


def skip_or_fail(reason, test_name):
    """A missing facility: a skip (exit SKIP), except under CI=true, where the
    test must run and so it fails (1) instead. Prints why either way."""
    if os.environ.get("CI", "").lower() == "true":
        print(f"FAIL: {reason} (CI=true: the {test_name} must run in CI)")
        return 1
    print(f"SKIP: {reason}")
    return SKIP


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout=10.0, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout}s")


class NxdomainResolver:
    """A UDP DNS server on a loopback address that answers every query with
    NXDOMAIN. Squid reverse-resolves IP-literal hosts while evaluating dstdom_regex
    ACLs; with no server at all each such request would wait for dns_timeout, with
    this one it gets the quick "no name" a real resolver would give. Nothing is
    ever forwarded anywhere."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(query) < 12:
                continue
            # Same id and question; QR=1, opcode copied, RD copied, RA=1, RCODE=3.
            flags = 0x8000 | (query[2] << 8 & 0x7900) | 0x0080 | 3
            answer = query[:2] + flags.to_bytes(2, "big") + query[4:6] + b"\0\0\0\0\0\0" + query[12:]
            try:
                self.sock.sendto(answer, peer)
            except OSError:
                pass

    def close(self):
        self.running = False
        self.sock.close()
        self.thread.join(1)


# ---- domain list -> Squid ACLs, as awf compiles them (reference 2.3) ----

def _split_protocol(entry):
    entry = entry.strip()
    proto = "both"
    if entry.startswith("http://"):
        proto, entry = "http", entry[len("http://"):]
    elif entry.startswith("https://"):
        proto, entry = "https", entry[len("https://"):]
    if entry.endswith("/"):
        entry = entry[:-1]
    return proto, entry


def _pattern_regex(pattern):
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("[a-zA-Z0-9.-]*")
        elif ch == ".":
            out.append("\\.")
        elif ch in "^$+?{}[]|()\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "^" + "".join(out) + "$"


def _dotted(d):
    return d if d.startswith(".") else "." + d


def squid_domain_acls(policy):
    """Returns (acl lines, {acl name: present}) for the allow and block lists."""
    lines, present = [], {}
    blocked_plain, blocked_re = [], []
    for e in policy.block:
        _, d = _split_protocol(e)
        (blocked_re if "*" in d else blocked_plain).append(d)
    if blocked_plain:
        lines.append("acl blocked_domains dstdomain " + " ".join(_dotted(d) for d in blocked_plain))
        present["blocked_domains"] = True
    for d in blocked_re:
        lines.append("acl blocked_domains_regex dstdom_regex -i " + _pattern_regex(d))
        present["blocked_domains_regex"] = True

    entries = [_split_protocol(e) for e in policy.allow]
    plain = [(p, d) for p, d in entries if "*" not in d]
    patterns = [(p, d) for p, d in entries if "*" in d]

    def covered(p, d):
        # Dropped when a parent plain entry or a pattern with a compatible protocol covers it.
        for op, od in plain:
            bare = od.lstrip(".")
            if d != od and d.lower().endswith("." + bare.lower()) and op in ("both", p):
                return True
        for op, od in patterns:
            if op in ("both", p) and re.match(_pattern_regex(od), d, re.I):
                return True
        return False

    names = {"both": "allowed_domains", "http": "allowed_http_only", "https": "allowed_https_only"}
    for proto in ("both", "http", "https"):
        kept = [d for p, d in plain if p == proto and not covered(p, d)]
        if kept:
            lines.append(f"acl {names[proto]} dstdomain " + " ".join(_dotted(d) for d in kept))
            present[names[proto]] = True
        for p, d in patterns:
            if p == proto:
                lines.append(f"acl {names[proto]}_regex dstdom_regex -i " + _pattern_regex(d))
                present[names[proto] + "_regex"] = True
    return lines, present


def squid_user():
    """The unprivileged account Squid switches to when started as root: Debian's
    'proxy' (uid 13, as in awf's container), else 'nobody'. None when not root."""
    if os.getuid() != 0:
        return None
    for name in ("proxy", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("Squid started as root needs an unprivileged user: neither 'proxy' nor 'nobody' exists")


def squid_conf(policy, port, run_dir, hosts_file, dns_server="127.0.0.1", user=None, port_options="", extra=()):
    """squid.conf in awf's emission order (reference 3.1), with the loopback changes
    marked 'loopback:'. Those are: listen on 127.0.0.1 only; the agent's role is
    played by 127.0.0.0/8 source addresses, so they join localnet; resolve only
    through the hosts file, DNS pointed at a loopback NXDOMAIN responder; temp paths; an unprivileged
    effective user. port_options follow the http_port address; extra lines go
    last (the benchmark's ssl-bump setup)."""
    acls, present = squid_domain_acls(policy)
    c = [
        "# squid.conf shaped like awf's, for loopback reference runs (proxy_harness.py)",
        "pinger_enable off",
        f"pid_filename {run_dir}/squid.pid",
        FIREWALL_DETAILED,
        AUDIT_JSONL,
        "acl healthcheck_localhost src 127.0.0.1 ::1",
        f"access_log stdio:{run_dir}/logs/access.log firewall_detailed !healthcheck_localhost",
        f"access_log stdio:{run_dir}/logs/audit.jsonl audit_jsonl !healthcheck_localhost",
        f"cache_log {run_dir}/logs/cache.log",
        "cache deny all",
        *acls,
        # loopback: instead of 3128 and [::]:3128
        f"http_port 127.0.0.1:{port}" + (f" {port_options}" if port_options else ""),
        "acl localnet src 10.0.0.0/8",
        "acl localnet src 172.16.0.0/12",
        "acl localnet src 192.168.0.0/16",
        "acl localnet src fc00::/7",
        "acl localnet src fe80::/10",
        "acl localnet src 127.0.0.0/8",  # loopback: the agent sits at 127.0.0.20
        "acl SSL_ports port 443",
        "acl Safe_ports port 80",
        "acl Safe_ports port 443",
        "acl CONNECT method CONNECT",
        "acl Safe_ports port 10000-10004",
        "http_access deny !Safe_ports",
        "http_access deny CONNECT !Safe_ports",
        "acl dst_ipv4 dstdom_regex ^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$",
        "acl dst_ipv6 dstdom_regex ^\\[?[0-9a-fA-F:]+\\]?$",
        "http_access deny dst_ipv4",
        "http_access deny dst_ipv6",
    ]
    for name in ("blocked_domains", "blocked_domains_regex"):
        if name in present:
            c.append(f"http_access deny {name}")
    for name in ("allowed_http_only", "allowed_http_only_regex"):
        if name in present:
            c.append(f"http_access allow !CONNECT {name}")
    for name in ("allowed_https_only", "allowed_https_only_regex"):
        if name in present:
            c.append(f"http_access allow CONNECT {name}")
    both = [n for n in ("allowed_domains", "allowed_domains_regex") if n in present]
    c.append("http_access deny " + " ".join("!" + n for n in both) if both else "http_access deny all")
    c += [
        "http_access allow localnet",
        "http_access allow localhost",
        "http_access deny all",
        "cache deny all",
        f"dns_nameservers {dns_server}",  # loopback: answers NXDOMAIN; names come from hosts_file
        f"hosts_file {hosts_file}",
        "forwarded_for delete",
        "via off",
        "error_directory /usr/share/squid/errors/en",
        "cache_mem 64 MB",
        "maximum_object_size 0 KB",
        "read_timeout 30 minutes",
        "connect_timeout 30 seconds",
        "request_timeout 2 minutes",
        "persistent_request_timeout 2 minutes",
        "pconn_timeout 2 minutes",
        "client_lifetime 8 hours",
        "half_closed_clients on",
        "shutdown_lifetime 0 seconds",
        # loopback: run-time plumbing awf's container provides some other way.
        *([f"cache_effective_user {user}"] if user else []),
        f"coredump_dir {run_dir}",
        "netdb_filename none",
        "udp_outgoing_address 127.0.0.1",
        "max_filedescriptors 20000",
        "logfile_rotate 0",
        *extra,
    ]
    return "\n".join(c) + "\n"


def read_proc_cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def read_proc_cpu_ns(pid):
    """CPU time of the whole process (all threads, live and exited) in
    nanoseconds, from its process CPU clock (clock_getcpuclockid(3): the
    scheduler's exact runtime, not 10 ms ticks); ticks when that clock is
    unavailable."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)  # CPUCLOCK_SCHED, whole process
    except OSError:
        return read_proc_cpu_ticks(pid) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def read_proc_memory_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


class Testbed:
    """Owns a temp dir and every process started in it."""

    def __init__(self, prefix="awf-testbed-"):
        self.root = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.root, 0o755)
        self.procs = []
        # A per-run loopback /24 so parallel test runs do not collide on ports 80/443.
        net = f"127.{random.randint(16, 250)}.{random.randint(1, 250)}"
        self.origin_ip = net + ".2"
        self.echo_ip = net + ".3"
        self.dns_ip = net + ".4"
        self.hosts_file = None
        self.resolver = NxdomainResolver(self.dns_ip)

    # -- processes --

    def spawn(self, argv, name, **kw):
        log = open(os.path.join(self.root, name + ".out"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw)
        proc.awf_name = name
        self.procs.append(proc)
        return proc

    def stop(self, proc, timeout=5.0):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self, keep=False):
        for proc in list(self.procs):
            self.stop(proc)
        self.resolver.close()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def output_of(self, name):
        try:
            with open(os.path.join(self.root, name + ".out"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # -- origin --

    def write_hosts(self, names):
        """names: {hostname: ip}. The same file is given to Squid and awf-proxy."""
        self.hosts_file = os.path.join(self.root, "hosts")
        with open(self.hosts_file, "w") as f:
            for name, ip in names.items():
                f.write(f"{ip} {name}\n")
        os.chmod(self.hosts_file, 0o644)
        return self.hosts_file

    def start_origin(self, files, workers=1):
        """nginx on origin_ip:80 and :443 (throwaway self-signed EC cert) serving
        files {url path: size in bytes}; one process, or a master and `workers`
        worker processes (bench/scale.py, so the origin is not what limits)."""
        d = os.path.join(self.root, "origin")
        www = os.path.join(d, "www")
        os.makedirs(www)
        for path, size in files.items():
            with open(os.path.join(www, path.lstrip("/")), "wb") as f:
                if size <= 1 << 20:
                    f.write(bytes((i * 7) % 251 for i in range(size)))
                else:
                    f.truncate(size)  # sparse; content does not matter for throughput
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=origin.test",
                        # Names a verifying client (awf-proxy bumping) checks.
                        "-addext", "subjectAltName=DNS:origin.bench.test,DNS:origin.test",
                        "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.origin_cert = cert
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, "tmp", sub))
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""# throwaway origin for proxy tests and benchmarks
daemon off;
master_process {"on" if workers > 1 else "off"};
worker_processes {workers};
worker_rlimit_nofile 19000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 18000; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type application/octet-stream;
  server {{
    listen {self.origin_ip}:80 reuseport;
    listen {self.origin_ip}:443 ssl reuseport;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_session_cache off;
    ssl_session_tickets off;
    root {www};
    # The Host header the origin received, so tests can see what a proxy forwarded.
    location = /host {{ default_type text/plain; return 200 "$http_host\n"; }}
  }}
}}
""")
        proc = self.spawn([NGINX_BIN, "-c", conf, "-p", d], "nginx")
        wait_for_port(self.origin_ip, 80, proc=proc)
        wait_for_port(self.origin_ip, 443, proc=proc)
        return proc

    # -- proxies --

    def start_squid(self, policy, name="squid", port_options="", extra=(), workers=1):
        """Squid on a free loopback port. workers > 1: its SMP mode (a master,
        `workers` kids and a coordinator), which -N would forbid, so it runs
        with --foreground instead."""
        if not os.path.exists(SQUID_BIN):
            raise FileNotFoundError("squid is not installed")
        run_dir = os.path.join(self.root, name)
        os.makedirs(os.path.join(run_dir, "logs"))
        user = squid_user()
        for p in (run_dir, os.path.join(run_dir, "logs")):
            os.chmod(p, 0o755)
            if user:  # Squid writes its logs after switching to this user
                os.chown(p, user.pw_uid, user.pw_gid)
        port = free_port()
        conf = os.path.join(run_dir, "squid.conf")
        with open(conf, "w") as f:
            f.write(squid_conf(policy, port, run_dir, self.hosts_file, self.dns_ip,
                               user.pw_name if user else None, port_options,
                               [*extra, f"workers {workers}"] if workers > 1 else extra))
        mode = ["--foreground"] if workers > 1 else ["-N"]
        proc = self.spawn([SQUID_BIN, *mode, "-f", conf], name)
        try:
            wait_for_port("127.0.0.1", port, timeout=20, proc=proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n--- squid output ---\n{self.output_of(name)}\n--- cache.log ---\n"
                               + _read(os.path.join(run_dir, "logs", "cache.log")))
        return Proxy("squid", proc, port, os.path.join(run_dir, "logs"))

    def start_awf_proxy(self, binary, policy, name="awf-proxy", extra=()):
        log_dir = os.path.join(self.root, name, "logs")
        os.makedirs(log_dir)
        argv = [binary, "--listen", "127.0.0.1:0",
                "--allow-domains", ",".join(policy.allow),
                "--hosts-file", self.hosts_file, "--dns-servers", self.dns_ip,
                "--allow-private-ranges", "127.0.0.0/8",
                "--log-dir", log_dir, "--log-format", "awf", *extra]
        if policy.block:
            argv += ["--block-domains", ",".join(policy.block)]
        out_path = os.path.join(self.root, name + ".out")
        log = open(out_path, "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.awf_name = name
        self.procs.append(proc)
        port = None
        end = time.monotonic() + 15
        while time.monotonic() < end:
            text = _read(out_path)
            for line in text.splitlines():
                if "listening on 127.0.0.1:" in line and port is None:
                    port = int(line.rsplit(":", 1)[1].split()[0])
            if port is not None and "awf-proxy: ready" in text:
                return Proxy("awf-proxy", proc, port, log_dir)
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"awf-proxy did not become ready (exit {proc.poll()}):\n{_read(out_path)}\n"
                           f"argv: {' '.join(argv)}")


@dataclass
class Proxy:
    kind: str
    proc: subprocess.Popen
    port: int
    log_dir: str

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def log_lines(self, name):
        return [l for l in _read(os.path.join(self.log_dir, name)).splitlines() if l.strip()]


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""
