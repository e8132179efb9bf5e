#!/usr/bin/env python3
"""bench/soak.py: holds awf-proxy under long concurrent loads and checks that it
gives back what the loads took: 10k idle CONNECT tunnels (TLS, held, then used),
5k SSE streams held 10 minutes, then WebSocket echo sessions, while the proxy's
RSS and open descriptors are sampled once a second; after the loads both must be
back within 10 % of the baseline, and every session must have worked (see
bench/README.md, "soak.py").

Loopback only: the origins are a second process of this script (`--serve-origin`)
on a per-run 127.x.y.2, port 80 (SSE and WebSocket echo) and 443 (TLS echo, the
tunnels' far end), named through a hosts file given to awf-proxy with a
--dns-servers resolver on loopback that answers nothing. Every process started
here is stopped at the end and every wait is bounded.

Exit status: 0 every check passed; 1 a check failed (the reasons are printed
last); 2 the run could not be set up (missing binary, not root, bad flag).
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

SSE_HOST = "sse.soak.test"
WS_HOST = "ws.soak.test"
TUNNEL_HOST = "tunnel.soak.test"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # the fixed GUID of RFC 6455's handshake
# The proxy's descriptors besides one per client and one per upstream socket:
# listeners, log files, the resolver, the relay's pooled splice pipes (at most 16
# pipes of 2 fds per I/O thread) and some margin.
PROXY_FD_RESERVE = 256
PIPE_POOL_FDS_PER_THREAD = 32


# --------------------------------------------------------------------------
# Origins: a separate process (so they run on the other core), asyncio.
# --------------------------------------------------------------------------

class Origin:
    """HTTP on :80 (GET /sse/GROUP/ID: a chunked event stream; GET /echo with
    an Upgrade: a WebSocket echo) and a TLS line echo on :443. Commands on stdin:
    `finish GROUP` ends that group's streams with an `end` event carrying the
    number of events sent; `stats` prints a JSON line of open connections."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.finished_groups = set()
        self.open = collections.Counter()  # kind -> connections open now
        self.total = collections.Counter()
        self.errors = collections.Counter()

    async def serve(self):
        loop = asyncio.get_running_loop()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.cfg["cert"], self.cfg["key"])
        ip = self.cfg["ip"]
        http = await asyncio.start_server(self.on_http, ip, 80, backlog=4096, reuse_address=True)
        echo = await asyncio.start_server(self.on_tls_echo, ip, 443, ssl=tls, backlog=4096, reuse_address=True,
                                          ssl_handshake_timeout=60)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print("origin: ready", flush=True)
        async with http, echo:
            while True:
                line = await reader.readline()
                if not line:
                    return
                words = line.decode().split()
                if words[:1] == ["finish"] and len(words) == 2:
                    self.finished_groups.add(words[1])
                    print(f"origin: finishing {words[1]}", flush=True)
                elif words[:1] == ["stats"]:
                    print("stats " + json.dumps({"open": dict(self.open), "total": dict(self.total),
                                                 "errors": dict(self.errors)}), flush=True)

    async def on_tls_echo(self, r, w):
        self.open["tunnel"] += 1
        self.total["tunnel"] += 1
        try:
            while True:
                line = await r.readline()
                if not line:
                    break
                w.write(line)
                await w.drain()
        except (ConnectionError, ssl.SSLError, OSError) as e:
            self.errors[f"tunnel {type(e).__name__}"] += 1
        finally:
            self.open["tunnel"] -= 1
            w.close()

    async def on_http(self, r, w):
        kind = "http"
        self.open[kind] += 1
        try:
            while True:
                try:
                    head = await r.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
                headers = {}
                for h in lines[1:]:
                    if ":" in h:
                        k, v = h.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                m = re.fullmatch(r"/sse/([\w-]+)/(\d+)\?interval_ms=(\d+)&count=(\d+)", target)
                if method == "GET" and m:
                    self.open[kind] -= 1
                    kind = "sse"
                    self.open[kind] += 1
                    self.total[kind] += 1
                    await self.sse(w, m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
                    continue
                if method == "GET" and target == "/echo" and headers.get("upgrade", "").lower() == "websocket":
                    self.open[kind] -= 1
                    kind = "ws"
                    self.open[kind] += 1
                    self.total[kind] += 1
                    await self.websocket(r, w, headers)
                    return
                body = b"not found\n"
                w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await w.drain()
        except (ConnectionError, OSError) as e:
            self.errors[f"{kind} {type(e).__name__}"] += 1
        finally:
            self.open[kind] -= 1
            w.close()

    async def sse(self, w, group, ident, interval_ms, count):
        """Events `id: N` / `data: ID N`, the first at once, then one every
        interval on a fixed schedule, until `count` were sent (0: until the group
        is finished); then an `end` event with the number sent and the last chunk."""
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        interval = interval_ms / 1000
        seq = 0
        due = time.monotonic()
        while group not in self.finished_groups and (count == 0 or seq < count):
            ev = b"id: %d\ndata: %d %d\n\n" % (seq, ident, seq)
            w.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            seq += 1
            await w.drain()
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        ev = b"event: end\ndata: %d\n\n" % seq
        w.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(ev), ev))
        await w.drain()

    async def websocket(self, r, w, headers):
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        w.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            try:
                opcode, payload = await ws_read_frame(r, expect_masked=True)
            except asyncio.IncompleteReadError:
                return
            if opcode == 0x8:  # close: answer with the same code, then end
                w.write(ws_frame(0x8, payload[:2], mask=False))
                await w.drain()
                return
            if opcode == 0x9:
                w.write(ws_frame(0xA, payload, mask=False))
            elif opcode in (0x1, 0x2):
                w.write(ws_frame(opcode, payload, mask=False))
            await w.drain()


def ws_frame(opcode, payload, mask):
    head = bytearray([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head.append(bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(bit | 127)
        head += n.to_bytes(8, "big")
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + ws_mask(payload, key)


def ws_mask(payload, key):
    n = len(payload)
    if not n:
        return b""
    k = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ k).to_bytes(n, "little")


async def ws_read_frame(r, expect_masked):
    b0, b1 = await r.readexactly(2)
    if not b0 & 0x80:
        raise ValueError("fragmented WebSocket frame (neither side sends them here)")
    if bool(b1 & 0x80) != expect_masked:
        raise ValueError(f"WebSocket frame {'un' if expect_masked else ''}masked")
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await r.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await r.readexactly(8), "big")
    key = await r.readexactly(4) if expect_masked else None
    payload = await r.readexactly(n)
    return b0 & 0x0F, ws_mask(payload, key) if key else payload


def serve_origin(cfg_json):
    cfg = json.loads(cfg_json)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(Origin(cfg).serve())
    except KeyboardInterrupt:
        pass
    return 0


# --------------------------------------------------------------------------
# Sampling awf-proxy
# --------------------------------------------------------------------------

def proc_sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return {"rss_kib": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


class Recorder:
    """One sample a second of the proxy's RSS and fds, the phase running and the
    client sessions open, plus the phases' start and end times."""

    def __init__(self, pid, t0):
        self.pid, self.t0 = pid, t0
        self.samples, self.phases = [], []
        self.phase = "start-up"
        self.open_sessions = 0
        self.proxy_exited = False

    def now(self):
        return round(time.monotonic() - self.t0, 2)

    def begin(self, name):
        self.phase = name
        self.phases.append({"name": name, "start_s": self.now(), "end_s": None})

    def end(self):
        self.phases[-1]["end_s"] = self.now()
        self.phase = "idle"

    def take(self):
        try:
            s = proc_sample(self.pid)
        except (OSError, StopIteration):
            self.proxy_exited = True
            return None
        s.update({"t_s": self.now(), "phase": self.phase, "sessions": self.open_sessions})
        self.samples.append(s)
        return s

    async def run(self):
        next_t = time.monotonic()
        while True:
            self.take()
            next_t += 1.0
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

class Phase:
    """Counts of one load: sessions that passed, failures by reason (a few
    examples kept), and figures the phase adds."""

    def __init__(self, name, wanted):
        self.name, self.wanted = name, wanted
        self.ok = 0
        self.failures = collections.Counter()
        self.examples = []
        self.figures = {}

    def fail(self, reason, detail=""):
        self.failures[reason] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{reason}: {detail}" if detail else reason)

    def as_dict(self):
        return {"wanted": self.wanted, "ok": self.ok, "failed": sum(self.failures.values()),
                "failures": dict(self.failures), "examples": self.examples, **self.figures}


async def read_head(r):
    head = (await r.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for h in lines[1:]:
        if ":" in h:
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def describe(e):
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class Client:
    def __init__(self, opts, proxy_port, ca_file, rec):
        self.opts, self.port, self.rec = opts, proxy_port, rec
        self.tls = ssl.create_default_context(cafile=ca_file)
        self.open_gate = asyncio.Semaphore(opts.open_concurrency)

    async def connect(self):
        return await asyncio.open_connection("127.0.0.1", self.port)

    # ---- (a) idle tunnels ----

    async def tunnel(self, i, phase, opened, release):
        """CONNECT, TLS through the tunnel, one echo; held until `release`;
        then another echo (still open and usable) and a clean close."""
        w = None
        held = False
        try:
            async with self.open_gate:
                async with asyncio.timeout(60):
                    r, w = await self.connect()
                    w.write(f"CONNECT {TUNNEL_HOST}:443 HTTP/1.1\r\nHost: {TUNNEL_HOST}:443\r\n"
                            "User-Agent: awf-soak\r\n\r\n".encode())
                    status, _ = await read_head(r)
                    if status != 200:
                        phase.fail(f"CONNECT answered {status}")
                        return
                    await w.start_tls(self.tls, server_hostname=TUNNEL_HOST)
                    probe = f"open {i} {random.getrandbits(64):x}\n".encode()
                    w.write(probe)
                    if await r.readline() != probe:
                        phase.fail("first echo differs")
                        return
            held = True
            self.rec.open_sessions += 1
            opened.append(i)
            await release.wait()
            async with self.open_gate:
                async with asyncio.timeout(60):
                    probe = f"close {i} {random.getrandbits(64):x}\n".encode()
                    w.write(probe)
                    line = await r.readline()
                    if not line:
                        phase.fail("tunnel closed while held")
                        return
                    if line != probe:
                        phase.fail("last echo differs", repr(line[:60]))
                        return
                    phase.ok += 1
        except TimeoutError:
            phase.fail("timeout" + (" after the hold" if held else " opening"))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError, ValueError) as e:
            phase.fail(type(e).__name__ + (" after the hold" if held else " opening"), describe(e))
        finally:
            if held:
                self.rec.open_sessions -= 1
            if w is not None:
                await close_writer(w)

    async def bare_tunnel(self, opened, release, failures):
        """A CONNECT answered 200 and held, no TLS: the peak warm-up's unit."""
        w = None
        try:
            async with self.open_gate:
                async with asyncio.timeout(30):
                    r, w = await self.connect()
                    w.write(f"CONNECT {TUNNEL_HOST}:443 HTTP/1.1\r\nHost: {TUNNEL_HOST}:443\r\n\r\n".encode())
                    status, _ = await read_head(r)
            if status != 200:
                failures[f"CONNECT answered {status}"] += 1
                return
            opened.append(1)
            await release.wait()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
            failures[type(e).__name__] += 1
        finally:
            if w is not None:
                w.transport.abort()

    async def run_tunnels(self, count, hold_s):
        phase = Phase("tunnels", count)
        opened, release = [], asyncio.Event()
        t = time.monotonic()
        tasks = [asyncio.create_task(self.tunnel(i, phase, opened, release)) for i in range(count)]
        # Every tunnel opened (or failed), bounded by the open rate a slow machine manages.
        deadline = t + 120 + count / 50
        while len(opened) + sum(phase.failures.values()) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        phase.figures["open_s"] = round(time.monotonic() - t, 1)
        phase.figures["held"] = len(opened)
        self.rec.take()
        held_from = time.monotonic()
        print(f"  tunnels: {len(opened)} of {count} open after {phase.figures['open_s']} s; holding {hold_s:g} s",
              file=sys.stderr, flush=True)
        await asyncio.sleep(hold_s)
        held_samples = [s for s in self.rec.samples if s["t_s"] >= held_from - self.rec.t0]
        release.set()
        await asyncio.wait(tasks, timeout=120 + count / 50)
        return phase, held_samples

    # ---- (b) SSE streams ----

    async def sse(self, i, phase, group, opened, streams, count=0):
        """One stream through the proxy (absolute-form GET): events must come in
        order with no gap, each within --max-gap-s of the last, until the origin's
        `end` event, whose count must equal the events read."""
        w = None
        st = {"last": None, "max_gap": 0.0, "events": 0, "writer": None}
        counted = False
        try:
            async with self.open_gate:
                async with asyncio.timeout(60):
                    r, w = await self.connect()
                    st["writer"] = w
                    path = f"/sse/{group}/{i}?interval_ms={self.opts.sse_interval_ms}&count={count}"
                    w.write(f"GET http://{SSE_HOST}{path} HTTP/1.1\r\nHost: {SSE_HOST}\r\n"
                            "Accept: text/event-stream\r\nUser-Agent: awf-soak\r\n\r\n".encode())
                    status, headers = await read_head(r)
                    if status != 200 or headers.get("transfer-encoding", "").lower() != "chunked":
                        phase.fail(f"answer {status}, transfer-encoding {headers.get('transfer-encoding')!r}")
                        return
            streams[i] = st
            opened.append(i)
            counted = True
            self.rec.open_sessions += 1
            buf = b""
            expected = 0
            while True:
                size_line = await r.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                data = await r.readexactly(size + 2)
                if data[-2:] != b"\r\n":
                    phase.fail("bad chunk framing")
                    return
                if size == 0:
                    phase.fail("stream ended without an end event")
                    return
                buf += data[:-2]
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    fields = dict(line.split(b": ", 1) for line in ev.split(b"\n"))
                    now = time.monotonic()
                    if fields.get(b"event") == b"end":
                        sent = int(fields[b"data"])
                        if sent != expected:
                            phase.fail("events lost", f"stream {i}: origin sent {sent}, read {expected}")
                            return
                        if await r.readexactly(5) != b"0\r\n\r\n":
                            phase.fail("no last chunk after the end event")
                            return
                        st["events"] = expected
                        phase.ok += 1
                        return
                    want = b"%d %d" % (i, expected)
                    if fields.get(b"data") != want or fields.get(b"id") != b"%d" % expected:
                        phase.fail("event out of order or from another stream",
                                   f"stream {i}: expected {want!r}, got {ev[:80]!r}")
                        return
                    if st["last"] is not None:
                        st["max_gap"] = max(st["max_gap"], now - st["last"])
                    st["last"] = now
                    expected += 1
                    st["events"] = expected
        except TimeoutError:
            phase.fail("timeout opening")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            phase.fail(("stalled: " if st.get("stalled") else "") + type(e).__name__, describe(e))
        finally:
            if counted:
                self.rec.open_sessions -= 1
            if w is not None:
                await close_writer(w)

    async def run_sse(self, count, hold_s, group, origin):
        phase = Phase("sse", count)
        opened, streams = [], {}
        max_gap = self.opts.max_gap_s
        t = time.monotonic()
        tasks = [asyncio.create_task(self.sse(i, phase, group, opened, streams)) for i in range(count)]
        deadline = t + 120 + count / 50
        while len(opened) + sum(phase.failures.values()) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        phase.figures["open_s"] = round(time.monotonic() - t, 1)
        phase.figures["held"] = len(opened)
        self.rec.take()
        held_from = time.monotonic()
        print(f"  sse: {len(opened)} of {count} streams open after {phase.figures['open_s']} s; "
              f"holding {hold_s:g} s", file=sys.stderr, flush=True)
        # The watchdog: a stream with no event for max_gap seconds is stalled.
        end = held_from + hold_s
        while time.monotonic() < end:
            await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
            now = time.monotonic()
            for st in streams.values():
                if st["last"] is not None and now - st["last"] > max_gap and not st.get("stalled") and \
                        st["writer"] is not None:
                    st["stalled"] = True
                    st["writer"].transport.abort()
        held_samples = [s for s in self.rec.samples if s["t_s"] >= held_from - self.rec.t0]
        origin.command(f"finish {group}")
        await asyncio.wait(tasks, timeout=max_gap + 60)
        gaps = [st["max_gap"] for st in streams.values() if st["events"] > 1]
        events = sum(st["events"] for st in streams.values())
        phase.figures.update({"events": events, "max_gap_s": round(max(gaps), 3) if gaps else None,
                              "gap_limit_s": max_gap})
        return phase, held_samples

    # ---- (c) WebSocket echo ----

    async def websocket(self, i, phase, messages, interval_s):
        """Upgrade through the proxy (absolute-form GET with Upgrade), then
        `messages` masked text/binary messages of varied sizes, each echo compared;
        then a close handshake (code 1000 back) and the end of the connection."""
        w = None
        counted = False
        rng = random.Random(i)
        try:
            async with self.open_gate:
                async with asyncio.timeout(60):
                    r, w = await self.connect()
                    key = base64.b64encode(os.urandom(16))
                    w.write(f"GET http://{WS_HOST}/echo HTTP/1.1\r\nHost: {WS_HOST}\r\nUpgrade: websocket\r\n"
                            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
                            "Sec-WebSocket-Version: 13\r\nUser-Agent: awf-soak\r\n\r\n".encode())
                    status, headers = await read_head(r)
                    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
                    if status != 101 or headers.get("sec-websocket-accept") != accept:
                        phase.fail(f"upgrade answered {status}" if status != 101 else "wrong Sec-WebSocket-Accept")
                        return
            counted = True
            self.rec.open_sessions += 1
            # Mostly small messages, some in the 16-bit length form, a few in the 64-bit one.
            for k in range(messages):
                size = rng.choice((0, 1, 17, 125, 126, 1000, 4096, 65535, 65536, 70000)) if k % 10 == 9 \
                    else rng.randrange(1, 126)
                opcode = 0x1 if k % 2 else 0x2
                body = rng.randbytes(size) if opcode == 0x2 else bytes(rng.choices(b"abcdefghij ", k=size))
                payload = (f"{i}:{k}:".encode() + body)[:size]
                async with asyncio.timeout(30):
                    w.write(ws_frame(opcode, payload, mask=True))
                    got_op, got = await ws_read_frame(r, expect_masked=False)
                if got_op != opcode or got != payload:
                    phase.fail("echo differs", f"session {i} message {k}: opcode {got_op}, {len(got)} of "
                                               f"{len(payload)} bytes")
                    return
                phase.figures["messages"] = phase.figures.get("messages", 0) + 1
                if interval_s:
                    await asyncio.sleep(interval_s)
            async with asyncio.timeout(30):
                w.write(ws_frame(0x8, (1000).to_bytes(2, "big"), mask=True))
                got_op, got = await ws_read_frame(r, expect_masked=False)
                if got_op != 0x8 or got[:2] != (1000).to_bytes(2, "big"):
                    phase.fail("no close frame back", f"opcode {got_op}")
                    return
                if await r.read(1) != b"":
                    phase.fail("bytes after the close frame")
                    return
            phase.ok += 1
        except TimeoutError:
            phase.fail("timeout")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            phase.fail(type(e).__name__, describe(e))
        finally:
            if counted:
                self.rec.open_sessions -= 1
            if w is not None:
                await close_writer(w)

    async def run_websockets(self, count, messages, interval_s):
        phase = Phase("websocket", count)
        t = time.monotonic()
        await asyncio.gather(*(self.websocket(i, phase, messages, interval_s) for i in range(count)))
        phase.figures["run_s"] = round(time.monotonic() - t, 1)
        phase.figures.setdefault("messages", 0)
        return phase


async def close_writer(w):
    w.close()
    try:
        async with asyncio.timeout(5):
            await w.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        w.transport.abort()


# --------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------

class OriginProcess:
    def __init__(self, proc):
        self.proc = proc
        self.lines = []

    def command(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    async def stats(self):
        self.command("stats")
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, self.proc.stdout.readline)
            if not line:
                return None
            line = line.decode()
            if line.startswith("stats "):
                return json.loads(line[6:])


def make_certificate(d, ip):
    """A throwaway self-signed P-256 certificate for TUNNEL_HOST (one day); the
    clients trust exactly it, so every tunnel's TLS is verified end to end."""
    cert, key = os.path.join(d, "tunnel-cert.pem"), os.path.join(d, "tunnel-key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", f"/CN={TUNNEL_HOST}",
                        "-addext", f"subjectAltName=DNS:{TUNNEL_HOST},IP:{ip}", "-keyout", key, "-out", cert],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"openssl req failed: {r.stderr.strip()}")
    return cert, key


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, hard


def settled(samples, n=3):
    """The median RSS and fds of the last n samples."""
    tail = samples[-n:]
    return {"rss_kib": statistics.median(s["rss_kib"] for s in tail),
            "fds": statistics.median(s["fds"] for s in tail)}


async def wait_settled(rec, baseline, tolerance, limit_s):
    """Samples until RSS and fds are within tolerance of the baseline for three
    samples in a row, or limit_s passed (then the last three are the figure)."""
    end = time.monotonic() + limit_s
    await asyncio.sleep(2.5)
    while time.monotonic() < end:
        now = settled(rec.samples)
        if all(now[k] <= baseline[k] * (1 + tolerance) for k in ("rss_kib", "fds")):
            break
        await asyncio.sleep(1.0)
    return settled(rec.samples)


async def warm_up(client, rec, peak):
    """Sessions of each kind before the baseline, so what awf-proxy keeps by
    design after a first use is in the baseline, not counted as growth: the
    relay's pooled splice pipes, the idle upstream connections it parks for
    reuse (16 per origin and thread, closed after 60 s idle), the resolver's
    cache, OpenSSL's tables. With `peak` (--peak-warm-up), also that many bare
    CONNECTs open at once: Asio's reactor keeps one record (about 200 bytes)
    per socket ever open at the same time, for reuse; awf-proxy makes them
    ahead in batches, up to 32768, and records made beyond those during a load
    pin the heap pages they lie in. Returns what the peak warm-up saw."""
    tunnels = Phase("warm-up tunnels", 64)
    opened, release = [], asyncio.Event()
    release.set()
    await asyncio.gather(*(client.tunnel(i, tunnels, opened, release) for i in range(64)))
    sse = Phase("warm-up sse", 64)
    await asyncio.gather(*(client.sse(i, sse, "warmup", [], {}, count=3) for i in range(64)))
    ws = Phase("warm-up websocket", 16)
    await asyncio.gather(*(client.websocket(i, ws, 10, 0) for i in range(16)))
    problems = [f"{p.name}: {p.ok} of {p.wanted} passed {dict(p.failures)} {p.examples}"
                for p in (tunnels, sse, ws) if p.ok != p.wanted]
    if problems:
        raise RuntimeError("warm-up through awf-proxy failed: " + "; ".join(problems))
    if not peak:
        return None
    opened, failures, release = [], collections.Counter(), asyncio.Event()
    tasks = [asyncio.create_task(client.bare_tunnel(opened, release, failures)) for _ in range(peak)]
    deadline = time.monotonic() + 60 + peak / 100
    while len(opened) + sum(failures.values()) < peak and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    held = len(opened)
    top = rec.take()
    release.set()
    await asyncio.wait(tasks, timeout=30)
    if held < peak:
        raise RuntimeError(f"peak warm-up: {held} of {peak} CONNECTs opened; failures {dict(failures)}")
    return {"connects": peak, "rss_kib": top["rss_kib"] if top else None, "fds": top["fds"] if top else None}


def phase_summary(name, held_samples, baseline, held):
    if not held_samples:
        return {}
    peak_rss = max(s["rss_kib"] for s in held_samples)
    med_rss = statistics.median(s["rss_kib"] for s in held_samples)
    peak_fds = max(s["fds"] for s in held_samples)
    out = {"peak_rss_kib": peak_rss, "median_rss_kib": med_rss, "peak_fds": peak_fds,
           "rss_first_kib": held_samples[0]["rss_kib"], "rss_last_kib": held_samples[-1]["rss_kib"]}
    if held:
        out["rss_per_session_kib"] = round((med_rss - baseline["rss_kib"]) / held, 2)
        out["fds_per_session"] = round((peak_fds - baseline["fds"]) / held, 2)
    return out


async def soak(opts, tb, proxy, origin, ca_file, results):
    t0 = time.monotonic()
    rec = Recorder(proxy.pid, t0)
    sampler = asyncio.create_task(rec.run())
    client = Client(opts, proxy.port, ca_file, rec)
    verdicts = []
    try:
        await asyncio.sleep(1.2)
        results["start_up"] = settled(rec.samples, 1)
        rec.begin("warm-up")
        peak = max(opts.tunnels, opts.streams, opts.ws_sessions) if opts.peak_warm_up else 0
        results["warm_up"] = await warm_up(client, rec, peak)
        rec.end()
        # The baseline: three samples, repeated while RSS still moves by more
        # than 1 %. (A heap trim after it can only lower the figures after the
        # load, which are held to the upper bound alone.)
        await asyncio.sleep(1.5 if not peak else 10.5)
        rec.begin("baseline")
        end = time.monotonic() + 20
        await asyncio.sleep(2.5)
        while time.monotonic() < end:
            tail = [s["rss_kib"] for s in rec.samples[-3:]]
            if max(tail) <= min(tail) * 1.01:
                break
            await asyncio.sleep(1.0)
        rec.end()
        baseline = settled(rec.samples)
        results["baseline"] = baseline
        results["origin_at_baseline"] = await origin.stats()
        wu = results["warm_up"]
        print(f"  start-up: RSS {results['start_up']['rss_kib']:.0f} KiB, {results['start_up']['fds']:.0f} fds; "
              + (f"peak warm-up ({peak} CONNECTs): RSS {wu['rss_kib']} KiB; " if wu else "")
              + f"baseline after the warm-up: RSS {baseline['rss_kib']:.0f} KiB, {baseline['fds']:.0f} fds",
              file=sys.stderr, flush=True)
        phases = {}
        tol = opts.tolerance_pct / 100

        if opts.tunnels:
            rec.begin("tunnels")
            ph, held = await client.run_tunnels(opts.tunnels, opts.tunnel_hold_s)
            rec.end()
            ph.figures.update(phase_summary("tunnels", held, baseline, ph.figures["held"]))
            ph.figures["after"] = await wait_settled(rec, baseline, tol, opts.settle_s)
            phases["tunnels"] = ph
        if opts.streams:
            rec.begin("sse")
            ph, held = await client.run_sse(opts.streams, opts.sse_duration_s, "soak", origin)
            rec.end()
            ph.figures.update(phase_summary("sse", held, baseline, ph.figures["held"]))
            ph.figures["after"] = await wait_settled(rec, baseline, tol, opts.settle_s)
            phases["sse"] = ph
        if opts.ws_sessions:
            rec.begin("websocket")
            n0 = len(rec.samples)
            ph = await client.run_websockets(opts.ws_sessions, opts.ws_messages, opts.ws_interval_ms / 1000)
            rec.end()
            ph.figures.update(phase_summary("websocket", rec.samples[n0:], baseline, 0))
            phases["websocket"] = ph
        rec.begin("settle")
        final = await wait_settled(rec, baseline, tol, opts.settle_s)
        rec.end()
        results["final"] = final
        results["phases"] = {k: v.as_dict() for k, v in phases.items()}
        stats = await origin.stats()
        results["origin"] = stats

        # The verdicts.
        for k in ("rss_kib", "fds"):
            pct = 100 * (final[k] - baseline[k]) / baseline[k]
            results[f"{k}_return_pct"] = round(pct, 1)
            start = results["start_up"][k]
            results[f"{k}_vs_start_up_pct"] = round(100 * (final[k] - start) / start, 1)
            if final[k] > baseline[k] * (1 + tol):
                verdicts.append(f"{'RSS' if k == 'rss_kib' else 'open fds'} did not return to the baseline: "
                                f"{final[k]:.0f} after the load, {baseline[k]:.0f} before ({pct:+.1f} %, "
                                f"limit +{opts.tolerance_pct:g} %)")
        for name, ph in phases.items():
            if ph.ok != ph.wanted:
                verdicts.append(f"{name}: {ph.ok} of {ph.wanted} sessions passed; failures "
                                f"{dict(ph.failures)}; e.g. {ph.examples[:3]}")
        if stats is None:
            verdicts.append("the origin process stopped answering")
        else:
            # Idle upstream connections the proxy parks for reuse (a bounded pool,
            # filled by the warm-up too) stay open; more than at the baseline
            # would be connections it lost track of.
            before = (results.get("origin_at_baseline") or {}).get("open", {})
            left = {k: v for k, v in stats["open"].items() if v > before.get(k, 0)}
            if left:
                verdicts.append(f"connections to the origin still open after the load: {left}, at the "
                                f"baseline: {before}")
        if rec.proxy_exited or proxy.proc.poll() is not None:
            verdicts.append(f"awf-proxy exited during the run (status {proxy.proc.poll()})")
    finally:
        sampler.cancel()
        results["samples"] = rec.samples
        results["phase_times"] = rec.phases
    return verdicts


def plot(results, png):
    """RSS (MiB) and open fds against time, the load phases shaded, the
    baseline and its tolerance drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = results["samples"]
    t = [x["t_s"] for x in s]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(11, 6.5))
    ax1.plot(t, [x["rss_kib"] / 1024 for x in s], color="tab:blue", lw=1.2)
    ax2.plot(t, [x["fds"] for x in s], color="tab:red", lw=1.2)
    ax1.set_ylabel("awf-proxy RSS (MiB)")
    ax2.set_ylabel("awf-proxy open fds")
    ax2.set_xlabel("seconds since start")
    tol = results["config"]["tolerance_pct"] / 100
    base = results.get("baseline")
    colours = {"warm-up": "0.85", "baseline": "0.7", "tunnels": "tab:green", "sse": "tab:orange",
               "websocket": "tab:purple", "settle": "0.85"}
    for k, ph in enumerate(results.get("phase_times", [])):
        end = ph["end_s"] if ph["end_s"] is not None else t[-1] if t else ph["start_s"]
        for ax in (ax1, ax2):
            ax.axvspan(ph["start_s"], end, color=colours.get(ph["name"], "0.9"), alpha=0.18, lw=0)
        # Labels on three staggered rows: short phases lie close together.
        ax1.annotate(ph["name"], xy=(ph["start_s"], 1.0), xycoords=("data", "axes fraction"),
                     xytext=(2, -11 - 11 * (k % 3)), textcoords="offset points", fontsize=8)
    if base:
        for ax, k, scale in ((ax1, "rss_kib", 1024), (ax2, "fds", 1)):
            ax.axhline(base[k] / scale, color="k", lw=0.8, ls="--")
            ax.axhline(base[k] * (1 + tol) / scale, color="k", lw=0.6, ls=":")
    verdict = "PASS" if results.get("pass") else "FAIL"
    fig.suptitle(f"awf-proxy soak: {verdict}; baseline dashed, +{tol * 100:g} % dotted", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write_plot(results, json_path, png):
    """Plots here if this Python has matplotlib, else with the system python3
    (where python3-matplotlib installs it). Returns an error text or None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        for py in ("/usr/bin/python3",):
            if os.path.realpath(py) != os.path.realpath(sys.executable) and os.access(py, os.X_OK):
                r = subprocess.run([py, os.path.abspath(__file__), "--plot-only", json_path, png],
                                   capture_output=True, text=True, timeout=120)
                return None if r.returncode == 0 else (r.stderr.strip() or r.stdout.strip())
        return "matplotlib is not installed (scripts/install-deps.sh installs python3-matplotlib)"
    plot(results, png)
    return None


def print_report(opts, results, verdicts):
    base, final = results.get("baseline"), results.get("final")
    print(f"\nawf-proxy soak, {results['environment']['cpus']} CPUs, RLIMIT_NOFILE {results['environment']['nofile']}, "
          f"total {results.get('run_s', 0):.0f} s")
    for note in results.get("notes", []):
        print(f"  note: {note}")
    if base:
        su, wu = results["start_up"], results.get("warm_up")
        print(f"  start-up: RSS {su['rss_kib']:.0f} KiB, {su['fds']:.0f} fds"
              + (f"; peak warm-up ({wu['connects']} CONNECTs at once): RSS {wu['rss_kib']} KiB, {wu['fds']} fds"
                 if wu else ""))
        print(f"  baseline (after the warm-up): RSS {base['rss_kib']:.0f} KiB, {base['fds']:.0f} fds")
    for name, ph in results.get("phases", {}).items():
        extra = ""
        if name == "sse":
            extra = f", {ph.get('events')} events, largest gap {ph.get('max_gap_s')} s"
        if name == "websocket":
            extra = f", {ph.get('messages')} messages echoed in {ph.get('run_s')} s"
        print(f"  {name}: {ph['ok']} of {ph['wanted']} passed{extra}"
              + (f", failures {ph['failures']}" if ph["failed"] else ""))
        if "peak_rss_kib" in ph:
            per = ph.get("rss_per_session_kib")
            print(f"    held {ph.get('held', '-')}: peak RSS {ph['peak_rss_kib']} KiB (first {ph['rss_first_kib']}, "
                  f"last {ph['rss_last_kib']}), peak fds {ph['peak_fds']}"
                  + (f", {per} KiB RSS and {ph.get('fds_per_session')} fds per session" if per is not None else "")
                  + (f"; after: RSS {ph['after']['rss_kib']:.0f} KiB, {ph['after']['fds']:.0f} fds"
                     if ph.get("after") else ""))
    if final:
        print(f"  after the load: RSS {final['rss_kib']:.0f} KiB ({results['rss_kib_return_pct']:+.1f} %), "
              f"{final['fds']:.0f} fds ({results['fds_return_pct']:+.1f} %); limit +{opts.tolerance_pct:g} %; "
              f"against start-up: RSS {results['rss_kib_vs_start_up_pct']:+.1f} %, "
              f"fds {results['fds_vs_start_up_pct']:+.1f} %")
    if results.get("origin"):
        print(f"  origin: connections served {results['origin']['total']}, open after the load "
              f"{results['origin']['open']}, at the baseline {(results.get('origin_at_baseline') or {}).get('open')}")
    print("PASS" if not verdicts else "FAIL:\n  " + "\n  ".join(verdicts))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve-origin":
        return serve_origin(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "--plot-only":
        with open(sys.argv[2]) as f:
            plot(json.load(f), sys.argv[3])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--awf-proxy", default=os.path.join(REPO, "build", "bin", "awf-proxy"))
    ap.add_argument("--tunnels", type=int, default=10000,
                    help="idle CONNECT tunnels held at once (default 10000; capped by the fd limit, said)")
    ap.add_argument("--tunnel-hold-s", type=float, default=60, help="how long they are held idle (default 60)")
    ap.add_argument("--streams", type=int, default=5000, help="SSE streams held at once (default 5000)")
    ap.add_argument("--sse-duration-s", type=float, default=600, help="how long they are held (default 600)")
    ap.add_argument("--sse-interval-ms", type=int, default=1000,
                    help="the origin's pause between two events of a stream (default 1000)")
    ap.add_argument("--max-gap-s", type=float, default=None,
                    help="a stream with no event for this long is stalled, a failure "
                         "(default: 10 intervals, at least 5 s)")
    ap.add_argument("--ws-sessions", type=int, default=1000, help="concurrent WebSocket sessions (default 1000)")
    ap.add_argument("--ws-messages", type=int, default=100, help="messages each session sends (default 100)")
    ap.add_argument("--ws-interval-ms", type=int, default=100,
                    help="pause between a session's messages (default 100)")
    ap.add_argument("--open-concurrency", type=int, default=256,
                    help="sessions being opened (or checked) at once (default 256)")
    ap.add_argument("--tolerance-pct", type=float, default=10,
                    help="how far above the baseline RSS and fds may end (default 10)")
    ap.add_argument("--settle-s", type=float, default=15,
                    help="after a load, seconds allowed for RSS and fds to come back (default 15)")
    ap.add_argument("--peak-warm-up", action="store_true",
                    help="before the baseline, also open as many bare CONNECTs at once as the largest load "
                         "holds, so what the proxy keeps per peak socket is in the baseline")
    ap.add_argument("--proxy-threads", type=int, default=None, help="awf-proxy --threads (default: its own)")
    ap.add_argument("--proxy-arg", action="append", default=[], help="one more awf-proxy flag, repeatable")
    ap.add_argument("--out", default=None,
                    help="directory for soak.json and soak.png (default: a new awf-soak-* in the temp dir)")
    ap.add_argument("--no-plot", action="store_true", help="write no PNG")
    ap.add_argument("--keep-temp", action="store_true", help="keep the run's temp dir (logs, certificate)")
    opts = ap.parse_args()
    for name in ("tunnels", "streams", "ws_sessions", "ws_messages"):
        if getattr(opts, name) < 0:
            ap.error(f"--{name.replace('_', '-')} {getattr(opts, name)}: must be 0 or more")
    for name in ("tunnel_hold_s", "sse_duration_s", "sse_interval_ms", "open_concurrency", "settle_s"):
        if getattr(opts, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} {getattr(opts, name)}: must be positive")
    if opts.ws_interval_ms < 0 or opts.tolerance_pct < 0:
        ap.error("--ws-interval-ms and --tolerance-pct must be 0 or more")
    if opts.max_gap_s is None:
        opts.max_gap_s = max(5.0, 10 * opts.sse_interval_ms / 1000)
    if not os.access(opts.awf_proxy, os.X_OK):
        print(f"soak.py: awf-proxy not found at {opts.awf_proxy}; build it (cmake --build build --target "
              "awf-proxy) or pass --awf-proxy", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("soak.py: needs root: the origins listen on ports 80 and 443, the only ports awf-proxy dials",
              file=sys.stderr)
        return 2
    if not shutil.which("openssl"):
        print("soak.py: needs the openssl command (scripts/install-deps.sh installs it)", file=sys.stderr)
        return 2

    sys.path.insert(0, os.path.join(REPO, "tests", "differential"))
    import proxy_harness as harness

    soft, hard = raise_nofile()
    notes = []
    threads = opts.proxy_threads or os.cpu_count() or 1
    reserve = PROXY_FD_RESERVE + PIPE_POOL_FDS_PER_THREAD * threads
    # The proxy holds two sockets per tunnel or stream (client and origin); this
    # process and the origin one each, so the proxy is the first to run out.
    cap = (hard - reserve) // 2
    if soft != hard:
        notes.append(f"soft RLIMIT_NOFILE raised from {soft} to the hard limit {hard}")
    for name in ("tunnels", "streams", "ws_sessions"):
        wanted = getattr(opts, name)
        if wanted > cap:
            setattr(opts, name, cap)
            notes.append(f"{name.replace('_', ' ')}: {cap} instead of {wanted}: awf-proxy holds 2 descriptors "
                         f"per session plus about {reserve} of its own, and the hard RLIMIT_NOFILE is {hard} "
                         "(raising it needs CAP_SYS_RESOURCE)")
    for n in notes:
        print(f"soak.py: {n}", file=sys.stderr, flush=True)

    out_dir = opts.out or tempfile.mkdtemp(prefix="awf-soak-" + time.strftime("%Y%m%d-%H%M%S-"))
    os.makedirs(out_dir, exist_ok=True)
    json_path, png_path = os.path.join(out_dir, "soak.json"), os.path.join(out_dir, "soak.png")
    results = {"config": {k: v for k, v in vars(opts).items() if k not in ("out",)},
               "environment": {"cpus": os.cpu_count(), "nofile": hard, "nofile_soft_before": soft},
               "notes": notes}
    started = time.monotonic()
    tb = harness.Testbed(prefix="awf-soak-")
    verdicts = []
    try:
        cert, key = make_certificate(tb.root, tb.origin_ip)
        tb.write_hosts({SSE_HOST: tb.origin_ip, WS_HOST: tb.origin_ip, TUNNEL_HOST: tb.origin_ip})
        cfg = json.dumps({"ip": tb.origin_ip, "cert": cert, "key": key})
        oproc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-origin", cfg],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=open(os.path.join(tb.root, "origin.err"), "wb"), start_new_session=True)
        tb.procs.append(oproc)
        if oproc.stdout.readline() != b"origin: ready\n":
            raise RuntimeError("the origin process did not start: " + harness._read(os.path.join(tb.root, "origin.err")))
        origin = OriginProcess(oproc)
        extra = ["--max-connections", str(max(opts.tunnels, opts.streams, opts.ws_sessions) + 256),
                 "--log-level", "warn", *opts.proxy_arg]
        if opts.proxy_threads:
            extra += ["--threads", str(opts.proxy_threads)]
        proxy = tb.start_awf_proxy(opts.awf_proxy, harness.Policy(allow=[SSE_HOST, WS_HOST, TUNNEL_HOST]),
                                   extra=extra)
        print(f"soak.py: awf-proxy pid {proxy.pid} on {proxy.address}; origins on {tb.origin_ip}; "
              f"output in {out_dir}", file=sys.stderr, flush=True)
        verdicts = asyncio.run(soak(opts, tb, proxy, origin, cert, results))
        proxy_out = tb.output_of("awf-proxy")
        results["proxy_output_tail"] = proxy_out[-4000:]
    except RuntimeError as e:
        verdicts.append(str(e))
    finally:
        tb.close(keep=opts.keep_temp)
        if opts.keep_temp:
            print(f"soak.py: temp dir kept: {tb.root}", file=sys.stderr)
    results["run_s"] = round(time.monotonic() - started, 1)
    results["pass"] = not verdicts
    results["verdicts"] = verdicts
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    if not opts.no_plot and results.get("samples"):
        err = write_plot(results, json_path, png_path)
        if err:
            verdicts.append(f"no plot: {err}")
    print_report(opts, results, verdicts)
    print(f"results: {json_path}" + ("" if opts.no_plot else f", plot: {png_path}"))
    return 0 if not verdicts else 1


if __name__ == "__main__":
    sys.exit(main())
