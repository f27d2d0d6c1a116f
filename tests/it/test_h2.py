"""HTTP/2 to clients (issue 14), end to end: ALPN h2 on TLS listeners and
h2c with prior knowledge, each stream one HTTP/1.1 exchange upstream.

Real clients (curl --http2, nghttp) and python3-h2 for the protocol;
hand-made frames (tests/it/h2client.RawH2) for what hostile clients send.
Every refusal and every attack checks that the proxy survives (a new
connection is served) and that the backend received nothing it should not.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import unittest

import test_tls as tt
from backend import Backend, payload_sha256
from h2client import (CANCEL, CONTINUATION, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM,
                      GOAWAY, HAVE_H2, HEADERS, NO_ERROR, PING, PRIORITY, PROTOCOL_ERROR,
                      REFUSED_STREAM, RST_STREAM, SETTINGS, WINDOW_UPDATE, H2Client, RawH2,
                      frame)
from harness import Conn, Proxy, free_port, georoute_only, request, wait_until
from test_hardening import metrics_text, sample


def sha(b):
    return hashlib.sha256(b).hexdigest()


@georoute_only("HTTP/2 termination is georoute's")
@unittest.skipUnless(HAVE_H2, "python3-h2 is not installed")
@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class H2Base(unittest.TestCase):
    def setUp(self):
        self.pki = tt.Pki()
        self.addCleanup(self.pki.cleanup)
        self.cert = self.pki.leaf("a.example", dns=["a.example"])
        self.be = Backend("b1").start()
        self.addCleanup(self.be.stop)

    def proxy(self, listen_extra=None, tls=True, **cfg):
        port = free_port()
        listen = {"addr": "127.0.0.1:%d" % port}
        if tls:
            listen["tls"] = {"certificates": [{"cert": self.cert[0], "key": self.cert[1]}]}
        listen.update(listen_extra or {})
        conf = {"listen": [listen], "regions": {"main": {"backends": [self.be.addr]}}}
        conf.update(cfg)
        p = Proxy(conf, port=port).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def ctx(self, alpn=("h2", "http/1.1")):
        return tt.client_ctx(self.pki, alpn=alpn)

    def client(self, p, **kw):
        c = H2Client(p.port, self.ctx(), **kw)
        self.addCleanup(c.close)
        return c

    def raw(self, p, **kw):
        r = RawH2(p.port, self.ctx(), **kw)
        self.addCleanup(r.close)
        return r

    def assert_serves(self, p):
        """A fresh connection still gets a response: the proxy survived."""
        with H2Client(p.port, self.ctx()) as c:
            r = c.response(c.request("GET", "/"))
            self.assertEqual((r.status, bytes(r.body)), (200, b"b1"))


class H2Basics(H2Base):
    def test_alpn_offers_h2_first_and_http11_still_served(self):
        p = self.proxy()
        with tt.tls_conn(p.port, self.pki, ctx=self.ctx()) as s:
            self.assertEqual(s.selected_alpn_protocol(), "h2")
        with tt.tls_conn(p.port, self.pki) as s:  # a client offering http/1.1 only
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            self.assertEqual(tt.get(s)[1].status, 200)
        off = self.proxy(listen_extra={"h2": False})
        with tt.tls_conn(off.port, self.pki, ctx=self.ctx()) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")

    def test_streams_carry_bodies_heads_and_empty_answers(self):
        p = self.proxy()
        c = self.client(p)
        # /close/N: a close-delimited body (no length, no chunks) ends the
        # stream cleanly when the backend closes, as it ends an HTTP/1.1 one.
        want = {c.request("GET", "/size/0"): 0, c.request("GET", "/size/100"): 100,
                c.request("GET", "/size/300000"): 300000, c.request("GET", "/chunked/70000"): 70000,
                c.request("GET", "/close/90000"): 90000, c.request("GET", "/close/0"): 0}
        head = c.request("HEAD", "/size/5000")
        nc = c.request("GET", "/status/204")
        nm = c.request("GET", "/status/304")
        for sid, n in want.items():
            r = c.response(sid)
            self.assertEqual((r.status, r.ended, r.reset), (200, True, None), sid)
            self.assertEqual(sha(r.body), payload_sha256(n), sid)
            self.assertIsNone(r.header("transfer-encoding"))
            self.assertIsNone(r.header("connection"))
        r = c.response(head)
        self.assertEqual((r.status, len(r.body), r.header("content-length")), (200, 0, "5000"))
        for sid, st in ((nc, 204), (nm, 304)):
            r = c.response(sid)
            self.assertEqual((r.status, len(r.body), r.ended), (st, 0, True))

    def test_response_trailers_and_the_explain_header(self):
        p = self.proxy(debug_clients=["127.0.0.0/8"])
        c = self.client(p)
        r = c.response(c.request("GET", "/chunked/5000?trailers"))
        self.assertEqual(sha(r.body), payload_sha256(5000))
        self.assertEqual(dict(r.trailers).get("x-checksum"), payload_sha256(5000))
        self.assertIn("region=main", r.header("x-georoute") or "")
        self.assertIn("tls=TLSv1.3", r.header("x-georoute") or "")

    def test_backend_control_bytes_never_reach_the_client(self):
        # Response fields reach HTTP/2 from llhttp's parse, not checked
        # again: a control byte in a backend's value is refused there, and
        # never reaches the client.
        p = self.proxy()
        c = self.client(p)
        for byte in (0x00, 0x01, 0x08, 0x0b, 0x0c, 0x0d, 0x1f, 0x7f):
            r = c.response(c.request("GET", "/field-byte/%02x" % byte))
            self.assertEqual(r.status, 502, hex(byte))
            self.assertIsNone(r.header("x-bad"), hex(byte))
            # Head and trailers come in one read here: a 502 unless the head
            # went first, then the stream is reset.
            r = c.response(c.request("GET", "/field-byte/%02x?trailer" % byte))
            self.assertIn((r.status, r.reset), ((502, None), (200, 2)), hex(byte))
            self.assertEqual(r.trailers, [], hex(byte))
        r = c.response(c.request("GET", "/field-byte/09"))
        self.assertEqual((r.status, r.header("x-bad"), bytes(r.body)), (200, "a\tb", b"ok"))
        r = c.response(c.request("GET", "/field-byte/09?trailer"))
        self.assertEqual((r.reset, dict(r.trailers).get("x-bad")), (None, "a\tb"))

    def test_reload_sends_goaway_and_open_streams_finish(self):
        p = self.proxy()
        r = self.raw(p)
        r.headers(1, r.head(path=b"/slow/1500"))
        self.assertTrue(wait_until(lambda: any(b"/slow/1500" in h for h in self.be.heads), 5))
        with open(p.config_path, "a") as f:
            f.write("explain_header: X-Reloaded\n")
        p.send_signal(signal.SIGHUP)
        f = r.until(lambda f: f[0] == GOAWAY, timeout=10)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">II", f[3][:8]), (1, NO_ERROR))
        body = r.until(lambda f: f[0] == DATA and f[2] == 1 and f[1] & END_STREAM, timeout=10)
        self.assertEqual(body[3], b"slow")
        self.assert_serves(p)  # a new connection, on the new config

    def test_keepalive_requests_bounds_streams_per_connection(self):
        p = self.proxy(limits={"max_keepalive_requests": 3})
        r = self.raw(p)
        for sid in (1, 3, 5):
            r.headers(sid, r.head())
        f = r.until(lambda f: f[0] == GOAWAY, timeout=10)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">II", f[3][:8]), (5, NO_ERROR))
        for sid in (1, 3, 5):  # the three streams are served all the same
            head = r.until(lambda f: f[0] == HEADERS and f[2] == sid, timeout=10)
            self.assertEqual(head[4][":status"], "200")

    def test_upstream_sees_http11_with_forwarding_headers(self):
        p = self.proxy()
        c = self.client(p)
        r = c.response(c.request("GET", "/headers?q=1", headers=[
            ("cookie", "a=1"), ("cookie", "b=2"), ("x-custom", "v"), ("user-agent", "t")]))
        self.assertEqual(r.status, 200)
        head = bytes(r.body).decode("latin-1")
        lines = head.lower().split("\r\n")
        self.assertTrue(lines[0].startswith("get /headers?q=1 http/1.1"), lines[0])
        self.assertIn("host: a.example", lines)
        self.assertIn("cookie: a=1; b=2", lines)  # RFC 9113 §8.2.3
        self.assertIn("x-custom: v", lines)
        self.assertIn("x-forwarded-proto: https", lines)
        self.assertIn("x-forwarded-for: 127.0.0.1", lines)
        self.assertFalse([ln for ln in lines if ln.startswith(":")])

    def test_uploads_stream_with_flow_control(self):
        p = self.proxy()
        c = self.client(p)
        body = os.urandom(3 * 1024 * 1024 + 11)
        known = c.request("POST", "/echo", headers=[("content-length", str(len(body)))],
                          body=body)
        r = c.response(known, timeout=60)
        self.assertEqual(r.status, 200)
        got = json.loads(bytes(r.body))
        self.assertEqual((got["sha256"], got["length"]), (sha(body), len(body)))
        # No content-length: it goes upstream chunked.
        unknown = c.request("POST", "/echo", body=body[:200000])
        r = c.response(unknown, timeout=60)
        got = json.loads(bytes(r.body))
        self.assertEqual((got["sha256"], got["length"], got["chunked"]),
                         (sha(body[:200000]), 200000, True))

    def test_request_trailers_and_100_continue(self):
        p = self.proxy()
        c = self.client(p)
        sid = c.request("POST", "/echo", headers=[("te", "trailers")], body=b"x" * 1000,
                        end=False)
        c.send_trailers(sid, [("x-sum", "abc")])
        r = c.response(sid)
        self.assertEqual(json.loads(bytes(r.body))["length"], 1000)
        sid = c.request("POST", "/echo", headers=[("expect", "100-continue"),
                                                  ("content-length", "5")], end=False)
        self.assertTrue(c.wait(lambda: c.streams[sid].interim or c.streams[sid].status))
        self.assertEqual(c.streams[sid].interim, [100])
        c.send_body(sid, b"hello")
        self.assertEqual(json.loads(bytes(c.response(sid).body))["length"], 5)

    def test_one_log_line_per_stream_and_metrics_by_protocol(self):
        p = self.proxy()
        c = self.client(p)
        for sid in [c.request("GET", "/size/10") for _ in range(3)]:
            c.response(sid)
        lines = p.access_lines(3)
        self.assertEqual(len(lines), 3)
        for ln, sid in zip(sorted(lines, key=lambda l: int(re.search(r" stream=(\d+)", l)[1])),
                           (1, 3, 5)):
            self.assertIn(" proto=h2 stream=%d " % sid, ln)
            self.assertIn(" tls=TLSv1.3 ", ln)
        text = metrics_text(p)
        self.assertEqual(sample(text, "georoute_requests_by_protocol_total", protocol="h2"), 3)
        self.assertEqual(sample(text, "georoute_h2_connections_total"), 1)

    def test_curl_and_nghttp_are_served(self):
        if not shutil.which("curl") or not shutil.which("nghttp"):
            self.skipTest("curl or nghttp missing")
        p = self.proxy()
        url = "https://a.example:%d/size/100000" % p.port
        res = ["--resolve", "a.example:%d:127.0.0.1" % p.port, "--cacert", self.pki.path("ca.pem")]
        out = subprocess.run(["curl", "-s", "--http2", "-o", "-", "-w", "%{http_version}"] + res +
                             [url], capture_output=True, timeout=30)
        self.assertEqual(out.stdout[-1:], b"2")
        self.assertEqual(sha(out.stdout[:-1]), payload_sha256(100000))
        out = subprocess.run(["nghttp", "-n", "-s", "-m", "20",
                              "https://127.0.0.1:%d/size/20000" % p.port], capture_output=True,
                             timeout=30, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("/size/20000"), 20)


class H2Errors(H2Base):
    def test_slow_upload_is_408_and_too_large_is_413(self):
        p = self.proxy(timeouts={"client_body": "1s"}, limits={"max_body_bytes": 1000})
        r = self.raw(p)
        r.headers(1, r.head(method=b"POST", path=b"/echo", extra=[(b"content-length", b"10")]),
                  end_stream=False)
        r.data(1, b"12345")  # and never the rest
        head = r.until(lambda f: f[0] == HEADERS and f[2] == 1, timeout=15)
        self.assertEqual(head[4][":status"], "408")
        r.headers(3, r.head(method=b"POST", path=b"/echo", extra=[(b"content-length", b"5000")]),
                  end_stream=False)
        head = r.until(lambda f: f[0] == HEADERS and f[2] == 3, timeout=15)
        self.assertEqual(head[4][":status"], "413")
        self.assertEqual(self.be.echoed, [])  # neither body was read upstream to its end

    def test_proxy_errors_are_h2_responses(self):
        dead = free_port()
        p = self.proxy(regions={"main": {"backends": ["127.0.0.1:%d" % dead]}})
        c = self.client(p)
        r = c.response(c.request("GET", "/"))
        self.assertEqual(r.status, 502)
        self.assertIn(b"no backend", bytes(r.body))

    def test_upstream_dying_mid_body_resets_only_its_stream(self):
        p = self.proxy()
        c = self.client(p)
        r = c.response(c.request("GET", "/die-mid/200000"))
        self.assertEqual(r.reset, 2)  # INTERNAL_ERROR: a cut body is never a complete one
        r = c.response(c.request("GET", "/"))
        self.assertEqual((r.status, bytes(r.body)), (200, b"b1"))

    def test_slow_reader_holds_one_window_not_the_connection(self):
        p = self.proxy()
        c = self.client(p, auto_ack=False)
        big = c.request("GET", "/size/%d" % (64 * 1024 * 1024))
        c.wait(lambda: len(c.streams[big].body) >= 65535, timeout=10)
        rss0 = p.rss_kib()
        time.sleep(1.0)  # the backend keeps pushing; we do not read
        # Another stream on the same connection is still served.
        c.auto_ack = True
        small = c.request("GET", "/size/100")
        c.conn.increment_flow_control_window(1 << 20)  # the connection, not the big stream
        c.flush()
        r = c.response(small)
        self.assertEqual(sha(r.body), payload_sha256(100))
        self.assertLess(len(c.streams[big].body), 200000)
        self.assertLess(p.rss_kib() - rss0, 16 * 1024)


# Malformed requests (RFC 9113 §8.2, §8.2.2, §8.3): a stream error or a 400,
# and the backend never sees them.
BAD_HEADS = {
    "uppercase name": lambda r: r.head(extra=[(b"X-Upper", b"1")]),
    "space in name": lambda r: r.head(extra=[(b"x bad", b"1")]),
    "colon in name": lambda r: r.head(extra=[(b"x:bad", b"1")]),
    "connection": lambda r: r.head(extra=[(b"connection", b"close")]),
    "keep-alive": lambda r: r.head(extra=[(b"keep-alive", b"1")]),
    "proxy-connection": lambda r: r.head(extra=[(b"proxy-connection", b"1")]),
    "transfer-encoding": lambda r: r.head(extra=[(b"transfer-encoding", b"chunked")]),
    "upgrade": lambda r: r.head(extra=[(b"upgrade", b"websocket")]),
    "te gzip": lambda r: r.head(extra=[(b"te", b"gzip")]),
    "CR in value": lambda r: r.head(extra=[(b"x-a", b"1\r\nx-b: 2")]),
    "LF in value": lambda r: r.head(extra=[(b"x-a", b"1\nx-b: 2")]),
    "NUL in value": lambda r: r.head(extra=[(b"x-a", b"1\x002")]),
    "missing :path": lambda r: [(b":method", b"GET"), (b":scheme", b"https"),
                                (b":authority", b"a.example")],
    "missing :method": lambda r: [(b":path", b"/"), (b":scheme", b"https"),
                                  (b":authority", b"a.example")],
    "duplicate :path": lambda r: r.head() + [(b":path", b"/x")],
    "unknown pseudo": lambda r: r.head(extra=[(b":bogus", b"1")]),
    "pseudo after regular": lambda r: [(b":method", b"GET"), (b"x-a", b"1"), (b":path", b"/"),
                                       (b":scheme", b"https"), (b":authority", b"a.example")],
    "authority and host disagree": lambda r: r.head(extra=[(b"host", b"b.example")]),
    "CONNECT": lambda r: [(b":method", b"CONNECT"), (b":authority", b"a.example:443")],
    "extended CONNECT": lambda r: r.head(method=b"CONNECT", extra=[(b":protocol", b"websocket")]),
    "empty path": lambda r: r.head(path=b""),
}


class H2Refusals(H2Base):
    def test_malformed_requests_never_reach_the_backend(self):
        p = self.proxy()
        good = 0
        for name, build in BAD_HEADS.items():
            with self.subTest(name):
                before = len(self.be.heads)
                r = self.raw(p)
                r.headers(1, build(r))
                kind, code = r.stream_answer(1)
                # CONNECT gets 501 like its HTTP/1.1 twin; the rest a stream error.
                self.assertTrue(kind == "reset" and code == PROTOCOL_ERROR or
                                kind == "status" and code in (400, 501) or kind == "goaway",
                                (name, kind, code))
                self.assertEqual(len(self.be.heads), before, name)
                # The connection (when it stays) still serves a good request.
                if kind != "goaway":
                    r.headers(3, r.head())
                    self.assertEqual(r.stream_answer(3), ("status", 200), name)

    def test_content_length_disagreeing_with_data(self):
        p = self.proxy()
        for cl, data in ((b"10", b"x" * 5), (b"3", b"x" * 5)):
            r = self.raw(p)
            r.headers(1, r.head(method=b"POST", path=b"/echo", extra=[(b"content-length", cl)]),
                      end_stream=False)
            r.data(1, data, end_stream=True)
            kind, code = r.stream_answer(1)
            self.assertEqual(kind, "reset", (cl, kind, code))
        # No body that disagrees with its length was read to its end upstream.
        self.assertEqual(self.be.echoed, [])
        self.assert_serves(p)

    def test_upgrade_h2c_over_http11_stays_refused(self):
        p = self.proxy(tls=False, listen_extra={"h2c": True})
        with Conn(p.port) as c:
            c.send(request("GET", "/headers", [("Connection", "Upgrade, HTTP2-Settings"),
                                               ("Upgrade", "h2c"),
                                               ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
            r = c.read_response(timeout=10)
            self.assertNotEqual(r.status, 101)
            self.assertNotIn(b"upgrade", r.body.lower())


class H2Attacks(H2Base):
    def attack_ends_calm(self, p, send, limit_requests=None):
        before = len(self.be.heads)
        r = self.raw(p)
        send(r)
        self.assertEqual(r.goaway(timeout=15), ENHANCE_YOUR_CALM)
        self.assertTrue(r.until(lambda f: False, timeout=5) is None and r.eof)
        if limit_requests is not None:
            self.assertLessEqual(len(self.be.heads) - before, limit_requests)
        self.assert_serves(p)

    def test_rapid_reset(self):
        p = self.proxy()

        def send(r):
            for i in range(1000):
                sid = 2 * i + 1
                if not (r.headers(sid, r.head()) and
                        r.send(frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL)))):
                    break
        self.attack_ends_calm(p, send, limit_requests=300)

    def test_continuation_flood(self):
        p = self.proxy()

        def send(r):
            block = r.block(r.head())
            r.send(frame(HEADERS, 0, 1, block))
            for _ in range(10000):
                if not r.send(frame(CONTINUATION, 0, 1, b"")):
                    break
        before = len(self.be.heads)
        r = self.raw(p)
        send(r)
        code = r.goaway(timeout=15)
        self.assertIn(code, (ENHANCE_YOUR_CALM, PROTOCOL_ERROR))
        self.assertEqual(len(self.be.heads), before)
        self.assert_serves(p)

    def test_ping_settings_priority_and_empty_data_floods(self):
        p = self.proxy()
        floods = {
            "ping": lambda r, i: frame(PING, 0, 0, struct.pack(">Q", i)),
            "settings": lambda r, i: frame(SETTINGS, 0, 0, b""),
            "priority": lambda r, i: frame(PRIORITY, 0, 2 * i + 1, struct.pack(">IB", 0, 15)),
            "empty data": lambda r, i: frame(DATA, 0, 1, b""),
            "window update": lambda r, i: frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)),
        }
        for name, make in floods.items():
            with self.subTest(name):
                def send(r):
                    if name == "empty data":
                        r.headers(1, r.head(method=b"POST", path=b"/echo"), end_stream=False)
                    for i in range(5000):
                        if not r.send(make(r, i)):
                            break
                self.attack_ends_calm(p, send)

    def test_hpack_bomb_is_refused(self):
        p = self.proxy()
        r = self.raw(p)
        big = b"x" * 4000
        fields = r.head(extra=[(b"x-bomb", big)])
        r.headers(1, fields)  # indexes the 4 KB field in our table
        r.stream_answer(1)
        # Each later reference costs one byte on the wire and 4 KB decoded.
        block = r.block(r.head(extra=[(b"x-bomb", big)] * 200))
        r.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, block))
        kind, code = r.stream_answer(3)
        self.assertTrue(kind == "status" and code == 431 or kind in ("reset", "goaway"),
                        (kind, code))
        self.assertFalse([h for h in self.be.heads if h.count(b"x-bomb") > 10])
        self.assert_serves(p)

    def test_too_many_streams_are_refused(self):
        p = self.proxy(limits={"h2_max_concurrent_streams": 4})
        r = self.raw(p)
        for i in range(8):  # slow ones, all at once
            r.headers(2 * i + 1, r.head(path=b"/slow/1500"))
        answers = [r.stream_answer(2 * i + 1, timeout=15) for i in range(8)]
        self.assertEqual(answers.count(("status", 200)), 4, answers)
        self.assertEqual(answers.count(("reset", REFUSED_STREAM)), 4, answers)


class H2Timeouts(H2Base):
    def test_zero_window_stall_is_cut_by_the_send_timeout(self):
        # Two deadlines of client_send see this stall: the connection's (every
        # stream with bytes queued is at a zero window) and the stream's own
        # (its write is held). Whichever fires first cuts it: the connection
        # closes, or the stream is reset and the connection, idle then,
        # closes at client_keepalive. Which one is a race of two timers.
        p = self.proxy(timeouts={"client_send": "1s", "client_keepalive": "1s"})
        r = self.raw(p, settings=struct.pack(">HI", 4, 0))  # INITIAL_WINDOW_SIZE 0
        r.headers(1, r.head(path=b"/size/100000"))
        self.assertEqual(r.stream_answer(1), ("status", 200))
        self.assertTrue(wait_until(lambda: r.recv_frames(0.2) is not None and r.eof, 10))
        self.assert_serves(p)

    def test_idle_connection_gets_goaway_then_close(self):
        p = self.proxy(timeouts={"client_keepalive": "1s"})
        r = self.raw(p)
        r.headers(1, r.head())
        self.assertEqual(r.stream_answer(1), ("status", 200))
        self.assertEqual(r.goaway(timeout=10), NO_ERROR)
        self.assertTrue(wait_until(lambda: r.recv_frames(0.2) is not None and r.eof, 10))

    def test_sigterm_sends_goaway_and_lets_streams_finish(self):
        p = self.proxy(timeouts={"lame_duck": "0s", "shutdown_drain": "10s"})
        r = self.raw(p)
        r.headers(1, r.head(path=b"/slow/1500"))
        self.assertTrue(wait_until(lambda: any(b"/slow/1500" in h for h in self.be.heads), 5))
        p.send_signal(signal.SIGTERM)
        f = r.until(lambda f: f[0] == GOAWAY, timeout=10)
        self.assertIsNotNone(f)
        last, code = struct.unpack(">II", f[3][:8])
        self.assertEqual((last, code), (1, NO_ERROR))
        r.headers(3, r.head())  # after the GOAWAY: refused, never served
        head = r.until(lambda f: f[0] == HEADERS and f[2] == 1, timeout=10)
        self.assertEqual(head[4][":status"], "200")
        body = r.until(lambda f: f[0] == DATA and f[2] == 1 and f[1] & END_STREAM, timeout=10)
        self.assertEqual(body[3], b"slow")
        self.assertIsNone(r.until(lambda f: f[0] == HEADERS and f[2] == 3, timeout=2))
        self.assertEqual(p.wait(timeout=15), 0)


class H2c(H2Base):
    def test_prior_knowledge_on_a_plain_listener(self):
        p = self.proxy(tls=False, listen_extra={"h2c": True})
        with H2Client(p.port) as c:
            r = c.response(c.request("GET", "/size/1000"))
            self.assertEqual(sha(r.body), payload_sha256(1000))
        self.assertIn(b"x-forwarded-proto: http\r\n", self.be.heads[-1].lower())
        self.assertRegex(p.access_lines(1)[0], r" proto=h2c stream=1( |$)")
        # HTTP/1.1 still works on the same listener.
        with Conn(p.port) as c:
            c.send(request("GET", "/", host="a.example"))
            self.assertEqual(c.read_response(timeout=10).status, 200)

    def test_off_by_default(self):
        p = self.proxy(tls=False)
        before = len(self.be.heads)
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5"),
                            data[:40])
        self.assertEqual(len(self.be.heads), before)

    def test_h2c_on_a_tls_listener_is_a_config_error(self):
        port = free_port()
        p = Proxy({"listen": [{"addr": "127.0.0.1:%d" % port, "h2c": True,
                               "tls": {"certificates": [{"cert": self.cert[0],
                                                         "key": self.cert[1]}]}}],
                   "regions": {"main": {"backends": [self.be.addr]}}}, port=port,
                  args=["--check"], ready=False).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.assertEqual(p.wait(timeout=10), 1)
        self.assertIn("h2c is HTTP/2 on a plain listener", p.stderr())


if __name__ == "__main__":
    unittest.main()
