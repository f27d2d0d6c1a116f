"""Request smuggling and malformed input (issue 8): each case is sent raw
through georoute to a *recording* backend, which keeps exactly the bytes
it received on every connection.

A refused case must get its status (400; 501/505 where RFC 9110/9112 say;
413 over the body limit; 431 over the head limit), the client connection
must close, and the backend must have received none of its bytes. A case
RFC 9112 lets a proxy normalise must reach the backend as exactly one
unambiguous request. Malformed upstream responses must give the client a
502 and the upstream connection must not be reused.

One proxy and one backend serve the whole file, so it stays well under a
minute; every case uses a fresh client connection.

Policy decided here (proxy/proto/http1.c enforces it; llhttp 8.1 strict mode
alone lets the starred ones through):
- Transfer-Encoding in a request: exactly one line, HTTP/1.1, listing only
  "chunked" (OWS and empty list elements tolerated, forwarded as one plain
  "Transfer-Encoding: chunked"). Anything else is 400, including the legal
  but never-needed "gzip, chunked"* and "identity" + "chunked" lines*,
  and TE in HTTP/1.0*. "Content_Length"/"Transfer_Encoding"* are 400 too:
  CGI-style backends read them as the real thing.
- Bare LF* or CR anywhere in a head, obs-fold (also after an empty value*),
  an empty header name*, two SP in a request line*: 400.
- Host: one, valid uri-host[:port]* (400 otherwise). Absolute-form targets
  (http/https, no userinfo) are forwarded in origin-form with Host set to
  the target's authority*; "*" only with OPTIONS*; no fragments*.
- Methods: a well-formed token llhttp does not know gets 501, as does
  CONNECT; anything else in the method position is 400.
- Versions: HTTP/0.9* (at once, not after a timeout), 1.2, 2.0*, 3.0 and
  the HTTP/2 preface get 505; a malformed version ("HTTP/1.10", trailing
  SP) is 400.
- Chunk extensions: at most 4 KiB per chunk-size line*, no DEL*; trailers
  may not carry framing, routing or hop-by-hop fields*, nor end a line in a
  bare LF*. A chunked body is forwarded re-encoded: one chunk per read, hex
  sizes without leading zeros, no extensions, CRLF; trailers that say who
  the client is (X-Forwarded-For, Forwarded, X-Real-IP, geo headers) are
  dropped.
- Header names with "_" are dropped (underscores_in_headers); a Connection
  header with more than 16 tokens is 400.
- Upgrade: h2c (alone or listed) is never an upgrade: forwarded as plain
  HTTP/1.1 without Upgrade/Connection, client connection closed after.
- Responses: status 100..599*, no control bytes in the reason*, HTTP/1.x
  only*, one Transfer-Encoding line*, none in HTTP/1.0*; else 502 and the
  upstream connection is closed.
"""

import atexit
import re
import socket
import threading
import time
import unittest

from harness import MODE, Conn, Proxy, free_port, georoute_only, wait_until

MAX_HEADER_BYTES = 4096
MAX_BODY_BYTES = 1024
OK_BODY = b"ok"


def _find_head_end(buf, start):
    i = buf.find(b"\r\n\r\n", start)
    return -1 if i < 0 else i + 4


class Recorded:
    """One upstream connection as the backend saw it."""

    def __init__(self, cid):
        self.id = cid
        self.raw = bytearray()     # every byte received, in order
        self.requests = []         # raw bytes of each complete request parsed
        self.closed = False        # the proxy closed it (EOF seen)
        self.probe = False         # a health-check connection, not traffic


class RecordingBackend:
    """A raw TCP server that records what it receives per connection and
    answers each request it can frame (Content-Length or chunked) with a
    fixed 200. A request whose target is in `canned` gets those raw bytes
    as its answer instead (for malformed-response cases)."""

    def __init__(self):
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.conns = []
        self.canned = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- observation (probes excluded)
    def traffic(self):
        with self.lock:
            return [c for c in self.conns if not c.probe]

    def total_bytes(self):
        with self.lock:
            return sum(len(c.raw) for c in self.conns if not c.probe)

    def requests_since(self, mark):
        """(conn, raw request) pairs parsed since mark = total_requests()."""
        out = []
        with self.lock:
            for c in self.conns:
                if not c.probe:
                    out += [(c, r) for r in c.requests]
        return out[mark:]

    def total_requests(self):
        with self.lock:
            return sum(len(c.requests) for c in self.conns if not c.probe)

    # -- serving
    def _accept(self):
        cid = 0
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            cid += 1
            rec = Recorded(cid)
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._serve, args=(s, rec), daemon=True).start()

    def _serve(self, s, rec):
        buf = bytearray()
        pos = 0
        s.settimeout(30)
        try:
            while True:
                try:
                    d = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    d = b""
                if not d:
                    break
                with self.lock:
                    rec.raw += d
                buf += d
                while True:
                    end = self._frame(buf, pos)
                    if end is None:
                        break
                    req = bytes(buf[pos:end])
                    pos = end
                    if b"georoute-probe" in req.split(b"\r\n\r\n", 1)[0]:
                        with self.lock:
                            rec.probe = True
                    with self.lock:
                        rec.requests.append(req)
                    target = req.split(b" ", 2)[1] if req.count(b" ") >= 2 else b""
                    resp = self.canned.get(target)
                    if resp is None:
                        resp = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Conn: %d\r\n\r\n"
                                % (len(OK_BODY), rec.id) + OK_BODY)
                    s.sendall(resp)
        except OSError:
            pass
        finally:
            with self.lock:
                rec.closed = True
            s.close()

    @staticmethod
    def _frame(buf, pos):
        """End offset of the request starting at pos, or None if incomplete."""
        hend = _find_head_end(buf, pos)
        if hend < 0:
            return None
        head = bytes(buf[pos:hend]).decode("latin-1").lower()
        m = re.search(r"\r\ncontent-length: *(\d+)", head)
        if "\r\ntransfer-encoding:" in head:
            i = hend
            while True:
                le = buf.find(b"\r\n", i)
                if le < 0:
                    return None
                size = int(bytes(buf[i:le]).split(b";")[0] or b"0", 16)
                i = le + 2
                if size == 0:
                    t = buf.find(b"\r\n\r\n", i - 2)
                    return None if t < 0 else t + 4
                if len(buf) < i + size + 2:
                    return None
                i += size + 2
        if m:
            n = int(m.group(1))
            return hend + n if len(buf) >= hend + n else None
        return hend


class SharedFixture(unittest.TestCase):
    """One recording backend and one proxy for every test of the class,
    started by the first test (tests/it/run.py runs tests one by one and
    calls no setUpClass) and stopped at exit or by tearDownClass."""

    b = None
    p = None

    @classmethod
    def config(cls, backend):
        raise NotImplementedError

    @classmethod
    def canned(cls):
        return {}

    def setUp(self):
        cls = type(self)
        if cls.p is not None and cls.p.running():
            return
        cls.b = RecordingBackend()
        cls.b.canned.update(cls.canned())
        p = Proxy(cls.config(cls.b))
        try:
            p.start()
        except Exception:
            cls.b.stop()
            raise
        cls.p = p
        atexit.register(cls.stop_fixture)

    @classmethod
    def stop_fixture(cls):
        if cls.p is not None:
            cls.p.__exit__(None, None, None)
            cls.p = None
        if cls.b is not None:
            cls.b.stop()
            cls.b = None

    @classmethod
    def tearDownClass(cls):
        cls.stop_fixture()


def _status(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


@georoute_only("checks georoute's own refusals and what reaches the backend")
class Smuggling(SharedFixture):
    @classmethod
    def config(cls, backend):
        return {
            "workers": 1,
            "regions": {"main": {"backends": [backend.addr],
                                 "passive": {"consecutive_failures": 1000}}},
            "limits": {"max_header_bytes": "4k", "max_body_bytes": MAX_BODY_BYTES},
            "geo": {"headers": {"zone": "X-Geo-Zone"}},
        }

    # -- helpers
    def exchange(self, raw, timeout=5.0):
        """Sends raw on a fresh connection; returns (everything received
        until the proxy closed, closed?)."""
        c = Conn(self.p.port, timeout=timeout)
        try:
            try:
                c.send(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                data = c.read_until_close(timeout)
                return data, True
            except TimeoutError:
                return bytes(c.buf), False
        finally:
            c.close()

    def refused(self, raw, status, what=""):
        """raw gets `status`, the connection closes and the backend sees
        nothing of it."""
        before = self.b.total_bytes()
        data, closed = self.exchange(raw)
        self.assertEqual(_status(data), status, "%s: got %r" % (what, data[:200]))
        self.assertTrue(closed, "%s: connection left open" % what)
        self.assertIn(b"\r\nConnection: close\r\n", data.split(b"\r\n\r\n", 1)[0] + b"\r\n")
        time.sleep(0.02)
        self.assertEqual(self.b.total_bytes(), before,
                         "%s: backend received bytes of a refused request" % what)

    def forwarded(self, raw, what="", keep_open=True):
        """raw gets the backend's 200 and reaches the backend as exactly one
        request; returns that request's raw bytes."""
        mark = self.b.total_requests()
        c = Conn(self.p.port, timeout=5)
        try:
            c.send(raw)
            r = c.read_response()
            self.assertEqual(r.status, 200, "%s: %r" % (what, r))
            self.assertEqual(r.body, OK_BODY)
            if not keep_open:
                self.assertTrue(c.closed_within(3), "%s: connection left open" % what)
        finally:
            c.close()
        wait_until(lambda: self.b.total_requests() > mark, 2)
        time.sleep(0.02)
        got = self.b.requests_since(mark)
        self.assertEqual(len(got), 1, "%s: backend got %d requests: %r" % (what, len(got), got))
        return got[0][1]

    @staticmethod
    def head_lines(req):
        head = req.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        return head.split("\r\n")

    def header(self, req, name):
        vals = [ln.split(":", 1)[1].strip() for ln in self.head_lines(req)[1:]
                if ln.split(":", 1)[0].lower() == name.lower()]
        return vals

    def cases(self, status, table):
        for name, raw in table:
            with self.subTest(name):
                self.refused(raw, status, name)

    # -- framing
    def test_content_length_and_transfer_encoding(self):
        self.cases(400, [
            ("CL then TE", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
            ("TE then CL", b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                           b"Content-Length: 6\r\n\r\n0\r\n\r\nG"),
            ("CL 0 and TE", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ])

    def test_transfer_encoding_not_final_chunked_or_obfuscated(self):
        te = b"POST /s HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n0\r\n\r\n"
        self.cases(400, [(n, te % h) for n, h in [
            ("gzip only", b"Transfer-Encoding: gzip"),
            ("xchunked", b"Transfer-Encoding: xchunked"),
            ("chunked, identity", b"Transfer-Encoding: chunked, identity"),
            ("chunked, gzip", b"Transfer-Encoding: chunked, gzip"),
            ("gzip, chunked", b"Transfer-Encoding: gzip, chunked"),
            ("two TE lines", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
            ("identity then chunked lines", b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked"),
            ("space before colon", b"Transfer-Encoding : chunked"),
            ("TE line led by a space", b" Transfer-Encoding: chunked"),
            ("chunked\\x0b", b"Transfer-Encoding: chunked\x0b"),
            ("chunked + HTAB", b"Transfer-Encoding: chunked\t"),  # llhttp: not chunked
            ("Transfer_Encoding", b"Transfer_Encoding: chunked"),
            ("empty TE", b"Transfer-Encoding: "),
        ]] + [("TE in HTTP/1.0", b"POST /s HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked"
                                 b"\r\n\r\n0\r\n\r\n")])

    def test_transfer_encoding_whitespace_is_normalised(self):
        # OWS around the value is not part of it (RFC 9110 §5.5): one plain
        # "Transfer-Encoding: chunked" reaches the backend, body intact.
        for name, h in [("tab", b"Transfer-Encoding:\tchunked"),
                        ("leading space", b"Transfer-Encoding:  chunked"),
                        ("trailing space", b"Transfer-Encoding: chunked  "),
                        ("upper case", b"Transfer-Encoding: CHUNKED"),
                        ("empty list element", b"Transfer-Encoding: , chunked")]:
            with self.subTest(name):
                req = self.forwarded(b"POST /te HTTP/1.1\r\nHost: a\r\n" + h +
                                     b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", name)
                self.assertEqual(self.header(req, "transfer-encoding"), ["chunked"])
                self.assertTrue(req.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), req)

    def test_content_length_variants(self):
        cl = b"POST /s HTTP/1.1\r\nHost: a\r\n%s\r\n\r\nhello!"
        self.cases(400, [(n, cl % h) for n, h in [
            ("two CL differing", b"Content-Length: 5\r\nContent-Length: 6"),
            ("two CL same", b"Content-Length: 5\r\nContent-Length: 5"),
            ("CL list differing", b"Content-Length: 5, 6"),
            ("CL list same", b"Content-Length: 5, 5"),
            ("signed", b"Content-Length: +5"),
            ("negative", b"Content-Length: -5"),
            ("spaced", b"Content-Length: 5 5"),
            ("hex", b"Content-Length: 0x5"),
            ("empty", b"Content-Length: "),
            ("overflow", b"Content-Length: 99999999999999999999999"),
            ("Content_Length", b"Content_Length: 5"),
        ]])

    def test_body_limit(self):
        big = b"x" * (MAX_BODY_BYTES + 1)
        self.cases(413, [
            ("CL over limit", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                              % len(big) + big),
            ("chunked over limit", b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                                   b"\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)),
        ])

    # -- line structure
    def test_obs_fold(self):
        self.cases(400, [
            ("fold", b"GET /s HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n"),
            ("fold with tab", b"GET /s HTTP/1.1\r\nHost: a\r\nX-A: a\r\n\tb\r\n\r\n"),
            ("fold hiding CL", b"POST /s HTTP/1.1\r\nHost: a\r\nX-A: a\r\n Content-Length: 5"
                               b"\r\n\r\nhello"),
            ("fold after empty value hiding CL", b"POST /s HTTP/1.1\r\nHost: a\r\nX-A:\r\n"
                                                b" Content-Length: 5\r\n\r\nhello"),
            ("fold continuing CL", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n 6"
                                   b"\r\n\r\nhello!"),
            ("whitespace-only line", b"GET /s HTTP/1.1\r\nHost: a\r\n \r\n\r\n"),
        ])

    def test_bare_lf_and_cr(self):
        self.cases(400, [
            ("LF after request line", b"GET /s HTTP/1.1\nHost: a\r\n\r\n"),
            ("LF after header", b"GET /s HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"),
            ("LF ends head", b"GET /s HTTP/1.1\r\nHost: a\r\n\n"),
            ("LF everywhere", b"GET /s HTTP/1.1\nHost: a\n\n"),
            ("CR after request line", b"GET /s HTTP/1.1\rHost: a\r\n\r\n"),
            ("CR in header", b"GET /s HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
            ("CR in value", b"GET /s HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n"),
            ("LF after chunk size", b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                                    b"\r\n\r\n5\nhello\r\n0\r\n\r\n"),
            ("LF after chunk data", b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                                    b"\r\n\r\n5\r\nhello\n0\r\n\r\n"),
        ])

    def test_chunk_sizes_and_extensions(self):
        ch = b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%s"
        self.cases(400, [(n, ch % body) for n, body in [
            ("not hex", b"zz\r\nhello\r\n0\r\n\r\n"),
            ("negative", b"-5\r\nhello\r\n0\r\n\r\n"),
            ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
            ("space after size", b"5 \r\nhello\r\n0\r\n\r\n"),
            ("overflow", b"1ffffffffffffffff\r\nx\r\n0\r\n\r\n"),
            ("data longer than size", b"5\r\nhelloXX\r\n0\r\n\r\n"),
            ("ext with control byte", b"5;a=\x01\r\nhello\r\n0\r\n\r\n"),
            ("ext with NUL", b"5;a\x00b\r\nhello\r\n0\r\n\r\n"),
            ("ext quoted control", b"5;a=\"x\x01\"\r\nhello\r\n0\r\n\r\n"),
            ("ext quoted DEL", b"5;a=\"x\x7f\"\r\nhello\r\n0\r\n\r\n"),
            ("oversized ext", b"5;a=" + b"x" * 5000 + b"\r\nhello\r\n0\r\n\r\n"),
            ("trailer Content-Length", b"0\r\nContent-Length: 5\r\n\r\n"),
            ("trailer Transfer-Encoding", b"0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ]])
        # A valid body is forwarded re-encoded (issue 16.6): one canonical
        # chunk per read, sizes without leading zeros, no extensions, CRLF
        # only; a trailer that may cross is kept.
        req = self.forwarded(ch % b"5;name=\"v\"\r\nhello\r\n0\r\nX-Sum: 1 \r\n\r\n", "ext ok")
        self.assertTrue(req.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"), req)
        req = self.forwarded(ch % b"0000000003\r\nabc\r\n002;x\r\nde\r\n00\r\n\r\n", "zeros")
        self.assertTrue(req.endswith(b"\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"), req)

    def test_trailers_never_say_who_the_client_is(self):
        ch = b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%s"
        req = self.forwarded(ch % (b"3\r\nabc\r\n0\r\nX-Forwarded-For: 1.2.3.4\r\n"
                                   b"Forwarded: for=1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\n"
                                   b"X-Geo-Zone: forged\r\nX_Client: y\r\nX-Sum: 1\r\n\r\n"),
                             "identity trailers")
        self.assertTrue(req.endswith(b"\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"), req)
        self.cases(400, [
            ("bare LF in trailer", ch % b"3\r\nabc\r\n0\r\nX-Sum: 1\n\r\n"),
            ("bare LF ends trailers", ch % b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\n"),
            ("bare LF after last chunk", ch % b"3\r\nabc\r\n0\n\r\n"),
        ])

    def test_underscores_and_connection_tokens(self):
        req = self.forwarded(b"GET /u HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n"
                             b"X_Real_IP: 1.2.3.4\r\nX-Ok: 1\r\n\r\n", "underscores")
        self.assertEqual(self.header(req, "x_forwarded_for"), [])
        self.assertEqual(self.header(req, "x_real_ip"), [])
        self.assertEqual(self.header(req, "x-ok"), ["1"])
        few = b",".join(b"t%d" % i for i in range(16))
        self.forwarded(b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: " + few + b"\r\n\r\n", "16")
        many = b",".join(b"t%d" % i for i in range(17))
        self.refused(b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: " + many + b"\r\n\r\n", 400,
                     "17 Connection tokens")
        self.refused(b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: a\r\nConnection: " + few
                     + b"\r\n\r\n", 400, "17 over two lines")

    def test_oversized_chunk_size_line(self):
        # Over the slab-sized read the proxy never buffers a whole line:
        # refused once it passes the extension bound.
        raw = (b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;"
               + b"a=b;" * 20000 + b"\r\nhello\r\n0\r\n\r\n")
        self.refused(raw, 400, "80 KB chunk-size line")

    # -- header syntax
    def test_header_syntax(self):
        self.cases(400, [
            ("space before colon", b"GET /s HTTP/1.1\r\nHost : a\r\n\r\n"),
            ("tab before colon", b"GET /s HTTP/1.1\r\nHost\t: a\r\n\r\n"),
            ("paren in name", b"GET /s HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"),
            ("8-bit in name", b"GET /s HTTP/1.1\r\nHost: a\r\nX\xff: b\r\n\r\n"),
            ("empty name", b"GET /s HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"),
            ("NUL in name", b"GET /s HTTP/1.1\r\nHost: a\r\nX\x00A: b\r\n\r\n"),
            ("NUL in value", b"GET /s HTTP/1.1\r\nHost: a\r\nX: b\x00c\r\n\r\n"),
            ("control in value", b"GET /s HTTP/1.1\r\nHost: a\r\nX: b\x01c\r\n\r\n"),
            ("DEL in value", b"GET /s HTTP/1.1\r\nHost: a\r\nX: b\x7fc\r\n\r\n"),
            ("NUL in target", b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n"),
        ])

    def test_host(self):
        self.cases(400, [
            ("duplicate Host", b"GET /s HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            ("duplicate same Host", b"GET /s HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            ("no Host in 1.1", b"GET /s HTTP/1.1\r\n\r\n"),
            ("Host list", b"GET /s HTTP/1.1\r\nHost: a, b\r\n\r\n"),
            ("Host with path", b"GET /s HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            ("Host with space", b"GET /s HTTP/1.1\r\nHost: a b\r\n\r\n"),
            ("Host with userinfo", b"GET /s HTTP/1.1\r\nHost: u@a\r\n\r\n"),
            ("Host bad port", b"GET /s HTTP/1.1\r\nHost: a:8o\r\n\r\n"),
        ])

    def test_connection_naming_framing_headers(self):
        self.cases(400, [
            ("Connection: Content-Length", b"POST /s HTTP/1.1\r\nHost: a\r\nConnection: "
                                           b"Content-Length\r\nContent-Length: 5\r\n\r\nhello"),
            ("Connection: Transfer-Encoding", b"POST /s HTTP/1.1\r\nHost: a\r\nConnection: close,"
                                              b" transfer-encoding\r\nTransfer-Encoding: chunked"
                                              b"\r\n\r\n0\r\n\r\n"),
            ("Connection: Host", b"GET /s HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n"),
        ])

    # -- request line
    def test_request_targets(self):
        # Absolute-form: forwarded in origin-form; Host is the authority
        # (RFC 9112 §3.2.2: the received Host is ignored).
        req = self.forwarded(b"GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
                             "absolute-form")
        lines = self.head_lines(req)
        self.assertEqual(lines[0], "GET /p?q=1 HTTP/1.1")
        self.assertEqual(self.header(req, "host"), ["example.com:8080"])
        req = self.forwarded(b"GET https://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
                             "absolute-form without path")
        self.assertEqual(self.head_lines(req)[0], "GET /?q HTTP/1.1")
        req = self.forwarded(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "asterisk-form")
        self.assertEqual(self.head_lines(req)[0], "OPTIONS * HTTP/1.1")
        self.cases(400, [
            ("GET *", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("OPTIONS *x", b"OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("relative", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("userinfo", b"GET http://u:p@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("other scheme", b"GET ftp://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("empty authority", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("two spaces", b"GET  /s HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("tab separator", b"GET\t/s HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
        ])

    def test_methods(self):
        # llhttp knows a fixed method set. Another well-formed token is a
        # method we cannot proxy: 501 (RFC 9110 §9.1). Garbage is 400.
        self.cases(501, [
            ("unknown", b"FOO /s HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("lower case", b"get /s HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        ])
        self.cases(400, [
            ("control in method", b"G\x01T /s HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("over-long method", b"GET" * 40 + b" /s HTTP/1.1\r\nHost: a\r\n\r\n"),
        ])

    def test_versions(self):
        self.cases(505, [
            ("HTTP/0.9", b"GET /s\r\n"),
            ("HTTP/0.9 with blank line", b"GET /s\r\n\r\n"),
            ("HTTP/1.2", b"GET /s HTTP/1.2\r\nHost: a\r\n\r\n"),
            ("HTTP/2.0", b"GET /s HTTP/2.0\r\nHost: a\r\n\r\n"),
            ("HTTP/3.0", b"GET /s HTTP/3.0\r\nHost: a\r\n\r\n"),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ])
        self.cases(400, [
            ("HTTP/1.10", b"GET /s HTTP/1.10\r\nHost: a\r\n\r\n"),
            ("lower-case http", b"GET /s http/1.1\r\nHost: a\r\n\r\n"),
            ("space after version", b"GET /s HTTP/1.1 \r\nHost: a\r\n\r\n"),
        ])

    def test_over_long_heads(self):
        self.cases(431, [
            ("long target", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("long header line", b"GET /s HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 5000 + b"\r\n\r\n"),
            ("long total head", b"GET /s HTTP/1.1\r\nHost: a\r\n" +
             b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(60)) + b"\r\n"),
            ("too many headers", b"GET /s HTTP/1.1\r\nHost: a\r\n" +
             b"".join(b"X%d: v\r\n" % i for i in range(120)) + b"\r\n"),
        ])

    def test_upgrade_h2c_not_forwarded_as_upgrade(self):
        req = self.forwarded(b"GET /h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings"
                             b"\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
                             "h2c", keep_open=False)
        names = [ln.split(":", 1)[0].lower() for ln in self.head_lines(req)[1:]]
        self.assertNotIn("upgrade", names)
        self.assertNotIn("connection", names)
        self.assertNotIn("http2-settings", names)
        # Listed with another protocol, h2c still disqualifies the upgrade.
        req = self.forwarded(b"GET /h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                             b"Upgrade: websocket, h2c\r\n\r\n", "h2c listed", keep_open=False)
        self.assertEqual(self.header(req, "upgrade"), [])

    def test_pipelined_after_trailers_gets_its_own_head(self):
        # Regression: the pause after trailers was taken for a second head,
        # and the next pipelined request was passed on as body bytes, with
        # the client's own copy of our geo header and no X-Forwarded-For.
        mark = self.b.total_requests()
        c = Conn(self.p.port, timeout=5)
        try:
            c.send(b"POST /t1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
                   b"GET /t2 HTTP/1.1\r\nHost: a\r\nX-Geo-Zone: forged\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            self.assertEqual(c.read_response().status, 200)
        finally:
            c.close()
        self.assertTrue(wait_until(lambda: self.b.total_requests() >= mark + 2, 2))
        got = [r for _, r in self.b.requests_since(mark)]
        self.assertEqual([self.head_lines(r)[0] for r in got],
                         ["POST /t1 HTTP/1.1", "GET /t2 HTTP/1.1"])
        # Its head is ours: rendered, with our forwarding headers.
        self.assertEqual(self.header(got[1], "x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(self.header(got[1], "via"), ["1.1 georoute"])

    def test_normal_requests_still_pass(self):
        self.forwarded(b"GET /n HTTP/1.1\r\nHost: a\r\nX-Empty: \r\nReferer:\r\n\r\n",
                       "empty header values")
        req = self.forwarded(b"GET /n HTTP/1.0\r\n\r\n", "HTTP/1.0 without Host", keep_open=False)
        self.assertEqual(self.header(req, "host"), [""])
        req = self.forwarded(b"POST /n HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \r\n\r\nhello",
                             "CL with trailing OWS")
        self.assertEqual(self.header(req, "content-length"), ["5"])


# Malformed upstream responses: 502, and the connection is not reused.
BAD_RESPONSES = [
    ("bad status line", b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nhi"),
    ("no status code", b"HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nhi"),
    ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n"),
    ("CL and TE", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\n"),
    ("two different CL", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi"),
    ("CL list", b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nhi"),
    ("TE chunked + HTAB", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n"),
    ("two TE lines", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("bare LF", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"),
    ("bare LF in reason", b"HTTP/1.1 200 O\nK: x\r\nContent-Length: 2\r\n\r\nhi"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX:\r\n y\r\nContent-Length: 2\r\n\r\nhi"),
    ("status 600", b"HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n"),
    ("HTTP/2.0", b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ("control in reason", b"HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n"),
    ("101 not asked for", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                          b"Connection: upgrade\r\n\r\n"),
]


@georoute_only("checks georoute's 502 and upstream pool handling")
class BadUpstream(SharedFixture):
    @classmethod
    def config(cls, backend):
        return {
            "workers": 1,
            "regions": {"main": {"backends": [backend.addr],
                                 "passive": {"consecutive_failures": 1000}}},
            "limits": {"retries": 0},
        }

    @classmethod
    def canned(cls):
        return {b"/bad/%d" % i: raw for i, (_, raw) in enumerate(BAD_RESPONSES)}

    def conn_of(self, target):
        for c in self.b.traffic():
            for r in list(c.requests):
                if r.split(b" ", 2)[1] == target:
                    return c
        return None

    def test_malformed_responses_give_502_and_no_reuse(self):
        for i, (name, _) in enumerate(BAD_RESPONSES):
            with self.subTest(name):
                # A good request first puts a keep-alive connection in the pool.
                with Conn(self.p.port, timeout=5) as c:
                    c.send(b"GET /good/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
                    self.assertEqual(c.read_response().status, 200)
                    c.send(b"GET /bad/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
                    r = c.read_response(allow_truncated=True)
                    self.assertEqual(r.status, 502, "%s: %r" % (name, r))
                    self.assertTrue(c.closed_within(3))
                bad = self.conn_of(b"/bad/%d" % i)
                self.assertIsNotNone(bad)
                self.assertTrue(wait_until(lambda: bad.closed, 3),
                                "%s: upstream connection kept open" % name)
                with Conn(self.p.port, timeout=5) as c:
                    c.send(b"GET /after/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
                    self.assertEqual(c.read_response().status, 200)
                after = self.conn_of(b"/after/%d" % i)
                self.assertIsNotNone(after)
                self.assertNotEqual(after.id, bad.id, "%s: connection reused" % name)
                # Nothing was sent on that connection after the bad exchange.
                self.assertEqual(bad.requests[-1].split(b" ", 2)[1], b"/bad/%d" % i)


if __name__ == "__main__":
    unittest.main()
