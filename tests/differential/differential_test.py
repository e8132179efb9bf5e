#!/usr/bin/env python3
"""Differential test: sends the same requests (curl through the proxy, and raw
sockets for a connection that sends nothing) through Squid configured the way awf
configures it and through awf-proxy, and checks that both answer with the same
status and write the same access.log (firewall_detailed) and audit.jsonl fields,
time, client ports and timing excepted.

Exit codes: 0 all cases pass, 1 a case failed, 77 skipped (squid or awf-proxy
missing; with CI=true a missing squid or awf-proxy fails instead).

Known, deliberate differences are compared loosely and documented in DOCUMENTED
below; gaps awf-proxy still has against Squid are listed in KNOWN_GAPS and reported
as XFAIL; everything else must match exactly.

Loopback stand-ins for awf's topology (see proxy_harness.squid_conf): requests come
from 127.0.0.20, which plays the agent (172.30.0.20) and so joins Squid's localnet;
all names resolve through one hosts file given to both proxies; the DNS server both
are pointed at is a loopback responder that answers NXDOMAIN. Observed on the way:
Squid logs a connection that sends nothing even from 127.0.0.1 (the src ACL of
!healthcheck_localhost cannot exclude it), so awf's own `nc -z` health probes would
reach its access.log too (inferred).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_harness as harness  # noqa: E402

AGENT_ADDR = "127.0.0.20"  # plays awf's agent at 172.30.0.20: in localnet, logged by Squid

# Deliberate or version-caused differences. Each is checked loosely where it applies.
DOCUMENTED = {
    "body": "403 bodies differ: Squid sends its ERR_ACCESS_DENIED HTML page, awf-proxy a short "
            "plain-text body naming the host and reason; only the status is compared.",
    "loopback-client": "awf's Squid does not log clients at 127.0.0.1/::1 (acl healthcheck_localhost); "
                       "awf-proxy logs them because in its topology the agent itself is on loopback "
                       "(a deliberate difference from awf). Checked: Squid logs nothing, awf-proxy logs the request.",
    "reason": "awf-proxy's audit.jsonl adds \"reason\" (the refusal's code, e.g. not_in_allowlist) to the "
              "records of refused requests; Squid's has no such key. It is checked to be present on every "
              "refused awf-proxy record and left out of the key comparison.",
    "schema": "audit.jsonl _schema carries the writer's version (audit/v<version>); only the "
              "'audit/v' prefix is compared.",
    "empty-request": "for a connection that sends nothing Squid 5.7 logs host '-', version '0.0' and "
                     "method '-' (JSON method \"-\"), while awf's reference sample shows version 1.1 and "
                     "method NONE; both spellings are accepted for those three fields, the rest "
                     "(status 0, NONE_NONE:HIER_NONE, dest -:-, url) must match.",
}


# Differences seen against the current awf-proxy that it should lose: the case still
# runs and prints every mismatch, but mismatches confined to the named log field are
# reported as XFAIL instead of failing the suite. Remove an entry when it XPASSes.
KNOWN_GAPS = {}


class Case:
    def __init__(self, name, url=None, status=None, curl_args=(), raw_empty=False, client=AGENT_ADDR,
                 is_connect=None, body=None, gap=None):
        self.name, self.url, self.status = name, url, status
        self.body, self.gap = body, gap
        self.curl_args, self.raw_empty, self.client = list(curl_args), raw_empty, client
        self.is_connect = is_connect if is_connect is not None else (
            url is not None and (url.startswith("https://") or "-p" in curl_args))


def cases(origin_ip):
    return [
        # plain domain: the host and every subdomain, both schemes
        Case("plain_domain_forward_get_is_allowed", "http://plain.test/1k", 200),
        Case("plain_domain_subdomain_forward_get_is_allowed", "http://sub.plain.test/1k", 200),
        Case("plain_domain_connect_is_allowed", "https://plain.test/1k", 200),
        Case("plain_domain_uppercase_host_is_allowed", "http://PLAIN.TEST/1k", 200),
        Case("plain_domain_does_not_match_lookalike", "http://notplain.test/1k", 403),
        Case("connect_to_port_80_of_allowed_domain_is_allowed", "http://plain.test/1k", 200,
             curl_args=["-p"]),
        Case("forward_post_passes_origin_status_through", "http://plain.test/1k", 405,
             curl_args=["-X", "POST", "-d", "x=1"]),
        # The origin answers /host with the Host header it received.
        Case("forward_get_forwards_the_url_host_not_the_client_host_header", "http://plain.test/host", 200,
             curl_args=["-H", "Host: other.test"], body="plain.test\n"),
        Case("forward_get_with_default_port_in_host_header_logs_bare_host", "http://plain.test/host", 200,
             curl_args=["-H", "Host: plain.test:80"], body="plain.test\n"),
        # Host logged as "-" when the client sent none (HTTP/1.0), the CONNECT
        # authority when the CONNECT's Host names something else
        Case("forward_get_without_host_header_logs_dash", "http://plain.test/1k", 200,
             curl_args=["-0", "-H", "Host:"]),
        Case("connect_logs_its_authority_not_its_host_header", "https://plain.test/1k", 200,
             curl_args=["--proxy-header", "Host: other.test:443"]),
        # the URL is logged as sent (escapes kept, query cut); quotes and
        # backslashes of the User-Agent are backslash-escaped
        Case("forward_url_escapes_are_logged_as_sent", "http://plain.test/a%20b%2Fc?q=1", 404),
        Case("user_agent_quotes_and_backslashes_are_escaped", "http://plain.test/1k", 200,
             curl_args=["-A", 'agent "x" \\y% [z]']),
        # wildcard pattern: needs at least one label before the suffix
        Case("wildcard_subdomain_forward_get_is_allowed", "http://api.wild.test/1k", 200),
        Case("wildcard_subdomain_connect_is_allowed", "https://deep.api.wild.test/1k", 200),
        Case("wildcard_does_not_match_bare_suffix", "http://wild.test/1k", 403),
        # blocklist beats allowlist, plain and pattern
        Case("blocked_subdomain_forward_get_is_denied", "http://blocked.plain.test/1k", 403),
        Case("blocked_subdomain_connect_is_denied", "https://blocked.plain.test/1k", 403),
        Case("blocked_pattern_connect_is_denied", "https://x.bw.plain.test/1k", 403),
        # protocol scope: http:// entries allow only plain requests, https:// only CONNECT
        Case("http_scoped_domain_forward_get_is_allowed", "http://httponly.test/1k", 200),
        Case("http_scoped_domain_connect_is_denied", "https://httponly.test/1k", 403),
        Case("https_scoped_domain_connect_is_allowed", "https://httpsonly.test/1k", 200),
        Case("https_scoped_domain_forward_get_is_denied", "http://httpsonly.test/1k", 403),
        # not in any list
        Case("unlisted_domain_forward_get_is_denied", "http://other.test/1k", 403),
        Case("unlisted_domain_connect_is_denied", "https://other.test/1k", 403),
        # ports other than 80/443
        Case("connect_to_bad_port_is_denied", "https://plain.test:8443/1k", 403),
        Case("forward_get_to_bad_port_is_denied", "http://plain.test:8080/1k", 403),
        # IP literals are denied even though the address is the allowed origin's
        Case("ipv4_literal_forward_get_is_denied", f"http://{origin_ip}/1k", 403),
        Case("ipv4_literal_connect_is_denied", f"https://{origin_ip}/1k", 403),
        # Squid URL-escapes the Host header in the text log ("%5B::1%5D:443") but not in
        # JSON; awf's logs carry exactly that, so it is compared strictly.
        Case("ipv6_literal_connect_is_denied", "https://[::1]/1k", 403),
        Case("ipv6_literal_forward_get_is_denied", "http://[::1]/1k", 403),
        Case("ipv6_literal_with_port_forward_get_is_denied", "http://[0:0::1]:8080/1k", 403),
        # a client that connects and sends nothing
        Case("empty_connection_logs_transaction_end_before_headers", raw_empty=True, status=0),
        # documented difference: loopback clients
        Case("loopback_client_is_logged_by_awf_proxy_only", "http://plain.test/1k", 200, client="127.0.0.1"),
    ]


POLICY = harness.Policy(
    allow=["plain.test", "*.wild.test", "http://httponly.test", "https://httpsonly.test"],
    block=["blocked.plain.test", "*.bw.plain.test"],
)
NAMES = ["plain.test", "sub.plain.test", "PLAIN.TEST", "notplain.test", "api.wild.test", "deep.api.wild.test",
         "wild.test", "blocked.plain.test", "x.bw.plain.test", "httponly.test", "httpsonly.test", "other.test"]


def run_request(proxy, case, body_path):
    """Returns the status the client saw: CONNECT's answer when the proxy refused the
    tunnel, else the final HTTP status; 0 for the empty connection. The response
    body goes to body_path."""
    if case.raw_empty:
        with socket.socket() as s:
            s.bind((case.client, 0))
            s.connect(("127.0.0.1", proxy.port))
            time.sleep(0.1)
        return 0
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    argv = ["curl", "-s", "-k", "-o", body_path, "-w", "%{http_code} %{http_connect}", "--max-time", "10",
            "--interface", case.client, "-x", f"http://{proxy.address}", *case.curl_args, case.url]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=20)
    code, connect = (int(x) for x in r.stdout.split())
    if case.is_connect and connect != 200:
        return connect
    return code


LOG_FIELDS = ["ts", "client", "host", "dest", "version", "method", "status", "decision", "url", "ua"]
TEXT_RE = re.compile(r'^(\d+\.\d+) (\S+) (\S+) (\S+) (\S+) (\S+) (\d+) (\S+) (\S+) "(.*)"$')


def parse_text(line):
    m = TEXT_RE.match(line)
    if not m:
        return None
    d = dict(zip(LOG_FIELDS, m.groups()))
    d["client_ip"], d["client_port"] = d.pop("client").rsplit(":", 1)
    return d


def compare_text(sq, aw, case, problems):
    s, a = parse_text(sq), parse_text(aw)
    if s is None or a is None:
        problems.append(("parse", f"access.log line does not parse: squid={sq!r} awf={aw!r}"))
        return
    loose = {"host": ("-", "-:0"), "version": ("0.0", "1.1"), "method": ("-", "NONE")} if case.raw_empty else {}
    for k in ["client_ip", "host", "dest", "version", "method", "status", "decision", "url", "ua"]:
        if k in loose and s[k] in loose[k] and a[k] in loose[k]:
            continue
        if s[k] != a[k]:
            problems.append((k, f"access.log {k}: squid {s[k]!r} vs awf-proxy {a[k]!r}"))


def compare_json(sq, aw, case, problems):
    try:
        s, a = json.loads(sq), json.loads(aw)
    except ValueError as e:
        problems.append(("parse", f"audit.jsonl line is not JSON ({e}): squid={sq!r} awf={aw!r}"))
        return
    refused = str(a.get("decision", "")).startswith("TCP_DENIED")
    if refused != ("reason" in a):
        problems.append(("reason", f"audit.jsonl reason {a.get('reason')!r} on a {a.get('decision')!r} record"))
    a = {k: v for k, v in a.items() if k != "reason"}
    if list(s.keys()) != list(a.keys()):
        problems.append(("keys", f"audit.jsonl keys/order: squid {list(s.keys())} vs awf-proxy {list(a.keys())}"))
    if not str(a.get("_schema", "")).startswith("audit/v"):
        problems.append(("_schema", f"audit.jsonl _schema {a.get('_schema')!r} does not start with audit/v"))
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", str(a.get("timestamp", ""))):
        problems.append(("timestamp", f"audit.jsonl timestamp {a.get('timestamp')!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ"))
    loose = {"host": ("-", "-:0"), "method": ("-", "NONE")} if case.raw_empty else {}
    for k in s:
        if k in ("_schema", "timestamp"):
            continue
        if k in loose and s[k] in loose[k] and a.get(k) in loose[k]:
            continue
        if s[k] != a.get(k):
            problems.append((k, f"audit.jsonl {k}: squid {s[k]!r} vs awf-proxy {a.get(k)!r}"))


def wait_for_lines(proxy, name, count, timeout):
    end = time.monotonic() + timeout
    while True:
        lines = proxy.log_lines(name)
        if len(lines) >= count or time.monotonic() >= end:
            return lines
        time.sleep(0.02)


def run_case(proxies, case, seen, scratch):
    """Runs one case through every proxy; returns (statuses, new log lines, problems),
    each problem a (field, message) pair."""
    statuses, new, bodies = {}, {}, {}
    for p in proxies:
        body_path = os.path.join(scratch, p.kind + ".body")
        statuses[p.kind] = run_request(p, case, body_path)
        if case.body is not None:
            with open(body_path, errors="replace") as f:
                bodies[p.kind] = f.read()
    for p in proxies:
        quiet = p.kind == "squid" and case.client == "127.0.0.1"
        for name in ("access.log", "audit.jsonl"):
            want = seen[p.kind][name] + (0 if quiet else 1)
            lines = wait_for_lines(p, name, want, 0.5 if quiet else 5.0)
            new[(p.kind, name)] = lines[seen[p.kind][name]:]
            seen[p.kind][name] = len(lines)
    problems = []
    for kind, status in statuses.items():
        if status != case.status:
            problems.append(("status", f"{kind} answered {status}, expected {case.status}"))
    for kind, body in bodies.items():
        if body != case.body:
            problems.append(("body", f"{kind} returned body {body!r}, expected {case.body!r}"))
    for (kind, name), lines in new.items():
        expect = 0 if (kind == "squid" and case.client == "127.0.0.1") else 1
        if len(lines) != expect:
            problems.append(("lines", f"{kind} wrote {len(lines)} {name} lines, expected {expect}: {lines}"))
    if len(proxies) == 2 and not problems and case.client != "127.0.0.1":
        compare_text(new[("squid", "access.log")][0], new[("awf-proxy", "access.log")][0], case, problems)
        compare_json(new[("squid", "audit.jsonl")][0], new[("awf-proxy", "audit.jsonl")][0], case, problems)
    return statuses, new, problems


def skip_or_fail(reason):
    return harness.skip_or_fail(reason, "differential test")


def main():
    ap = argparse.ArgumentParser(description="Squid vs awf-proxy differential test")
    ap.add_argument("--awf-proxy", required=True, help="path to the awf-proxy binary")
    ap.add_argument("--squid-only", action="store_true", help="run the cases through Squid only (debugging)")
    ap.add_argument("--case", help="run only cases whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every log line")
    opts = ap.parse_args()

    if not shutil.which("squid") and not os.path.exists(harness.SQUID_BIN):
        return skip_or_fail("squid is not installed (scripts/install-deps.sh installs it)")
    if not opts.squid_only and not os.access(opts.awf_proxy, os.X_OK):
        return skip_or_fail(f"awf-proxy is not built at {opts.awf_proxy}")
    if not shutil.which("curl"):
        return skip_or_fail("curl is not installed")
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if os.getuid() != 0 and int(f.read()) > 80:
            return skip_or_fail("the origin must listen on ports 80/443 (awf's Safe_ports): needs root")

    tb = harness.Testbed(prefix="awf-differential-")
    failed = 0
    gaps_seen = set()
    xfails = 0
    try:
        tb.write_hosts({n.lower(): tb.origin_ip for n in NAMES})
        tb.start_origin({"/1k": 1024})
        proxies = [tb.start_squid(POLICY)]
        if not opts.squid_only:
            proxies.append(tb.start_awf_proxy(opts.awf_proxy, POLICY))
        time.sleep(0.3)  # Squid logs the start-up port probe; count lines after it
        seen = {p.kind: {n: len(p.log_lines(n)) for n in ("access.log", "audit.jsonl")} for p in proxies}
        selected = [c for c in cases(tb.origin_ip) if not opts.case or opts.case in c.name]
        for case in selected:
            statuses, new, problems = run_case(proxies, case, seen, tb.root)
            gap_field = KNOWN_GAPS[case.gap][0] if case.gap else None
            if not problems:
                verdict = "XPASS" if case.gap and len(proxies) == 2 else "ok   "
            elif gap_field and all(field == gap_field for field, _ in problems):
                verdict = "XFAIL"
                gaps_seen.add(case.gap)
                xfails += 1
            else:
                verdict = "FAIL "
                failed += 1
            print(f"{verdict} {case.name}  status {statuses}")
            for _, message in problems:
                print(f"       - {message}")
            if opts.verbose or problems:
                for (kind, name), lines in new.items():
                    for line in lines:
                        print(f"       {kind:9} {name:11} {line}")
        print(f"\n{len(selected) - failed}/{len(selected)} cases passed"
              + (f" ({xfails} of them XFAIL on a known gap)" if xfails else ""))
        print("Documented differences (compared loosely):")
        for key, text in DOCUMENTED.items():
            print(f"  [{key}] {text}")
        if gaps_seen:
            print("Known gaps of awf-proxy seen in this run (XFAIL, to be fixed in awf-proxy):")
            for key in sorted(gaps_seen):
                print(f"  [{key}] {KNOWN_GAPS[key][1]}")
    except Exception as e:  # a broken test bed is a failure, with the reason
        print(f"FAIL: test bed error: {e}")
        failed += 1
    finally:
        tb.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
