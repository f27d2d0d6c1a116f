"""Helpers for the end-to-end tests: ports, the proxy process, raw HTTP.

Everything that waits is bounded in time. Only loopback is used.

Environment:
  GEOROUTE_BIN   the binary (default: build/georoute under the repo root)
  IT_PROXY       "georoute" (default) or "haproxy": run the same tests
                 against HAProxy as a stand-in (tests that check
                 georoute-only behaviour skip themselves)
  IT_KEEP        keep the proxies' temp dirs (config, stderr, access log)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODE = os.environ.get("IT_PROXY", "georoute")


def georoute_bin():
    b = os.environ.get("GEOROUTE_BIN") or os.path.join(REPO, "build", "georoute")
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def georoute_only(reason):
    """Skip a test when the stand-in proxy is not georoute."""
    return unittest.skipIf(MODE != "georoute", "%s: %s" % (MODE, reason))


# ------------------------------------------------------------------ ports
_given = set()


def free_port(host="127.0.0.1"):
    """A loopback port nothing listens on right now (never handed out twice)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            p = s.getsockname()[1]
        finally:
            s.close()
        if p not in _given:
            _given.add(p)
            return p
    raise RuntimeError("no free port")


dead_port = free_port  # a port with nothing listening (connect is refused)


def wait_until(pred, timeout=5.0, interval=0.02):
    """Poll pred() until truthy or timeout; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def connect_refused(port, host="127.0.0.1", timeout=1.0):
    """True when a connect attempt is actively refused (nothing listens)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ YAML
_PLAIN = re.compile(r"^[A-Za-z0-9_./-][A-Za-z0-9_./ -]*$")


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and not s.endswith(" ") and s not in ("true", "false", "null", "off", "on", "yes", "no"):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    """A small block-style YAML writer for config dicts (lists go flow-style
    when they hold scalars)."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict):
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
                out.append("%s%s:" % (pad, k))
                for x in v:
                    sub = to_yaml(x, indent + 4).lstrip()
                    out.append("%s  - %s" % (pad, sub))
            elif isinstance(v, list):
                out.append("%s%s: [%s]" % (pad, k, ", ".join(json.dumps(x) if isinstance(x, str) else _scalar(x) for x in v)))
            else:
                out.append("%s%s: %s" % (pad, k, _scalar(v)))
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


# ------------------------------------------------------------------ proxy
def nofile_limit(n):
    """A preexec_fn that sets RLIMIT_NOFILE to N (soft and hard), or None."""
    if n is None:
        return None
    import resource
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


class RawServer:
    """A loopback server for what backend.py cannot do: each connection's
    request head goes to serve(conn, head), and the connection closes after
    it. Subclasses set their own state before calling __init__."""

    def __init__(self, backlog=16, timeout=10):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.timeout = timeout
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self):
        self.sock.close()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            c.settimeout(self.timeout)
            head = b""
            while b"\r\n\r\n" not in head:
                d = c.recv(4096)
                if not d:
                    return
                head += d
            self.serve(c, head)
        except OSError:
            pass
        finally:
            c.close()

    def serve(self, c, head):
        raise NotImplementedError


class ProxyError(Exception):
    pass


class Proxy:
    """Runs the proxy on a config; a context manager.

        with Proxy({"regions": {"main": {"backends": [b.addr]}}}) as p:
            p.port, p.pid, p.rss_kib(), p.stop(), p.access_lines()

    `config` is a dict (listen, workers and access_log get defaults when
    missing) or YAML text (then pass port= for the port it listens on).
    """

    def __init__(self, config, port=None, args=(), ready=True, start_timeout=10.0,
                 name="proxy.yaml", nofile=None):
        self.dir = tempfile.mkdtemp(prefix="georoute-it-")
        self.access_log = os.path.join(self.dir, "access.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.config_path = os.path.join(self.dir, name)
        self.args = list(args)
        self.ready = ready
        self.start_timeout = start_timeout
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) the proxy starts under
        self.proc = None
        self.returncode = None
        if isinstance(config, dict):
            cfg = dict(config)
            if "listen" not in cfg:
                self.port = port or free_port()
                cfg["listen"] = ["127.0.0.1:%d" % self.port]
            else:
                ls = cfg["listen"] if isinstance(cfg["listen"], list) else [cfg["listen"]]
                self.port = port or int(ls[0].rsplit(":", 1)[1])
            cfg.setdefault("workers", 1)
            # The default admin address is one per machine, and a start that
            # cannot bind it fails (docs/SECURITY.md): give each its own.
            if "admin" not in cfg and MODE != "haproxy":
                cfg["admin"] = {"listen": "127.0.0.1:%d" % free_port()}
            if cfg.get("access_log", "") == "":
                cfg["access_log"] = self.access_log
            elif cfg["access_log"] not in ("-", "off", False):
                self.access_log = cfg["access_log"]
            self.config = cfg
            text = to_yaml(cfg) + "\n"
        else:
            self.config = None
            self.port = port
            text = config
        self.text = text
        with open(self.config_path, "w") as f:
            f.write(text)

    # -- lifecycle
    def start(self):
        try:
            return self._start()
        except BaseException:
            # A caller whose start() raised holds no started proxy to exit:
            # end it and remove its directory here.
            self.kill()
            self._remove_dir()
            raise

    def _start(self):
        errf = open(self.stderr_path, "wb")
        if MODE == "haproxy":
            if self.config is None:
                raise unittest.SkipTest("haproxy: needs a dict config")
            hcfg = os.path.join(self.dir, "haproxy.cfg")
            with open(hcfg, "w") as f:
                f.write(haproxy_config(self.config))
            cmd = ["haproxy", "-f", hcfg, "-db"]
        else:
            b = georoute_bin()
            if not os.path.exists(b):
                errf.close()
                raise ProxyError("no binary at %s (make georoute)" % b)
            cmd = [b, "-c", self.config_path] + self.args
        env = dict(os.environ)
        # an ASan build: keep the free-memory quarantine small so that RSS
        # bounds (backpressure test) measure buffering, not the quarantine
        asan = env.get("ASAN_OPTIONS", "")
        if "quarantine_size_mb" not in asan:
            env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=8"
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf,
                                     stderr=errf, cwd=self.dir, env=env,
                                     preexec_fn=nofile_limit(self.nofile))
        errf.close()
        if self.ready and self.port:
            end = time.monotonic() + self.start_timeout
            while True:
                if self.proc.poll() is not None:
                    raise ProxyError("proxy exited with %s before listening:\n%s"
                                     % (self.proc.returncode, self.stderr()))
                if port_open(self.port, timeout=0.2):
                    break
                if time.monotonic() > end:
                    raise ProxyError("proxy not listening on %d after %.0fs:\n%s"
                                     % (self.port, self.start_timeout, self.stderr()))
                time.sleep(0.02)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if self.proc is not None and self.proc.poll() is None:
            self.stop(timeout=5.0)
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        report = self.sanitizer_report()
        self._remove_dir()
        if report and exc_type is None:
            raise AssertionError("sanitizer report in proxy stderr:\n" + report)
        return False

    def _remove_dir(self):
        if not os.environ.get("IT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        """Send sig to the proxy (HAProxy gets SIGUSR1, its soft stop, for
        SIGTERM/SIGINT)."""
        if MODE == "haproxy" and sig in (signal.SIGTERM, signal.SIGINT):
            sig = signal.SIGUSR1
        if self.running():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the proxy (graceful: SIGTERM; HAProxy gets SIGUSR1) and
        wait; returns the exit code, or None if it did not exit in time."""
        self.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def wait(self, timeout=10.0):
        """Wait for the proxy to exit by itself; exit code or None."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def kill(self):
        if self.proc is None:
            return
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        try:
            self.returncode = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    # -- observation
    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        err = self.stderr()
        m = re.search(r"(ERROR: (Address|Leak|Thread)Sanitizer|runtime error:)", err)
        return err[max(0, m.start() - 200):m.start() + 3000] if m else ""

    def access_lines(self, n=None, timeout=5.0):
        """The access log's lines; with n, wait up to timeout for n lines."""
        def read():
            try:
                with open(self.access_log, "rb") as f:
                    return [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            except OSError:
                return []
        if n is None:
            return read()
        wait_until(lambda: len(read()) >= n, timeout)
        return read()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def conn(self, timeout=10.0):
        return Conn(self.port, timeout=timeout)


def haproxy_config(cfg):
    """Translate a georoute config dict into an HAProxy 2.6 stand-in."""
    t = dict(cfg.get("timeouts", {}))
    lim = dict(cfg.get("limits", {}))
    listen = cfg["listen"] if isinstance(cfg["listen"], list) else [cfg["listen"]]
    region = next(iter(cfg["regions"].values()))
    backends = [b["addr"] if isinstance(b, dict) else b for b in region["backends"]]
    out = [
        "global",
        "  nbthread 1",
        "defaults",
        "  mode http",
        "  timeout connect %s" % t.get("connect", "2s"),
        "  timeout client %s" % t.get("client_send", "60s"),
        "  timeout server %s" % t.get("upstream_response", "30s"),
        "  timeout http-request %s" % t.get("client_header", "10s"),
        "  timeout http-keep-alive %s" % t.get("client_keepalive", "60s"),
        "  timeout tunnel %s" % t.get("tunnel_idle", "1h"),
        "  timeout client-fin 1s",
        "  retries %d" % lim.get("retries", 2),
        "  option redispatch 1",
        "  retry-on conn-failure empty-response",
        "  option http-keep-alive",
        "  option forwardfor",
        "  http-reuse always",
        "frontend fe",
    ]
    out += ["  bind %s" % a for a in listen]
    out += ["  http-request set-header X-Forwarded-Proto http",
            "  http-request add-header Via \"1.1 georoute\"",
            "  default_backend be",
            "backend be",
            "  balance roundrobin"]
    out += ["  server s%d %s" % (i, a) for i, a in enumerate(backends)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ raw HTTP
class Truncated(Exception):
    """The connection closed before the response was complete."""

    def __init__(self, msg, response):
        super().__init__(msg)
        self.response = response


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = []      # [(name, value)] as received
        self.head = b""
        self.body = b""
        self.body_len = 0
        self.complete = False
        self.framing = ""      # "none", "length", "chunked", "close"
        self.saw_last_chunk = False
        self.interim = []      # 1xx responses before this one

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def tokens(self, name):
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def has(self, name):
        return self.get(name) is not None

    def __repr__(self):
        return "<Response %s %d %s framing=%s len=%d complete=%s>" % (
            self.version, self.status, self.reason, self.framing, self.body_len, self.complete)


class Conn:
    """A raw client connection with a response parser.

        c = Conn(port); c.send(request("GET", "/hello")); r = c.read_response()
    """

    def __init__(self, port, host="127.0.0.1", timeout=10.0, sock=None):
        self.timeout = timeout
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def _fill(self, deadline, n=262144):
        """Read more into buf; False on EOF. Raises TimeoutError at deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read timed out")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(n)
        except socket.timeout:
            raise TimeoutError("read timed out")
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def recv_some(self, timeout=None, n=262144):
        """Whatever is buffered or arrives next (b'' on EOF)."""
        if self.buf:
            d = bytes(self.buf)
            self.buf.clear()
            return d
        if not self._fill(time.monotonic() + (timeout or self.timeout), n):
            return b""
        d = bytes(self.buf)
        self.buf.clear()
        return d

    def read_until_close(self, timeout=None, limit=1 << 30):
        """Everything until EOF; raises TimeoutError if EOF does not come."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            if len(self.buf) > limit:
                raise AssertionError("more than %d bytes" % limit)
        d = bytes(self.buf)
        self.buf.clear()
        return d

    def closed_within(self, timeout):
        """True if the peer closes (EOF or RST) within timeout; unread bytes
        are discarded."""
        try:
            self.read_until_close(timeout)
            return True
        except TimeoutError:
            return False

    def _line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            if not self._fill(deadline):
                return None

    def _take(self, n, deadline):
        """Up to n bytes (fewer only at EOF)."""
        while not self.buf:
            if not self._fill(deadline):
                return b""
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def read_response(self, method="GET", timeout=None, sink=None, interim=False,
                      allow_truncated=False, limit=256 << 20):
        """Parse one response. HEAD/1xx/204/304 have no body. With sink,
        body bytes go to sink(bytes) instead of r.body. A 1xx other than 101
        is collected in r.interim and skipped unless interim=True. On EOF
        mid-response raises Truncated (or returns it, incomplete, with
        allow_truncated=True)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        r = Response()
        body = bytearray()

        def fail(msg):
            r.body = bytes(body)
            if allow_truncated:
                return r
            raise Truncated(msg, r)

        # head
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill(deadline):
                if not self.buf:
                    raise Truncated("connection closed before a response", r)
                return fail("connection closed in the response head")
        head = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        r.head = head
        lines = head[:-4].split(b"\r\n")
        sl = lines[0].decode("latin-1")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", sl)
        if not m:
            raise AssertionError("bad status line %r" % sl)
        r.version, r.status, r.reason = m.group(1), int(m.group(2)), m.group(3) or ""
        for ln in lines[1:]:
            k, sep, v = ln.decode("latin-1").partition(":")
            if not sep or k != k.strip():
                raise AssertionError("bad header line %r" % ln)
            r.headers.append((k, v.strip()))

        if 100 <= r.status < 200 and r.status != 101:
            r.framing = "none"
            r.complete = True
            if interim:
                return r
            nxt = self.read_response(method, max(0.001, deadline - time.monotonic()), sink,
                                     interim, allow_truncated, limit)
            nxt.interim.insert(0, r)
            return nxt

        def put(d):
            r.body_len += len(d)
            if sink:
                sink(d)
            else:
                if len(body) + len(d) > limit:
                    raise AssertionError("response body over %d bytes" % limit)
                body.extend(d)

        te = r.tokens("transfer-encoding")
        if method == "HEAD" or r.status in (101, 204, 304):
            r.framing = "none"
        elif te and te[-1] == "chunked":
            r.framing = "chunked"
            while True:
                ln = self._line(deadline)
                if ln is None:
                    return fail("EOF before chunk size")
                size = int(ln.split(b";")[0].strip(), 16)
                if size == 0:
                    r.saw_last_chunk = True
                    while True:  # trailers
                        ln = self._line(deadline)
                        if ln is None:
                            return fail("EOF in trailers")
                        if ln == b"":
                            break
                    break
                while size:
                    d = self._take(size, deadline)
                    if not d:
                        return fail("EOF in chunk data")
                    put(d)
                    size -= len(d)
                ln = self._line(deadline)
                if ln != b"":
                    return fail("bad chunk end %r" % ln)
        elif r.has("content-length"):
            r.framing = "length"
            n = int(r.get("content-length"))
            while n:
                d = self._take(min(n, 262144), deadline)
                if not d:
                    return fail("EOF after %d of %s body bytes" % (r.body_len, r.get("content-length")))
                put(d)
                n -= len(d)
        else:
            r.framing = "close"
            while True:
                d = self._take(262144, deadline)
                if not d:
                    break
                put(d)
        r.body = bytes(body)
        r.complete = True
        return r


def request(method, target, headers=(), body=b"", version="HTTP/1.1", host="localhost",
            content_length=True):
    """Bytes of one request. headers: list of (name, value); Host is added
    unless given (pass host=None to omit)."""
    lines = ["%s %s %s" % (method, target, version)]
    names = {k.lower() for k, _ in headers}
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    lines += ["%s: %s" % kv for kv in headers]
    if body and content_length and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(data, size=4096):
    """data as a chunked body."""
    out = bytearray()
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def parse_head_text(body):
    """Parse the request head a backend echoed (/headers) into
    (request_line, [(name, value)])."""
    lines = body.decode("latin-1").split("\r\n")
    hdrs = []
    for ln in lines[1:]:
        if not ln:
            break
        k, _, v = ln.partition(":")
        hdrs.append((k.strip(), v.strip()))
    return lines[0], hdrs


def header_values(hdrs, name):
    name = name.lower()
    return [v for k, v in hdrs if k.lower() == name]


def run(cmd, timeout=60, **kw):
    """subprocess.run with a bound; returns CompletedProcess (text)."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# ------------------------------------------------------------------ WebSocket
def ws_handshake(target="/ws", key="dGhlIHNhbXBsZSBub25jZQ=="):
    return request("GET", target, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Key", key),
                                   ("Sec-WebSocket-Version", "13")])


def ws_accept(key="dGhlIHNhbXBsZSBub25jZQ=="):
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()


def ws_read_frame(conn, timeout=10.0):
    """(fin, opcode, payload) of the next (unmasked, server) frame."""
    deadline = time.monotonic() + timeout

    def exact(n):
        out = bytearray()
        while len(out) < n:
            d = conn._take(n - len(out), deadline)
            if not d:
                raise Truncated("EOF in a WebSocket frame", None)
            out += d
        return bytes(out)

    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(exact(2), "big")
    elif n == 127:
        n = int.from_bytes(exact(8), "big")
    if b1 & 0x80:
        raise AssertionError("server frame is masked")
    return bool(b0 & 0x80), b0 & 0x0F, exact(n)
