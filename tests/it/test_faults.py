"""Fault injection (issue 8), one test per fault:

- a backend process killed by SIGKILL mid-response: the client connection
  closes and the short body is never passed off as complete;
- a reset (RST) on a reused pooled upstream connection: a GET is retried on
  a fresh connection (200), a POST with a body is not (502);
- a reset (RST) mid-response: the client gets the bytes that came before
  it, then a close, never a complete response;
- a pooled connection the backend closes while idle: dropped when its EOF
  arrives, so the next request opens a new one and needs no retry;
- a black-holed probe target (accepts, never answers): the probe times out
  and the backend is marked down (`event=backend_down`, /status), traffic
  goes to the healthy one;
- the GeoIP database deleted, corrupted by rename, and overwritten in place
  at runtime: the old one stays in service;
- the config replaced by an invalid one and reloaded with SIGHUP: the old
  one stays and the error is logged with FILE:LINE:COL;
- every backend of every region down: 502/503 with a body naming the
  reason, and recovery by itself when they come back.

Every wait is bounded; the file runs in well under 60 s."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from backend import Backend
from harness import (HERE, Conn, Proxy, free_port, georoute_only, request, to_yaml,
                     wait_until)
from test_admin import get_json, http
from test_geo_routing import HEADERS, ZONES, get_from, make_fixture

PROBE = {"interval": "300ms", "fastinter": "100ms", "downinter": "300ms", "timeout": "250ms",
         "rise": 1, "fall": 1, "path": "/hello"}


def spawn_backend(port, name):
    """tests/it/backend.py as its own process (so it can be SIGKILLed)."""
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "backend.py"),
                             "--port", str(port), "--name", name],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    line = proc.stdout.readline()
    if b"listening" not in line:
        proc.kill()
        raise RuntimeError("backend did not start: %r" % line)
    return proc


def kill_proc(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


class ResetOnReuse:
    """A raw upstream: answers the first request on each connection with a
    keep-alive 200, then reads the next request's head and resets the
    connection (SO_LINGER 0) without a response byte."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.connections = 0
        self.resets = 0
        self.answered = []  # request lines answered
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    @staticmethod
    def _read_request(s, buf):
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None, buf
            buf += d
        i = buf.index(b"\r\n\r\n") + 4
        head, buf = buf[:i], buf[i:]
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                return None, buf
            buf += d
        return head, buf[n:]

    def _serve(self, s):
        buf = b""
        try:
            head, buf = self._read_request(s, buf)
            if head is None:
                return
            self.answered.append(head.split(b"\r\n")[0])
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Backend: rst\r\n\r\nfirst")
            # the next request on this (now pooled) connection: reset, no byte
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.resets += 1
        except OSError:
            pass
        finally:
            s.close()

    def close(self):
        self.ls.close()


@georoute_only("fault handling is georoute's")
class Faults(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-faults-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, cfg, port=None):
        p = Proxy(cfg, port=port).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    # ------------------------------------------------------------ crash mid-response
    def test_backend_sigkill_mid_response(self):
        bport = free_port()
        proc = spawn_backend(bport, "victim")
        self.addCleanup(kill_proc, proc)
        p = self.start({"regions": {"main": {"backends": ["127.0.0.1:%d" % bport]}}})
        for framing in ("size", "chunked"):
            if proc.poll() is not None:
                proc = spawn_backend(bport, "victim")
                self.addCleanup(kill_proc, proc)
            n = 1 << 30  # far more than will ever be sent: the kill lands mid-body
            with p.conn() as c:
                c.send(request("GET", "/%s/%d" % (framing, n)))
                got = []

                def sink(d):
                    got.append(len(d))
                    if sum(got) >= 1 << 20 and proc.poll() is None:
                        os.kill(proc.pid, signal.SIGKILL)  # after 1 MiB reached the client

                r = c.read_response(sink=sink, allow_truncated=True, timeout=20)
                self.assertEqual(r.status, 200)
                self.assertFalse(r.complete, "%s: a short body passed off as complete: %r" % (framing, r))
                self.assertGreaterEqual(r.body_len, 1 << 20)
                self.assertLess(r.body_len, n)
                if framing == "chunked":
                    self.assertFalse(r.saw_last_chunk, "a terminating 0-chunk was invented")
                self.assertTrue(c.eof or c.closed_within(5), "client connection left open")
            proc.wait(5)
        # georoute survives and serves again once the backend is back.
        proc = spawn_backend(bport, "victim")
        self.addCleanup(kill_proc, proc)

        def ok():
            with p.conn() as c:
                c.send(request("GET", "/hello"))
                return c.read_response(timeout=5).status == 200
        self.assertTrue(wait_until(ok, 10, interval=0.2))

    # ------------------------------------------------------------ reset on reuse
    def test_reset_on_reused_pooled_connection(self):
        up = ResetOnReuse()
        self.addCleanup(up.close)
        p = self.start({"regions": {"main": {"backends": [up.addr]}},
                        "limits": {"retries": 2}})
        with p.conn() as c:
            # 1st GET opens the upstream connection, which is pooled
            c.send(request("GET", "/a"))
            self.assertEqual(c.read_response().body, b"first")
            # 2nd GET reuses it, gets RST before any byte: retried fresh -> 200
            c.send(request("GET", "/b"))
            r = c.read_response(timeout=10)
            self.assertEqual((r.status, r.body), (200, b"first"), r)
        self.assertEqual(up.resets, 1)
        self.assertIn(b"GET /b HTTP/1.1", up.answered, "the GET was not retried")

        with p.conn() as c:
            # the connection the retry opened is pooled now: a POST with a
            # body on it is reset and must not be replayed -> 502
            c.send(request("POST", "/c", body=b"x" * 1000))
            r = c.read_response(timeout=10)
            self.assertEqual(r.status, 502, r)
            self.assertTrue(r.body.strip(), "502 without a reason")
        self.assertEqual(up.resets, 2)
        self.assertNotIn(b"POST /c HTTP/1.1", up.answered, "a POST was replayed")

    # ------------------------------------------------------------ reset mid-response
    def test_backend_reset_mid_response(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        self.addCleanup(ls.close)
        part = 200000  # more than one read of the proxy's, less than promised

        def answer(s):
            with s:
                head, _ = ResetOnReuse._read_request(s, b"")
                if head is None:
                    return
                if not head.startswith(b"GET /big "):  # a health probe
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    return
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * part) +
                          b"x" * part)
                time.sleep(0.3)  # the bytes reach the proxy before the reset
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        def serve():
            while True:
                try:
                    s, _ = ls.accept()
                except OSError:
                    return
                threading.Thread(target=answer, args=(s,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        p = self.start({"regions": {"main": {"backends": ["127.0.0.1:%d" % ls.getsockname()[1]]}}})
        with p.conn() as c:
            c.send(request("GET", "/big"))
            r = c.read_response(allow_truncated=True, timeout=10)
            self.assertEqual(r.status, 200)
            self.assertFalse(r.complete, "a short body passed off as complete: %r" % r)
            self.assertEqual(r.body_len, part)
            self.assertTrue(c.eof or c.closed_within(5), "client connection left open")
        self.assertEqual(len(p.access_lines(1)), 1, "no access log line")

    # ------------------------------------------------------------ closed while pooled
    def test_pooled_connection_closed_by_backend(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        self.addCleanup(ls.close)
        seen = []  # (connection number, request line)

        def answer(s, n):
            with s:
                head, _ = ResetOnReuse._read_request(s, b"")
                if head is None:
                    return
                seen.append((n, head.split(b"\r\n")[0]))
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                time.sleep(0.2)  # pooled by now: the FIN comes while it idles

        def serve():
            n = 0
            while True:
                try:
                    s, _ = ls.accept()
                except OSError:
                    return
                n += 1
                threading.Thread(target=answer, args=(s, n), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        p = self.start({"regions": {"main": {"backends": ["127.0.0.1:%d" % ls.getsockname()[1]]}},
                        "limits": {"retries": 0}})
        with p.conn() as c:
            c.send(request("GET", "/one"))
            self.assertEqual(c.read_response().body, b"ok")
            time.sleep(0.6)  # the backend closed the pooled connection
            c.send(request("GET", "/two"))
            r = c.read_response(timeout=10)
            self.assertEqual((r.status, r.body), (200, b"ok"), r)
        ones = [n for n, line in seen if line.startswith(b"GET /one ")]
        twos = [n for n, line in seen if line.startswith(b"GET /two ")]
        self.assertEqual(len(twos), 1, seen)
        self.assertNotEqual(ones, twos, "the closed connection was reused")

    # ------------------------------------------------------------ black hole
    def test_blackholed_probe_target_marked_down(self):
        good = Backend("good").start()
        self.addCleanup(good.stop)
        hole = socket.socket()  # listens (the kernel completes handshakes), never reads
        hole.bind(("127.0.0.1", 0))
        hole.listen(128)
        self.addCleanup(hole.close)
        hole_addr = "127.0.0.1:%d" % hole.getsockname()[1]
        admin = free_port()
        p = self.start({"admin": "127.0.0.1:%d" % admin,
                        "timeouts": {"upstream_response": "1s"},
                        "regions": {"main": {"backends": [good.addr, hole_addr], "probe": PROBE}}})
        self.assertTrue(wait_until(lambda: http(admin, "/healthz")[0] == 200, 5))

        def down():
            s = get_json(admin, "/status")
            for b in s["regions"][0]["backends"]:
                if b["address"] == hole_addr:
                    return not b["up"]
            return False
        self.assertTrue(wait_until(down, 5), get_json(admin, "/status"))
        self.assertTrue(wait_until(lambda: re.search(
            r"event=backend_down backend=%s .*reason=\"[^\"]*time" % re.escape(hole_addr),
            p.stderr()), 5), p.stderr())
        good_before = get_json(admin, "/status")
        self.assertTrue([b for b in good_before["regions"][0]["backends"]
                         if b["address"] == good.addr and b["up"]])
        for _ in range(20):
            with p.conn() as c:
                c.send(request("GET", "/hello"))
                r = c.read_response(timeout=5)
                self.assertEqual((r.status, r.body), (200, b"good"))

    # ------------------------------------------------------------ GeoIP
    def geo_proxy(self, db):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)
        asn = os.path.join(self.dir, "asn.mmdb")
        make_fixture(asn, "asn")
        return self.start({"regions": {"main": {"backends": [self.b.addr]}},
                           "geo": {"databases": [{"path": db}, {"path": asn, "schema": "maxmind-asn"}],
                                   "headers": HEADERS, "reload_interval": "1s"},
                           "zones": ZONES})

    def zone(self, p, src):
        r = get_from(p.port, src)
        self.assertEqual(r.status, 200, r)
        return r.get("x-backend") and re.search(rb"(?i)x-georoute-zone: *([^\r]+)", r.body).group(1).decode()

    def test_geoip_database_deleted_at_runtime(self):
        db = os.path.join(self.dir, "city.mmdb")
        make_fixture(db)
        p = self.geo_proxy(db)
        self.assertEqual(self.zone(p, "127.1.0.9"), "gd-telecom")
        os.unlink(db)
        time.sleep(2.5)  # two reload intervals and a half
        self.assertTrue(p.running())
        # new connections, new addresses (no per-connection cache can help)
        for src, zone in (("127.1.0.9", "gd-telecom"), ("127.1.0.10", "gd-telecom"),
                          ("127.2.0.9", "hk"), ("127.3.0.11", "us")):
            self.assertEqual(self.zone(p, src), zone, src)
        self.assertNotIn("geo_reload result=ok", p.stderr())
        # a good file put back is picked up again
        make_fixture(db + ".tmp", "city-moved")
        os.rename(db + ".tmp", db)
        self.assertTrue(wait_until(lambda: "geo_reload result=ok" in p.stderr(), 5), p.stderr())
        self.assertEqual(self.zone(p, "127.1.0.9"), "hk")

    def test_geoip_database_corrupted_at_runtime(self):
        db = os.path.join(self.dir, "city.mmdb")
        make_fixture(db)
        p = self.geo_proxy(db)
        self.assertEqual(self.zone(p, "127.1.0.9"), "gd-telecom")
        # replaced by garbage the safe way (a new inode, renamed over)
        with open(db + ".tmp", "wb") as f:
            f.write(os.urandom(4096))
        os.rename(db + ".tmp", db)
        self.assertTrue(wait_until(lambda: "geo_reload result=failed" in p.stderr(), 5), p.stderr())
        for src, zone in (("127.1.0.11", "gd-telecom"), ("127.2.0.11", "hk"), ("127.3.0.12", "us")):
            self.assertEqual(self.zone(p, src), zone, src)
        self.assertTrue(p.running())

    def test_geoip_database_truncated_in_place(self):
        # A database file truncated or overwritten in place (same inode:
        # `cp new.mmdb city.mmdb`, `> city.mmdb`, a download tool writing
        # into the live path) must not change what the running process reads:
        # geo/geodb.c maps a private in-memory copy, so the old data stays in
        # service (before that fix, the next lookup past the new end of file
        # died with SIGBUS). The reload check then reports the bad file.
        db = os.path.join(self.dir, "city.mmdb")
        make_fixture(db)
        p = self.geo_proxy(db)
        self.assertEqual(self.zone(p, "127.1.0.9"), "gd-telecom")
        os.truncate(db, 0)  # same inode, now empty (as O_TRUNC before a rewrite)
        results = []
        for src in ("127.1.0.12", "127.2.0.12", "127.3.0.13", "127.1.2.12"):
            try:
                results.append(self.zone(p, src))
            except Exception as e:  # noqa: BLE001
                results.append(repr(e))
        time.sleep(0.3)
        self.assertTrue(p.running(), "georoute died (exit %s) after its database was truncated "
                        "in place: %s" % (p.proc.returncode, results))
        self.assertEqual(results, ["gd-telecom", "hk", "us", "cn"])

    # ------------------------------------------------------------ invalid config
    def test_invalid_config_sighup_keeps_old(self):
        b = Backend("east").start()
        self.addCleanup(b.stop)
        port = free_port()
        cfg = {"listen": ["127.0.0.1:%d" % port], "workers": 1, "access_log": "off",
               "regions": {"east": {"backends": [b.addr]}},
               "timeouts": {"client_header": "5s"}}
        p = self.start(cfg, port=port)
        # An invalid value at a known position: line 6, the client_header value.
        bad = dict(cfg)
        bad["timeouts"] = {"client_header": "5 parsecs"}
        text = to_yaml(bad) + "\n"
        with open(p.config_path, "w") as f:
            f.write(text)
        line = next(i for i, ln in enumerate(text.splitlines(), 1) if "parsecs" in ln)
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "event=reload result=failed" in p.stderr(), 5), p.stderr())
        err = p.stderr()
        self.assertRegex(err, r"%s:%d:\d+: " % (re.escape(p.config_path), line))
        self.assertIn("kept=old", err)
        # Broken YAML as well.
        with open(p.config_path, "w") as f:
            f.write("regions: {east: [\n")
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: p.stderr().count("event=reload result=failed") >= 2, 5))
        self.assertRegex(p.stderr(), r"%s:\d+:\d+: " % re.escape(p.config_path))
        self.assertTrue(p.running())
        for _ in range(10):
            with p.conn() as c:
                c.send(request("GET", "/hello"))
                r = c.read_response(timeout=5)
                self.assertEqual((r.status, r.body), (200, b"east"))
        # the old timeouts are still in force: a 5 s head deadline, not a crash
        with p.conn() as c:
            c.send(b"GET / HTTP/1.1\r\n")
            self.assertFalse(c.closed_within(1.5), "client_header changed by a failed reload")

    # ------------------------------------------------------------ all down
    def test_all_backends_down_then_recover(self):
        ports = {n: free_port() for n in ("cn", "hk", "us")}
        procs = {n: spawn_backend(ports[n], n) for n in ports}
        for pr in procs.values():
            self.addCleanup(kill_proc, pr)
        admin = free_port()
        cfg = {"admin": "127.0.0.1:%d" % admin,
               "timeouts": {"connect": "300ms"},
               "regions": {n: {"backends": ["127.0.0.1:%d" % ports[n]], "probe": PROBE} for n in ports},
               "zones": [{"name": "pinned", "match": {"cidr": ["127.9.0.0/16"]},
                          "route": {"regions": ["cn"], "fallback": "reject"}},
                         {"name": "default", "route": {"regions": ["us", "hk", "cn"]}}]}
        p = self.start(cfg)
        self.assertTrue(wait_until(lambda: http(admin, "/healthz")[0] == 200, 5))
        self.assertEqual(get_from(p.port, "127.0.0.1", "/hello").status, 200)
        for pr in procs.values():
            kill_proc(pr)

        def all_down():
            s = get_json(admin, "/status")
            return all(not r["healthy"] for r in s["regions"])
        self.assertTrue(wait_until(all_down, 5), get_json(admin, "/status"))
        for src in ("127.0.0.1", "127.9.0.1"):
            r = get_from(p.port, src, "/hello")
            self.assertIn(r.status, (502, 503), (src, r))
            body = r.body.decode()
            self.assertTrue(body.strip(), "no reason in the body")
            self.assertRegex(body, r"(?i)no (healthy|backend)|unreachable|refused|down", body)
            if r.status == 503:
                self.assertTrue(r.has("retry-after"), r.headers)
            print("\n  all down, client %s: %d %r" % (src, r.status, body.strip()), flush=True)
        # They come back: georoute recovers by itself, within a bounded time.
        t0 = time.monotonic()
        for n in ports:
            procs[n] = spawn_backend(ports[n], n)
            self.addCleanup(kill_proc, procs[n])

        def serving():
            return all(get_from(p.port, src, "/hello").status == 200
                       for src in ("127.0.0.1", "127.9.0.1"))
        self.assertTrue(wait_until(serving, 10, interval=0.1), get_json(admin, "/status"))
        print("  recovered in %.2f s" % (time.monotonic() - t0), flush=True)
        self.assertEqual(get_from(p.port, "127.9.0.1", "/hello").get("x-backend"), "cn")


if __name__ == "__main__":
    unittest.main()
