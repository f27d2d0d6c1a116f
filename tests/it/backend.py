#!/usr/bin/env python3
"""Fake upstream HTTP/1.1 server for the end-to-end tests (stdlib only).

In-process:   b = Backend("b1").start(); b.port; b.connections; b.requests
Subprocess:   python3 tests/it/backend.py --port N --name cn

Keep-alive by default (HTTP/1.1; HTTP/1.0 only with Connection: keep-alive);
a request with Connection: close gets Connection: close and a close.
Every response carries X-Backend: NAME and X-Path: TARGET. HEAD gets the
GET headers without a body. Behaviour by path:

  / , /hello          body NAME
  /size/N             N bytes of payload (see payload_chunks), Content-Length
  /chunked/N          the same bytes, Transfer-Encoding: chunked
                      (?trailers: with a trailer X-Checksum: their sha256)
  /close/N            the same bytes, close-delimited (no CL, no TE)
  /echo               reads the body (CL or chunked), replies JSON
                      {"sha256": hex, "length": n}
  /echo-chunked       echoes the body back, chunked, as it arrives
  /status/N           status N; 1xx/204/304 without a body
  /slow/MS            waits MS ms, then body "slow"
  /die-mid/N          Content-Length N, N//2 bytes, then close
  /die-mid-chunked/N  chunked, N//2 bytes, then close (no 0-chunk)
  /ws                 WebSocket handshake, then echoes frames (ping -> pong);
                      /ws?hello sends a text frame in the same write as the 101
  /headers            body = the request head as received
  /hop-response       response carrying hop-by-hop headers a proxy must drop
  /drop-next          answers, then the next request on this connection is
                      dropped (closed without a response byte)
  /stats              JSON {"name", "connections", "open", "requests"}

`Expect: 100-continue` is answered with 100 Continue when the handler
starts reading the body (any path reads/drains it).
"""

import argparse
import base64
import hashlib
import json
import socket
import sys
import threading
import time

# ---------------------------------------------------------------- payload
# A pseudo-random pattern whose period (65521, prime) is not a multiple of
# any buffer size, so a dropped, repeated or misplaced 64 KiB block shows up
# as a content mismatch and not only as a length mismatch.
PERIOD = 65521
CHUNK = 65536


def _make_pattern():
    out = bytearray()
    i = 0
    while len(out) < PERIOD:
        out += hashlib.sha256(b"georoute-%d" % i).digest()
        i += 1
    return bytes(out[:PERIOD])


PATTERN = _make_pattern()
_PATTERN3 = PATTERN * 3  # any slice of up to 2*PERIOD from offset < PERIOD


def payload_slice(offset, n):
    """Payload bytes [offset, offset+n) as a memoryview, n <= CHUNK."""
    s = offset % PERIOD
    return memoryview(_PATTERN3)[s:s + n]


def payload_chunks(n, chunk=CHUNK):
    off = 0
    while off < n:
        k = min(chunk, n - off)
        yield payload_slice(off, k)
        off += k


def payload_bytes(n):
    return b"".join(bytes(c) for c in payload_chunks(n))


_sha_cache = {}


def payload_sha256(n):
    if n not in _sha_cache:
        h = hashlib.sha256()
        for c in payload_chunks(n):
            h.update(c)
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


class PayloadChecker:
    """Checks a stream against the payload without hashing or storing it."""

    def __init__(self):
        self.offset = 0
        self.bad_at = None

    def feed(self, data):
        if self.bad_at is not None:
            return
        mv = memoryview(data)
        while len(mv):
            k = min(len(mv), PERIOD)
            exp = payload_slice(self.offset, k)
            if mv[:k] != exp:
                i = next(j for j in range(k) if mv[j] != exp[j])
                self.bad_at = self.offset + i
                return
            self.offset += k
            mv = mv[k:]

    def ok(self, n):
        return self.bad_at is None and self.offset == n


# ---------------------------------------------------------------- server
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK",
           204: "No Content", 304: "Not Modified", 400: "Bad Request",
           404: "Not Found", 500: "Internal Server Error",
           503: "Service Unavailable"}


class _Closed(Exception):
    pass


class _Conn:
    """Buffered reader over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        d = self.sock.recv(262144)
        if not d:
            raise _Closed()
        self.buf += d

    def read_head(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > limit:
                raise _Closed()
            try:
                self.fill()
            except _Closed:
                if self.buf:
                    raise
                return None

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self.fill()

    def read_some(self, n):
        if not self.buf:
            self.fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d


class Request:
    def __init__(self, head):
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3:
            raise _Closed()
        self.method, self.target, self.version = parts
        self.head = head
        self.headers = []
        for ln in lines[1:]:
            k, _, v = ln.decode("latin-1").partition(":")
            self.headers.append((k.strip(), v.strip()))

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def tokens(self, name):
        out = []
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    @property
    def keep_alive(self):
        conn = self.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


class _Body:
    """Streams the request body (CL or chunked); sends 100 Continue lazily."""

    def __init__(self, conn, req):
        self.c = conn
        self.req = req
        self.expect = "100-continue" in req.tokens("expect")
        te = req.tokens("transfer-encoding")
        self.chunked = bool(te) and te[-1] == "chunked"
        self.left = 0 if self.chunked else int(req.get("content-length", "0") or 0)
        self.chunk_left = 0
        self.done = not self.chunked and self.left == 0

    def _continue(self):
        if self.expect:
            self.expect = False
            self.c.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def read(self):
        """Next piece of body, or b'' at the end."""
        if self.done:
            return b""
        self._continue()
        if not self.chunked:
            d = self.c.read_some(min(self.left, 262144))
            self.left -= len(d)
            self.done = self.left == 0
            return d
        if self.chunk_left == 0:
            line = self.c.read_line()
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while self.c.read_line():  # trailers
                    pass
                self.done = True
                return b""
            self.chunk_left = size
        d = self.c.read_some(self.chunk_left)
        self.chunk_left -= len(d)
        if self.chunk_left == 0:
            self.c.read_exact(2)
        return d

    def drain(self):
        if self.done:
            return
        while self.read():
            pass


class Backend:
    """The fake upstream. Thread per connection; start()/stop() or `with`."""

    def __init__(self, name="b1", port=0, host="127.0.0.1"):
        self.name = name
        self.host = host
        self.port = port
        self.lock = threading.Lock()
        self.connections = 0       # connections that carried a request, ever
        self.requests = 0          # request heads read, ever (health probes aside)
        self.probes = 0            # georoute's health-check requests
        self.heads = []            # last 200 request heads (bytes)
        self.dropped = 0           # requests dropped after /drop-next
        self.echoed = []           # body lengths /echo read to their end
        self._socks = set()
        self._lsock = None
        self._stopping = False

    @property
    def open_connections(self):
        with self.lock:
            return len(self._socks)

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, self.port))
        ls.listen(256)
        self.port = ls.getsockname()[1]
        self._lsock = ls
        t = threading.Thread(target=self._accept_loop, daemon=True,
                             name="backend-%s" % self.name)
        t.start()
        return self

    def stop(self):
        self._stopping = True
        if self._lsock is not None:
            try:
                self._lsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._lsock.close()
        self.close_all()

    def close_all(self):
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def reset_counters(self):
        with self.lock:
            self.connections = 0
            self.requests = 0
            self.dropped = 0
            self.heads = []

    def __enter__(self):
        if self._lsock is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stopping:
            try:
                s, _ = self._lsock.accept()
            except OSError:
                return
            with self.lock:
                self._socks.add(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = _Conn(sock)
        drop_next = False
        counted = False
        try:
            while True:
                head = c.read_head()
                if head is None:
                    break
                # georoute's active health checks are not traffic: tests
                # count the connections and requests the data plane makes.
                if b"georoute-probe" in head:
                    with self.lock:
                        self.probes += 1
                    self._handle(c, Request(head), _Body(c, Request(head)))
                    break
                if not counted:
                    counted = True
                    with self.lock:
                        self.connections += 1
                if drop_next:
                    with self.lock:
                        self.dropped += 1
                    break
                req = Request(head)
                with self.lock:
                    self.requests += 1
                    self.heads.append(head)
                    del self.heads[:-200]
                body = _Body(c, req)
                keep = self._handle(c, req, body)
                if keep == "drop-next":
                    drop_next, keep = True, True
                if not keep or not req.keep_alive:
                    break
                body.drain()
        except (_Closed, OSError, ValueError):
            pass
        finally:
            with self.lock:
                self._socks.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    # -- response helpers
    def _head(self, req, status, headers, close=False):
        out = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
        out.append("X-Backend: %s" % self.name)
        out.append("X-Path: %s" % req.target)
        out += ["%s: %s" % kv for kv in headers]
        if close or not req.keep_alive:
            out.append("Connection: close")
        elif req.version == "HTTP/1.0":
            out.append("Connection: keep-alive")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    def _simple(self, c, req, status, body, ctype="text/plain", extra=()):
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        hdrs += list(extra)
        data = self._head(req, status, hdrs)
        if req.method != "HEAD":
            data += body
        c.sock.sendall(data)
        return True

    def _handle(self, c, req, body):
        path = req.target.split("?")[0]
        parts = path.strip("/").split("/")
        what = parts[0]
        arg = parts[1] if len(parts) > 1 else ""
        head_only = req.method == "HEAD"
        s = c.sock

        if what in ("", "hello"):
            body.drain()
            return self._simple(c, req, 200, self.name.encode())
        if what == "stats":
            body.drain()
            with self.lock:
                st = {"name": self.name, "connections": self.connections,
                      "open": len(self._socks), "requests": self.requests}
            return self._simple(c, req, 200, json.dumps(st).encode(),
                                "application/json")
        if what == "headers":
            body.drain()
            return self._simple(c, req, 200, req.head)
        if what == "hop-response":
            body.drain()
            extra = [("Connection", "X-Secret"), ("X-Secret", "1"),
                     ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "x"),
                     ("Trailer", "X-T"), ("Upgrade", "foo"),
                     ("X-End-To-End", "kept")]
            return self._simple(c, req, 200, b"hop", extra=extra)
        if what == "drop-next":
            body.drain()
            self._simple(c, req, 200, b"drop-next")
            return "drop-next"
        if what == "size":
            body.drain()
            n = int(arg)
            s.sendall(self._head(req, 200, [("Content-Type", "application/octet-stream"),
                                            ("Content-Length", str(n))]))
            if not head_only:
                for ch in payload_chunks(n):
                    s.sendall(ch)
            return True
        if what == "chunked":
            body.drain()
            n = int(arg)
            s.sendall(self._head(req, 200, [("Content-Type", "application/octet-stream"),
                                            ("Transfer-Encoding", "chunked")]))
            if head_only:
                return True
            off = 0
            small = [1, 10, 100, 1000]  # a few odd sizes first
            while off < n:
                k = small.pop(0) if small else CHUNK
                k = min(k, n - off)
                s.sendall(b"%x\r\n" % k + bytes(payload_slice(off, k)) + b"\r\n")
                off += k
            trailer = b"X-Checksum: %s\r\n" % payload_sha256(n).encode() \
                if req.target.endswith("?trailers") else b""
            s.sendall(b"0\r\n" + trailer + b"\r\n")
            return True
        if what == "close":
            body.drain()
            n = int(arg)
            s.sendall(self._head(req, 200, [("Content-Type", "application/octet-stream")],
                                 close=True))
            if not head_only:
                for ch in payload_chunks(n):
                    s.sendall(ch)
            return False
        if what == "echo":
            h = hashlib.sha256()
            n = 0
            while True:
                d = body.read()
                if not d:
                    break
                h.update(d)
                n += len(d)
            with self.lock:
                self.echoed.append(n)
            out = json.dumps({"sha256": h.hexdigest(), "length": n,
                              "chunked": body.chunked}).encode()
            return self._simple(c, req, 200, out, "application/json")
        if what == "echo-chunked":
            if not body.done:
                body._continue()
            s.sendall(self._head(req, 200, [("Content-Type", "application/octet-stream"),
                                            ("Transfer-Encoding", "chunked")]))
            while True:
                d = body.read()
                if not d:
                    break
                s.sendall(b"%x\r\n" % len(d) + d + b"\r\n")
            s.sendall(b"0\r\n\r\n")
            return True
        if what == "status":
            body.drain()
            code = int(arg)
            if code < 200 or code in (204, 304):
                s.sendall(self._head(req, code, []))
                return True
            return self._simple(c, req, code, b"status %d\n" % code)
        if what == "slow":
            body.drain()
            time.sleep(int(arg) / 1000.0)
            return self._simple(c, req, 200, b"slow")
        if what in ("die-mid", "die-mid-chunked"):
            body.drain()
            n = int(arg)
            if what == "die-mid":
                s.sendall(self._head(req, 200, [("Content-Length", str(n))]))
                s.sendall(payload_bytes(n // 2))
            else:
                s.sendall(self._head(req, 200, [("Transfer-Encoding", "chunked")]))
                half = payload_bytes(n // 2)
                s.sendall(b"%x\r\n" % len(half) + half + b"\r\n")
            time.sleep(0.05)
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False
        if what == "field-byte":
            # /field-byte/HEX[?trailer]: X-Bad: a<byte>b in the head, or in
            # the trailers of a chunked body.
            body.drain()
            bad = b"X-Bad: a" + bytes([int(arg, 16)]) + b"b\r\n"
            if req.target.endswith("?trailer"):
                s.sendall(self._head(req, 200, [("Transfer-Encoding", "chunked")]))
                s.sendall(b"2\r\nok\r\n0\r\n" + bad + b"\r\n")
                return True
            head = self._head(req, 200, [("Content-Length", "2")])
            s.sendall(head[:-2] + bad + b"\r\nok")
            return True
        if what == "ws":
            return self._websocket(c, req)
        body.drain()
        return self._simple(c, req, 404, b"no such path\n")

    def _websocket(self, c, req):
        key = req.get("sec-websocket-key")
        if not key or "websocket" not in req.tokens("upgrade"):
            return self._simple(c, req, 400, b"not a websocket request\n")
        acc = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        c.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                       b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"X-Backend: " + self.name.encode() + b"\r\n"
                       b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n" +
                       # /ws?hello: a first frame in the same write as the 101
                       (ws_frame(b"welcome", mask=False) if "hello" in req.target else b""))
        while True:
            b0, b1 = c.read_exact(2)
            op = b0 & 0x0F
            masked = b1 & 0x80
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(c.read_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(c.read_exact(8), "big")
            mask = c.read_exact(4) if masked else None
            data = c.read_exact(n)
            if mask:
                data = bytes(x ^ mask[i % 4] for i, x in enumerate(data)) if n < 4096 \
                    else _unmask(data, mask)
            if op == 0x9:  # ping -> pong
                b0, op = 0x80 | 0xA, 0xA
            c.sock.sendall(ws_frame(data, b0 & 0x0F, fin=bool(b0 & 0x80), mask=False))
            if op == 0x8:
                return False


def _unmask(data, mask):
    n = len(data)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def ws_frame(payload, opcode=0x1, fin=True, mask=True):
    """One WebSocket frame (client frames are masked)."""
    import os
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        hdr = bytes([b0, (0x80 if mask else 0) | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, (0x80 if mask else 0) | 127]) + n.to_bytes(8, "big")
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + _unmask(payload, key)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="b1")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args(argv)
    b = Backend(a.name, a.port, a.host).start()
    print("backend %s listening on %s" % (a.name, b.addr), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        b.stop()


if __name__ == "__main__":
    sys.exit(main())
