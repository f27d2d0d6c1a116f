"""HTTP/2 clients for the end-to-end tests.

H2Client drives Debian's python3-h2 state machine: real requests with
flow control, for what a well-behaved client does. RawH2 writes frames by
hand (HPACK from python3-hpack, with no validation), for what a hostile
one does: malformed heads, floods, resets. Both work over TLS (ALPN h2) or
over plain TCP (h2c with prior knowledge). Everything that waits is
bounded in time.
"""

import socket
import struct
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
    import hpack
    HAVE_H2 = True
except ImportError:  # the suite skips the HTTP/2 tests without python3-h2
    HAVE_H2 = False

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 §6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20

# Error codes.
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 7, 8, 9, 0xb


def connect(port, tls_ctx=None, name="a.example", timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls_ctx is None:
        return raw
    s = tls_ctx.wrap_socket(raw, server_hostname=name)
    if s.selected_alpn_protocol() != "h2":
        s.close()
        raise AssertionError("ALPN chose %r, not h2" % s.selected_alpn_protocol())
    return s


class Response:
    def __init__(self):
        self.status = None
        self.headers = []
        self.interim = []  # 1xx statuses
        self.body = bytearray()
        self.trailers = []
        self.ended = False
        self.reset = None  # RST_STREAM error code

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return None


class _Closing:
    """A client with a socket (self.sock) that `with` closes."""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class H2Client(_Closing):
    """A conforming client: h2.connection over a socket."""

    def __init__(self, port, tls_ctx=None, name="a.example", settings=None, auto_ack=True,
                 timeout=10):
        self.sock = connect(port, tls_ctx, name, timeout)
        self.scheme = "https" if tls_ctx else "http"
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.auto_ack = auto_ack
        self.streams = {}
        self.goaway = None  # (error_code, last_stream_id)
        self.eof = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, headers=(), body=None, authority="a.example", end=True):
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = Response()
        hdrs = [(":method", method), (":path", path), (":scheme", self.scheme),
                (":authority", authority)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None and end)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end)
        return sid

    def send_body(self, sid, body, end=True, timeout=20):
        view = memoryview(body)
        deadline = time.monotonic() + timeout
        while len(view):
            n = min(len(view), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError("the proxy never opened the window")
                self.pump(1.0)
                if self.streams[sid].reset is not None:
                    return
                continue
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def send_trailers(self, sid, trailers):
        self.conn.send_headers(sid, list(trailers), end_stream=True)
        self.flush()

    def pump(self, timeout=1.0):
        """Reads once (up to TIMEOUT) and handles what came. False on EOF."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        for ev in self.conn.receive_data(data):
            self.handle(ev)
        self.flush()
        return True

    def handle(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st.headers = ev.headers
            st.status = int(dict(ev.headers)[":status"])
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            st.interim.append(int(dict(ev.headers)[":status"]))
        elif isinstance(ev, h2.events.DataReceived):
            if st is not None:
                st.body += ev.data
            if self.auto_ack:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            st.trailers = ev.headers
        elif isinstance(ev, h2.events.StreamEnded):
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st.reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (ev.error_code, ev.last_stream_id)

    def response(self, sid, timeout=20):
        st = self.streams[sid]
        deadline = time.monotonic() + timeout
        while not st.ended and st.reset is None and not self.eof:
            if time.monotonic() > deadline:
                raise AssertionError("stream %d: no complete response in %ss" % (sid, timeout))
            self.pump(0.5)
        return st

    def wait(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while not pred() and not self.eof and time.monotonic() < deadline:
            self.pump(0.2)
        return pred()


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", sid) + payload


def _header_block(f):
    """The HPACK block of a HEADERS frame, without padding and priority."""
    p, flags = f[3], f[1]
    pad = p[0] if flags & PADDED else 0
    p = p[1:] if flags & PADDED else p
    p = p[5:] if flags & PRIO else p
    return p[:len(p) - pad]


class RawH2(_Closing):
    """Frames by hand. recv_frames() parses what the proxy sends."""

    def __init__(self, port, tls_ctx=None, name="a.example", settings=b"", timeout=10):
        self.sock = connect(port, tls_ctx, name, timeout)
        self.scheme = b"https" if tls_ctx else b"http"
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.frames = []  # (type, flags, sid, payload) received
        self.eof = False
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:  # reset, broken pipe, or TLS cut short (ssl.SSLError)
            self.eof = True
            return False

    def block(self, fields, huffman=False):
        """HPACK-encodes FIELDS (bytes pairs) with no validation at all."""
        return self.enc.encode(fields, huffman=huffman)

    def head(self, method=b"GET", path=b"/", authority=b"a.example", extra=(), pseudo=None):
        if pseudo is None:
            pseudo = [(b":method", method), (b":scheme", self.scheme), (b":path", path),
                      (b":authority", authority)]
        return list(pseudo) + list(extra)

    def headers(self, sid, fields, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return self.send(frame(HEADERS, flags, sid, self.block(fields)))

    def data(self, sid, payload, end_stream=False):
        return self.send(frame(DATA, END_STREAM if end_stream else 0, sid, payload))

    def recv_frames(self, timeout=1.0):
        """Reads for up to TIMEOUT; returns the frames that came."""
        got = []
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                break
            except OSError:
                data = b""
            if not data:
                self.eof = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff,
                     self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                if f[0] == HEADERS:  # every block, in order, or the HPACK table drifts
                    f += (dict(self.dec.decode(_header_block(f))),)
                if f[0] == SETTINGS and not f[1] & ACK:
                    self.send(frame(SETTINGS, ACK, 0))
                got.append(f)
        self.frames += got
        return got

    def until(self, pred, timeout=10):
        """Reads until PRED(frame) holds for a frame; returns it or None."""
        deadline = time.monotonic() + timeout
        for f in self.frames:
            if pred(f):
                return f
        while not self.eof and time.monotonic() < deadline:
            for f in self.recv_frames(0.2):
                if pred(f):
                    return f
        return None

    def goaway(self, timeout=10):
        """The GOAWAY error code the proxy sent, or None."""
        f = self.until(lambda f: f[0] == GOAWAY, timeout)
        return struct.unpack(">I", f[3][4:8])[0] if f else None

    def stream_answer(self, sid, timeout=10):
        """("reset", code), ("status", n) or ("goaway", code) for stream SID."""
        f = self.until(lambda f: (f[2] == sid and f[0] in (RST_STREAM, HEADERS)) or
                       f[0] == GOAWAY, timeout)
        if f is None:
            return ("eof" if self.eof else "silence", None)
        if f[0] == GOAWAY:
            return ("goaway", struct.unpack(">I", f[3][4:8])[0])
        if f[0] == RST_STREAM:
            return ("reset", struct.unpack(">I", f[3])[0])
        return ("status", int(f[4][":status"]))
