"""TLS on the data plane (issue 13): HTTPS listeners with real clients (curl,
Python ssl, openssl s_client), SNI and ALPN, resumption, refused protocol
versions, plain HTTP on the TLS port, handshake timeout and cap, reloads of
certificates under load, PROXY protocol and WebSocket over TLS, and TLS to
upstreams (verification, a verification failure, mTLS). Certificates are
made here with the openssl CLI, under a throwaway CA."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from backend import Backend, payload_sha256
from harness import (Conn, Proxy, free_port, georoute_only, request, to_yaml, wait_until,
                     ws_handshake)

import calendar
import hashlib
import json
import urllib.request


def openssl(*args, cwd, **kw):
    return subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                          timeout=60, **kw)


class Pki:
    """A CA and leaf certificates (ECDSA P-256) in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-it-pki-")
        try:
            openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key",
                    cwd=self.dir)
            openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=georoute test ca",
                    "-days", "30", "-out", "ca.pem", cwd=self.dir)
        except BaseException:
            # the caller has no Pki to clean up yet
            self.cleanup()
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    def leaf(self, name, dns=(), ip=(), client=False):
        """Makes NAME.pem/NAME.key for DNS names and IP addresses; returns (cert, key)."""
        d = self.dir
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name + ".key",
                cwd=d)
        os.chmod(self.path(name + ".key"), 0o600)
        san = ",".join(["DNS:" + n for n in dns] + ["IP:" + a for a in ip])
        with open(self.path(name + ".ext"), "w") as f:
            if san:
                f.write("subjectAltName=%s\n" % san)
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        openssl("req", "-new", "-key", name + ".key", "-subj", "/CN=%s" % name, "-out",
                name + ".csr", cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "20", "-extfile", name + ".ext", "-out",
                name + ".pem", cwd=d)
        return self.path(name + ".pem"), self.path(name + ".key")

    def cleanup(self):
        shutil.rmtree(self.dir, True)


def client_ctx(pki, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_conn(port, pki, name="a.example", ctx=None, timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return (ctx or client_ctx(pki)).wrap_socket(raw, server_hostname=name)


def get(sock, target="/", host="a.example", headers=()):
    """One keep-alive request on a connected (TLS) socket; a harness Response."""
    c = Conn(0, sock=sock, timeout=10)
    c.send(request("GET", target, list(headers), host=host))
    return c, c.read_response(timeout=10)


def peer_cn(sock):
    cert = sock.getpeercert()
    return dict(x[0] for x in cert["subject"])["commonName"]


@georoute_only("TLS termination is georoute's")
@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class TlsListener(unittest.TestCase):
    # tests/it/run.py runs each test alone (no setUpClass): a PKI per test
    def setUp(self):
        self.pki = Pki()
        self.addCleanup(self.pki.cleanup)
        self.a = self.pki.leaf("a.example", dns=["a.example"])
        self.b = self.pki.leaf("b.example", dns=["b.example", "*.b.example"])
        self.be = Backend("b1").start()
        self.addCleanup(self.be.stop)

    def proxy(self, tls_extra=None, certs=None, **cfg):
        port = free_port()
        tls = {"certificates": [{"cert": c, "key": k} for c, k in (certs or [self.a, self.b])]}
        tls.update(tls_extra or {})
        listen = {"addr": "127.0.0.1:%d" % port, "tls": tls}
        listen.update(cfg.pop("listen_extra", {}))
        conf = {"listen": [listen], "regions": {"main": {"backends": [self.be.addr]}}}
        conf.update(cfg)
        p = Proxy(conf, port=port).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    # ---------------------------------------------------------------- basics

    def test_https_request_reaches_the_backend_as_https(self):
        p = self.proxy()
        with tls_conn(p.port, self.pki) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            self.assertEqual(s.version(), "TLSv1.3")
            c, r = get(s)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"b1")
            # keep-alive over TLS: a second request on the same connection
            c.send(request("GET", "/size/300000", host="a.example"))
            r = c.read_response(timeout=10)
            self.assertEqual(r.status, 200)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), payload_sha256(300000))
        head = self.be.heads[-1].decode("latin-1").lower()
        self.assertIn("x-forwarded-proto: https\r\n", head)

    def test_large_upload_and_download_through_tls(self):
        p = self.proxy()
        body = os.urandom(3 * 1024 * 1024 + 17)
        with tls_conn(p.port, self.pki) as s:
            c = Conn(0, sock=s, timeout=20)
            c.send(request("POST", "/echo", [("Content-Length", str(len(body)))],
                           host="a.example") + body)
            r = c.read_response(timeout=20)
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["sha256"], hashlib.sha256(body).hexdigest())
            c.send(request("GET", "/chunked/5000000", host="a.example"))
            r = c.read_response(timeout=20)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), payload_sha256(5000000))

    def test_sni_selects_the_certificate(self):
        p = self.proxy()
        with tls_conn(p.port, self.pki, "a.example") as s:
            self.assertEqual(peer_cn(s), "a.example")
        with tls_conn(p.port, self.pki, "x.b.example") as s:
            self.assertEqual(peer_cn(s), "b.example")
        # no SNI at all: the first certificate
        ctx = client_ctx(self.pki)
        ctx.check_hostname = False
        raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        with ctx.wrap_socket(raw) as s:
            self.assertEqual(peer_cn(s), "a.example")

    def test_curl_gets_an_answer(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        p = self.proxy()
        out = subprocess.run(
            ["curl", "-sS", "--http1.1", "--cacert", self.pki.path("ca.pem"), "--resolve",
             "b.example:%d:127.0.0.1" % p.port, "-w", "\n%{http_code} %{ssl_verify_result}",
             "https://b.example:%d/" % p.port], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "b1\n200 0")

    def test_access_log_and_explain_carry_tls_facts(self):
        p = self.proxy(debug_clients=["127.0.0.0/8"])
        with tls_conn(p.port, self.pki, "b.example") as s:
            c, r = get(s, host="b.example")
            self.assertEqual(r.status, 200)
        explain = [v for k, v in r.headers if k.lower() == "x-georoute"]
        self.assertTrue(explain and "tls=TLSv1.3" in explain[0] and "sni=b.example" in explain[0],
                        r.headers)
        line = p.access_lines(1)[-1]
        for part in ("tls=TLSv1.3", "cipher=TLS_", 'sni="b.example"', "resumed=0", "tls_ms="):
            self.assertIn(part, line)

    def test_old_protocol_versions_are_refused(self):
        p = self.proxy()
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            ctx = client_ctx(self.pki)
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = v
            try:
                ctx.set_ciphers("ALL:@SECLEVEL=0")
            except ssl.SSLError:
                pass
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                tls_conn(p.port, self.pki, ctx=ctx).close()
        # still serving
        with tls_conn(p.port, self.pki) as s:
            self.assertEqual(get(s)[1].status, 200)

    def test_resumption_with_openssl_s_client(self):
        p = self.proxy()
        sess = os.path.join(p.dir, "sess.pem")
        base = ["s_client", "-connect", "127.0.0.1:%d" % p.port, "-servername", "a.example",
                "-CAfile", self.pki.path("ca.pem"), "-ign_eof"]
        req = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
        full = openssl(*(base + ["-sess_out", sess]), cwd=p.dir, input=req).stdout.decode()
        self.assertIn("New, TLSv1.3", full)
        self.assertIn("200 OK", full)
        again = openssl(*(base + ["-sess_in", sess]), cwd=p.dir, input=req).stdout.decode()
        self.assertIn("Reused, TLSv1.3", again)
        self.assertIn("200 OK", again)
        line = p.access_lines(2)[-1]
        self.assertIn("resumed=1", line)

    def admin_get(self, p, path):
        port = int(p.config["admin"]["listen"].rsplit(":", 1)[1])
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.read().decode()

    def test_metrics_count_handshakes_and_certificate_expiry(self):
        p = self.proxy()
        with tls_conn(p.port, self.pki) as s:
            self.assertEqual(get(s)[1].status, 200)
        with Conn(p.port) as c:
            c.send(b"GET / HTTP/1.1\r\n\r\n")
            c.read_until_close(timeout=10)

        def samples():
            out = {}
            for line in self.admin_get(p, "/metrics").splitlines():
                if line.startswith("georoute_tls_"):
                    k, v = line.rsplit(" ", 1)
                    out[k] = float(v)
            return out
        # workers publish on their tick: wait for the counts to show
        self.assertTrue(wait_until(
            lambda: samples().get('georoute_tls_handshakes_total{result="plain_http"}') == 1,
            timeout=10), samples())
        m = samples()
        self.assertGreaterEqual(m['georoute_tls_handshakes_total{result="ok"}'], 1)
        self.assertGreaterEqual(m['georoute_tls_handshake_versions_total{version="TLSv1.3"}'], 1)
        self.assertGreaterEqual(m['georoute_tls_sessions_total{kind="full"}'], 1)
        self.assertGreaterEqual(
            m['georoute_tls_handshake_duration_seconds_count{side="client"}'], 1)
        for cert, _ in (self.a, self.b):
            out = openssl("x509", "-in", cert, "-noout", "-enddate", cwd=self.pki.dir)
            end = out.stdout.decode().strip().split("=", 1)[1]
            want = calendar.timegm(time.strptime(end, "%b %d %H:%M:%S %Y GMT"))
            key = ('georoute_tls_certificate_expiry_timestamp_seconds{listener="127.0.0.1:%d",'
                   'cert="%s"}' % (p.port, cert))
            self.assertAlmostEqual(m[key], want, delta=1)

    def test_resumption_survives_a_reload(self):
        p = self.proxy()
        sess = os.path.join(p.dir, "sess.pem")
        base = ["s_client", "-connect", "127.0.0.1:%d" % p.port, "-servername", "a.example",
                "-CAfile", self.pki.path("ca.pem"), "-ign_eof"]
        req = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
        self.assertIn("New, TLSv1.3",
                      openssl(*(base + ["-sess_out", sess]), cwd=p.dir, input=req).stdout.decode())
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "event=reload result=ok" in p.stderr(), timeout=10))
        again = openssl(*(base + ["-sess_in", sess]), cwd=p.dir, input=req).stdout.decode()
        self.assertIn("Reused, TLSv1.3", again)
        self.assertIn("200 OK", again)

    def test_sslscan_finds_no_old_protocol_or_weak_cipher(self):
        if shutil.which("sslscan") is None:
            self.skipTest("sslscan is not installed")
        p = self.proxy()
        out = subprocess.run(["sslscan", "--no-colour", "127.0.0.1:%d" % p.port],
                             capture_output=True, text=True, timeout=120).stdout
        protos = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1",
                                                "TLSv1.2", "TLSv1.3"):
                protos[parts[0]] = parts[1]
        self.assertEqual(protos, {"SSLv2": "disabled", "SSLv3": "disabled",
                                  "TLSv1.0": "disabled", "TLSv1.1": "disabled",
                                  "TLSv1.2": "enabled", "TLSv1.3": "enabled"}, out)
        accepted = [l for l in out.splitlines() if l.startswith(("Preferred", "Accepted"))]
        self.assertTrue(accepted, out)
        for l in accepted:
            # "Accepted  TLSv1.2  128 bits  ECDHE-ECDSA-AES128-GCM-SHA256  Curve 25519 ..."
            _, version, bits, _, cipher = l.split()[:5]
            self.assertGreaterEqual(int(bits), 128, l)
            # AEAD only, and forward secrecy on TLS 1.2 (1.3 always has it)
            self.assertTrue("GCM" in cipher or "CHACHA20" in cipher, l)
            if version == "TLSv1.2":
                self.assertTrue(cipher.startswith("ECDHE-"), l)

    # ---------------------------------------------------------------- abuse

    def test_plain_http_to_the_tls_port_gets_a_plain_400(self):
        p = self.proxy()
        with Conn(p.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
            data = c.read_until_close(timeout=10)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data)
        self.assertIn(b"The plain HTTP request was sent to HTTPS port", data)
        with tls_conn(p.port, self.pki) as s:
            self.assertEqual(get(s)[1].status, 200)

    def test_stalled_handshakes_time_out(self):
        p = self.proxy(timeouts={"tls_handshake": "1s", "client_header": "30s"})
        silent = Conn(p.port)
        # half a ClientHello: the record header promises more than is sent
        half = Conn(p.port)
        half.send(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
        for c in (silent, half):
            self.assertTrue(c.closed_within(10), "handshake not timed out")
            c.close()

    def test_handshake_cap_closes_new_ones_and_keeps_serving(self):
        p = self.proxy(limits={"max_tls_handshakes": 4},
                       timeouts={"tls_handshake": "30s"})
        est = tls_conn(p.port, self.pki)
        self.addCleanup(est.close)
        c, r = get(est)
        self.assertEqual(r.status, 200)
        stalled = [Conn(p.port) for _ in range(30)]
        for s in stalled:
            self.addCleanup(s.close)
        # the first four wait for their ClientHello; the rest are closed at once
        closed = sum(1 for s in stalled[4:] if s.closed_within(10))
        self.assertEqual(closed, 26)
        for s in stalled[:4]:
            self.assertFalse(s.closed_within(0.2))
        for _ in range(20):
            c.send(request("GET", "/", host="a.example"))
            self.assertEqual(c.read_response(timeout=10).status, 200)
        # the slots come back when the stalled ones leave
        for s in stalled[:4]:
            s.close()
        self.assertTrue(wait_until(lambda: self.try_handshake(p), timeout=10))

    def try_handshake(self, p):
        try:
            with tls_conn(p.port, self.pki) as s:
                return get(s)[1].status == 200
        except (OSError, ssl.SSLError):
            return False

    # ---------------------------------------------------------------- reload

    def test_certificate_reload_under_load(self):
        d = tempfile.mkdtemp(prefix="georoute-it-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = os.path.join(d, "cur.pem"), os.path.join(d, "cur.key")
        shutil.copy(self.a[0], cert)
        shutil.copy(self.a[1], key)
        os.chmod(key, 0o600)
        p = self.proxy(certs=[(cert, key)])
        failures, done, count = [], threading.Event(), [0]

        def load():
            end = time.monotonic() + 60
            while not done.is_set() and time.monotonic() < end and count[0] < 5000:
                try:
                    ctx = client_ctx(self.pki)
                    ctx.check_hostname = False
                    with tls_conn(p.port, self.pki, ctx=ctx) as s:
                        c, r = get(s)
                        for _ in range(3):
                            if r.status != 200:
                                break
                            c.send(request("GET", "/", host="a.example"))
                            r = c.read_response(timeout=10)
                        if r.status != 200:
                            failures.append(r.status)
                        count[0] += 1
                except Exception as e:  # noqa: BLE001 - any failure counts
                    failures.append(repr(e))

        t = threading.Thread(target=load)
        t.start()
        try:
            self.assertTrue(wait_until(lambda: count[0] >= 5, timeout=20))
            # an old connection stays open across the reload
            old = tls_conn(p.port, self.pki, "a.example")
            self.addCleanup(old.close)
            oc, r = get(old)
            shutil.copy(self.b[0], cert)
            shutil.copy(self.b[1], key)
            p.send_signal(signal.SIGHUP)

            def sees_b():
                ctx = client_ctx(self.pki)
                ctx.check_hostname = False
                with tls_conn(p.port, self.pki, ctx=ctx) as s:
                    return peer_cn(s) == "b.example"
            self.assertTrue(wait_until(sees_b, timeout=15))
            n = count[0]
            self.assertTrue(wait_until(lambda: count[0] >= n + 5, timeout=20))
            oc.send(request("GET", "/", host="a.example"))
            self.assertEqual(oc.read_response(timeout=10).status, 200)
            # a bad certificate keeps the current one
            with open(cert, "w") as f:
                f.write("not a certificate\n")
            p.send_signal(signal.SIGHUP)
            self.assertTrue(wait_until(lambda: "event=reload result=failed kept=old" in p.stderr(),
                                       timeout=10), p.stderr())
            with tls_conn(p.port, self.pki, "b.example") as s:
                self.assertEqual(get(s, host="b.example")[1].status, 200)
        finally:
            done.set()
            t.join(60)
        self.assertEqual(failures, [])
        self.assertGreater(count[0], 10)

    # ---------------------------------------------------------------- the rest

    def test_proxy_protocol_before_the_client_hello(self):
        p = self.proxy(listen_extra={"proxy_protocol": True}, trusted_proxies=["127.0.0.1/32"])
        raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        raw.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n")
        with client_ctx(self.pki).wrap_socket(raw, server_hostname="a.example") as s:
            self.assertEqual(get(s)[1].status, 200)
        self.assertIn("client=203.0.113.7", p.access_lines(1)[-1])

    def test_websocket_over_tls(self):
        p = self.proxy()
        with tls_conn(p.port, self.pki) as s:
            c = Conn(0, sock=s, timeout=10)
            c.send(ws_handshake())
            r = c.read_response(timeout=10)
            self.assertEqual(r.status, 101)
            # a masked text frame "hello"; the backend echoes it unmasked
            mask = b"\x01\x02\x03\x04"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"hello"))
            c.send(b"\x81\x85" + mask + payload)
            got = b""
            end = time.monotonic() + 10
            while len(got) < 7 and time.monotonic() < end:
                got += c.recv_some(timeout=10)
            self.assertEqual(got[:7], b"\x81\x05hello")


if __name__ == "__main__":
    unittest.main()


class TlsBackend:
    """A keep-alive HTTP/1.1 backend over TLS (Python ssl) on loopback. Answers
    every request with 200 and body "tls-backend"; counts connections, TLS
    resumptions and the client certificates it saw, and logs every request
    as (connection number, SNI, target). A request for /hold is answered
    only once release is set."""

    def __init__(self, cert, key, client_ca=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.sni_callback = self.on_sni
        self.log = []
        self.held = threading.Event()
        self.release = threading.Event()
        if client_ca:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(client_ca)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.connections = self.resumed = self.requests = 0
        self.client_cns = []
        self.failures = []
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(raw,), daemon=True).start()

    @staticmethod
    def on_sni(sock, name, ctx):
        sock.georoute_sni = name  # per connection: read back in serve()

    def serve(self, raw):
        raw.settimeout(30)
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.failures.append(repr(e))
            raw.close()
            return
        self.connections += 1
        conn_no = self.connections
        sni = getattr(s, "georoute_sni", None)
        self.resumed += s.session_reused
        cert = s.getpeercert()
        if cert:
            self.client_cns.append(dict(x[0] for x in cert["subject"])["commonName"])
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.requests += 1
                target = head.split(b" ", 2)[1].decode()
                self.log.append((conn_no, sni, target))
                if target == "/hold":
                    self.held.set()
                    self.release.wait(30)
                body = b"tls-backend"
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except (OSError, ssl.SSLError):
            pass
        finally:
            s.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


@georoute_only("upstream TLS is georoute's")
@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class TlsUpstream(unittest.TestCase):
    def setUp(self):
        self.pki = Pki()
        self.addCleanup(self.pki.cleanup)

    def run_proxy(self, backend, tls, **cfg):
        conf = {"regions": {"main": {"backends": [backend.addr], "tls": tls,
                                     "probe": {"interval": "300ms", "timeout": "2s"}}}}
        conf.update(cfg)
        p = Proxy(conf)
        p.start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def status(self, p):
        port = int(p.config["admin"]["listen"].rsplit(":", 1)[1])
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=10) as r:
            return json.loads(r.read())

    def backend_status(self, p):
        st = self.status(p)
        for reg in st["regions"] if isinstance(st["regions"], list) else st["regions"].values():
            for b in reg["backends"]:
                return b
        return None

    def test_verified_backend_serves_and_resumes(self):
        be = TlsBackend(*self.pki.leaf("backend", ip=["127.0.0.1"]))
        self.addCleanup(be.stop)
        p = self.run_proxy(be, {"ca": self.pki.path("ca.pem")})
        self.assertTrue(wait_until(lambda: (self.backend_status(p) or {}).get("up") is True,
                                   timeout=15), self.status(p))
        for _ in range(3):
            # Connection: close on the client side; the upstream stays pooled
            with Conn(p.port) as c:
                c.send(request("GET", "/"))
                r = c.read_response(timeout=10)
                self.assertEqual((r.status, r.body), (200, b"tls-backend"))
        self.assertEqual(be.failures, [])
        # probes and requests each opened connections; some resumed a session
        self.assertGreater(be.resumed, 0)
        # three requests on one client keep-alive: the pooled TLS upstream is reused
        n = be.connections
        with Conn(p.port) as c:
            for _ in range(3):
                c.send(request("GET", "/"))
                self.assertEqual(c.read_response(timeout=10).status, 200)
        self.assertLessEqual(be.connections - n, 2)  # the probes may add one

    def upstream_tls_metrics(self, p):
        port = int(p.config["admin"]["listen"].rsplit(":", 1)[1])
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith(("georoute_upstream_tls_", "georoute_tls_handshake_duration")):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def test_metrics_count_upstream_handshakes(self):
        """Backend handshakes are counted apart from listener ones: by result,
        version, full or resumed, and in the duration histogram (side
        upstream). With no pool, each request makes a connection, and all but
        maybe the first resume the session the backend gave before."""
        be = TlsBackend(*self.pki.leaf("backend", ip=["127.0.0.1"]))
        self.addCleanup(be.stop)
        p = self.run_proxy(be, {"ca": self.pki.path("ca.pem")},
                           limits={"upstream_pool_size": 0})
        self.assertTrue(wait_until(lambda: (self.backend_status(p) or {}).get("up") is True,
                                   timeout=15), self.status(p))
        for _ in range(3):
            with Conn(p.port) as c:
                c.send(request("GET", "/"))
                self.assertEqual(c.read_response(timeout=10).status, 200)
        ok = 'georoute_upstream_tls_handshakes_total{result="ok"}'
        self.assertTrue(wait_until(lambda: self.upstream_tls_metrics(p).get(ok) == 3, timeout=10),
                        self.upstream_tls_metrics(p))
        m = self.upstream_tls_metrics(p)
        for r in ("failed", "verify_failed", "timeout", "aborted"):
            self.assertEqual(m['georoute_upstream_tls_handshakes_total{result="%s"}' % r], 0, m)
        for r in ("plain_http", "refused"):  # listener-only results are not upstream ones
            self.assertNotIn('georoute_upstream_tls_handshakes_total{result="%s"}' % r, m)
        self.assertEqual(m['georoute_upstream_tls_handshake_versions_total{version="TLSv1.3"}'], 3)
        full = m['georoute_upstream_tls_sessions_total{kind="full"}']
        resumed = m['georoute_upstream_tls_sessions_total{kind="resumed"}']
        self.assertEqual(full + resumed, 3, m)
        self.assertGreaterEqual(resumed, 2, m)
        self.assertEqual(m['georoute_tls_handshake_duration_seconds_count{side="upstream"}'], 3)
        self.assertEqual(m['georoute_tls_handshake_duration_seconds_count{side="client"}'], 0)

    def test_wrong_name_fails_verification_visibly(self):
        be = TlsBackend(*self.pki.leaf("wrong", dns=["wrong.example"]))
        self.addCleanup(be.stop)
        p = self.run_proxy(be, {"ca": self.pki.path("ca.pem")})

        def failed():
            b = self.backend_status(p) or {}
            return (b.get("last_probe") or {}).get("error") == "TLS certificate verification failed"
        self.assertTrue(wait_until(failed, timeout=15), self.status(p))
        self.assertFalse(self.backend_status(p)["up"])
        with Conn(p.port) as c:
            c.send(request("GET", "/"))
            self.assertEqual(c.read_response(timeout=10).status // 100, 5)
        self.assertIn("TLS certificate verification failed", p.stderr())
        # the log names the backend and why: the probe's transition, and the
        # request's own handshake (the implicit zone still tries a down backend)
        self.assertRegex(p.stderr(), r'event=backend_down backend=%s region=main '
                         r'reason="TLS certificate verification failed"' % re.escape(be.addr))
        self.assertRegex(p.stderr(), r'event=upstream_tls_failed backend=%s region=main '
                         r'reason="IP address mismatch"' % re.escape(be.addr))
        verify = 'georoute_upstream_tls_handshakes_total{result="verify_failed"}'
        self.assertTrue(wait_until(lambda: self.upstream_tls_metrics(p).get(verify, 0) >= 1,
                                   timeout=10), self.upstream_tls_metrics(p))
        self.assertEqual(self.upstream_tls_metrics(p)[
            'georoute_upstream_tls_handshakes_total{result="ok"}'], 0)

    def reload(self, p, tls):
        """Rewrites p's config with region main's tls set to TLS and reloads
        it through POST /reload, which answers once the new fleet is out."""
        p.config["regions"]["main"]["tls"] = tls
        with open(p.config_path, "w") as f:
            f.write(to_yaml(p.config) + "\n")
        port = int(p.config["admin"]["listen"].rsplit(":", 1)[1])
        req = urllib.request.Request("http://127.0.0.1:%d/reload" % port, method="POST",
                                     data=b"", headers={"X-Georoute-Admin": "1"})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def test_reload_drains_pooled_connections_of_the_old_context(self):
        """A reload that changes the backend's sni: the request in flight on
        a connection of the old context finishes (200), then neither that
        connection nor one idle in the pool serves again; the next request
        goes over a fresh handshake that sends the new SNI."""
        be = TlsBackend(*self.pki.leaf("backend", dns=["b.example"], ip=["127.0.0.1"]))
        self.addCleanup(be.stop)
        p = self.run_proxy(be, {"ca": self.pki.path("ca.pem")})
        self.assertTrue(wait_until(lambda: (self.backend_status(p) or {}).get("up") is True,
                                   timeout=15), self.status(p))
        held = {}

        def hold():
            with Conn(p.port) as c:
                c.send(request("GET", "/hold"))
                held["r"] = c.read_response(timeout=30)
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        self.assertTrue(be.held.wait(15), "the held request never reached the backend")
        with Conn(p.port) as c:  # a second connection, left idle in the pool
            c.send(request("GET", "/idle"))
            self.assertEqual(c.read_response(timeout=10).status, 200)
        self.reload(p, {"ca": self.pki.path("ca.pem"), "sni": "b.example"})
        be.release.set()
        t.join(30)
        self.assertEqual((held["r"].status, held["r"].body), (200, b"tls-backend"))
        for _ in range(3):
            with Conn(p.port) as c:
                c.send(request("GET", "/after"))
                self.assertEqual(c.read_response(timeout=10).status, 200)
        conn = {target: (n, sni) for n, sni, target in be.log if target in ("/idle", "/hold")}
        after = [(n, sni) for n, sni, target in be.log if target == "/after"]
        self.assertEqual(conn["/idle"][1], None, be.log)  # an IP: no SNI before the reload
        self.assertEqual(conn["/hold"][1], None, be.log)
        self.assertEqual(len(after), 3, be.log)
        for n, sni in after:
            self.assertEqual(sni, "b.example", be.log)
            self.assertNotIn(n, (conn["/idle"][0], conn["/hold"][0]), be.log)
        self.assertEqual(be.failures, [])

    def test_reload_to_a_ca_that_does_not_sign_the_backend_fails_next_request(self):
        """Verification follows the reload at once: a pooled connection
        verified under the old CA is not reused once the CA changes to one
        that did not sign the backend's certificate."""
        be = TlsBackend(*self.pki.leaf("backend", ip=["127.0.0.1"]))
        self.addCleanup(be.stop)
        p = self.run_proxy(be, {"ca": self.pki.path("ca.pem")})
        self.assertTrue(wait_until(lambda: (self.backend_status(p) or {}).get("up") is True,
                                   timeout=15), self.status(p))
        with Conn(p.port) as c:
            c.send(request("GET", "/before"))
            self.assertEqual(c.read_response(timeout=10).status, 200)
        other = Pki()
        self.addCleanup(other.cleanup)
        self.reload(p, {"ca": other.path("ca.pem")})
        with Conn(p.port) as c:
            c.send(request("GET", "/after"))
            self.assertEqual(c.read_response(timeout=10).status // 100, 5)
        self.assertNotIn("/after", [target for _, _, target in be.log])
        self.assertIn("unable to get local issuer certificate", p.stderr())

    def test_mutual_tls(self):
        be = TlsBackend(*self.pki.leaf("backend", ip=["127.0.0.1"]),
                        client_ca=self.pki.path("ca.pem"))
        self.addCleanup(be.stop)
        cert, key = self.pki.leaf("georoute-client", client=True)
        p = self.run_proxy(be, {"ca": self.pki.path("ca.pem"), "cert": cert, "key": key})
        self.assertTrue(wait_until(lambda: (self.backend_status(p) or {}).get("up") is True,
                                   timeout=15), self.status(p))
        with Conn(p.port) as c:
            c.send(request("GET", "/"))
            r = c.read_response(timeout=10)
            self.assertEqual((r.status, r.body), (200, b"tls-backend"))
        self.assertIn("georoute-client", be.client_cns)
