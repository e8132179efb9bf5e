#!/usr/bin/env python3
"""awf-floor-uring (bench/floor/floor_uring.cc) on its own, against loopback
origins: what bench/compare.py relies on it to do, checked byte for byte.

- forward keep-alive: three GETs on one connection, each answered whole;
- CONNECT: 200, then 8 MiB each way through an echo origin, compared, with a
  small buffer ring (--buffers 16) so the recv runs dry (ENOBUFS) and the
  per-direction queue limit pauses reading; then a half-close: the client's
  end of stream reaches the origin, whose last bytes and end reach the client;
- the same through the splice path (--splice-after), the send_zc path
  (--send-zc-min) and both, with two threads;
- a CONNECT to the --deny name gets the canned 403; a head over 16 KiB and a
  CONNECT to a closed port are closed without an answer;
- under a seccomp filter that refuses io_uring_setup, the program says
  io_uring is unavailable and exits 3 without listening.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, or io_uring unavailable on
this kernel: the floor is a benchmark, not a part of awf).
"""

import argparse
import ctypes
import ctypes.util
import errno
import os
import random
import socket
import subprocess
import sys
import threading
import time

SKIP = 77
MIB = 1024 * 1024


class Origin:
    """Port 80: answers each GET /N with N bytes, keep-alive. Port 4433: echoes
    until the client's end of stream, then sends b"bye" and closes."""

    def __init__(self, ip):
        self.ip = ip
        self.http = socket.create_server((ip, 80))
        self.echo = socket.create_server((ip, 4433))
        self.got_eof = threading.Event()
        for sock, fn in ((self.http, self.serve_http), (self.echo, self.serve_echo)):
            threading.Thread(target=self.accept_loop, args=(sock, fn), daemon=True).start()

    @staticmethod
    def accept_loop(sock, fn):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=fn, args=(conn,), daemon=True).start()

    @staticmethod
    def serve_http(conn):
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                size = int(head.split(b" ")[1][1:])
                body = bytes(i % 251 for i in range(size))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body)

    def serve_echo(self, conn):
        with conn:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)
            self.got_eof.set()
            conn.sendall(b"bye")

    def close(self):
        self.http.close()
        self.echo.close()


def start_floor(binary, origin_ip, extra=()):
    proc = subprocess.Popen([binary, "--upstream", origin_ip, "--deny", "denied.test", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on 127.0.0.1:" not in line:
        proc.kill()
        raise RuntimeError(f"no 'listening on' line: {line!r} {proc.stderr.read()}")
    return proc, int(line.rsplit(":", 1)[1])


def read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"closed before a head ended: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def recv_exact(sock, n, rest=b""):
    buf = bytearray(rest)
    while len(buf) < n:
        chunk = sock.recv(min(MIB, n - len(buf)))
        if not chunk:
            raise AssertionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def check_forward(port, origin):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for size in (1024, 70000, 5):
            s.sendall(f"GET /{size} HTTP/1.1\r\nHost: {origin.ip}\r\n\r\n".encode())
            head, rest = read_head(s)
            assert head.startswith(b"HTTP/1.1 200"), head
            body = recv_exact(s, size, rest)
            assert body == bytes(i % 251 for i in range(size)), f"GET /{size}: body differs"


def check_tunnel(port, origin, size=8 * MIB):
    origin.got_eof.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"CONNECT {origin.ip}:4433 HTTP/1.1\r\n\r\n".encode())
        head, rest = read_head(s)
        assert head == b"HTTP/1.1 200 Connection established", head
        assert rest == b"", rest
        data = random.randbytes(size)
        received = bytearray()

        def reader():
            while len(received) < size:
                chunk = s.recv(MIB)
                if not chunk:
                    return
                received.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        t.join(30)
        assert bytes(received) == data, f"echoed {len(received)} bytes, not the {size} sent"
        s.shutdown(socket.SHUT_WR)  # half-close: the origin must see it and still answer
        tail = b""
        while chunk := s.recv(4096):
            tail += chunk
        assert tail == b"bye", tail
        assert origin.got_eof.is_set(), "the origin never saw the client's end of stream"


def check_denied(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"CONNECT denied.test:443 HTTP/1.1\r\n\r\n")
        reply = b""
        try:
            while chunk := s.recv(4096):
                reply += chunk
        except ConnectionResetError:
            pass
        assert reply.startswith(b"HTTP/1.1 403 Forbidden") and reply.endswith(b"denied\n"), reply


def check_closed_without_answer(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(request)
            reply = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            reply = b""
        assert reply == b"", reply


def no_io_uring_preexec():
    """In the child, before exec: a seccomp filter that refuses io_uring_setup
    with EPERM, the way a container runtime's default profile does."""
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp"))
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(0x7FFF0000)  # SCMP_ACT_ALLOW
    nr = lib.seccomp_syscall_resolve_name(b"io_uring_setup")
    if lib.seccomp_rule_add(ctx, 0x00050000 | errno.EPERM, nr, 0) != 0 or lib.seccomp_load(ctx) != 0:
        os._exit(99)


def check_unavailable(binary):
    if not ctypes.util.find_library("seccomp"):
        return "libseccomp missing: the refusal is not checked"
    r = subprocess.run([binary, "--upstream", "127.0.0.1"], capture_output=True, text=True, timeout=10,
                       preexec_fn=no_io_uring_preexec)
    assert r.returncode == 3, f"exit {r.returncode}: {r.stdout} {r.stderr}"
    assert "listening" not in r.stdout, r.stdout
    assert "io_uring is unavailable here: io_uring_setup: Operation not permitted" in r.stderr, r.stderr
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--floor-uring", required=True)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (the origin listens on port 80)")
        return SKIP
    note = check_unavailable(opts.floor_uring)
    if note:
        print(f"note: {note}")
    r = subprocess.run([opts.floor_uring, "--check"], capture_output=True, text=True, timeout=10)
    if r.returncode == 3:
        print(f"SKIP: {r.stderr.strip()}")
        return SKIP
    assert r.returncode == 0, r.stderr

    origin_ip = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    origin = Origin(origin_ip)
    modes = [
        ("multishot recv + send", ["--buffers", "16", "--splice-after", "0"]),
        ("splice after 256 KiB", ["--buffers", "16", "--splice-after", str(256 * 1024)]),
        ("send_zc only", ["--buffers", "32", "--send-zc-min", "4096", "--splice-after", "0"]),
        ("send_zc, then splice, two threads", ["--buffers", "64", "--send-zc-min", "4096", "--threads", "2"]),
    ]
    failures = 0
    try:
        for name, extra in modes:
            proc, port = start_floor(opts.floor_uring, origin_ip, extra)
            try:
                started = time.monotonic()
                for check in (lambda: check_forward(port, origin), lambda: check_tunnel(port, origin),
                              lambda: check_denied(port),
                              lambda: check_closed_without_answer(port, b"GET /" + b"x" * 20000),
                              lambda: check_closed_without_answer(port, f"CONNECT {origin_ip}:9 HTTP/1.1\r\n\r\n"
                                                                  .encode())):
                    check()
                if proc.poll() is not None:
                    raise AssertionError(f"exited {proc.returncode}: {proc.stderr.read()}")
                print(f"ok: {name} ({time.monotonic() - started:.1f} s)")
            except AssertionError as e:
                failures += 1
                print(f"FAIL: {name}: {e}")
            finally:
                proc.kill()
                proc.wait()
    finally:
        origin.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
