"""Admin hardening (issue 16, docs/SECURITY.md): CSRF and DNS rebinding
without a token, security headers, the unix socket and its file mode, the
token from a file or the environment (and the warning for a file others can
read), the connection cap, and a second instance on the same admin address
failing loudly. Every wait is bounded; only loopback is used."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from backend import Backend
from harness import Conn, Proxy, free_port, georoute_bin, georoute_only, request, wait_until
from test_admin import PROBE, http


@georoute_only("the admin listener is georoute's")
class AdminSecurity(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-admsec-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.b = Backend("main").start()
        self.addCleanup(self.b.stop)
        self.admin = free_port()

    def config(self, **admin):
        admin.setdefault("listen", "127.0.0.1:%d" % self.admin)
        return {"workers": 1, "admin": admin,
                "regions": {"main": {"backends": [self.b.addr], "probe": PROBE}}}

    def start(self, wait=True, **admin):
        p = Proxy(self.config(**admin)).start()
        self.addCleanup(p.__exit__, None, None, None)
        if wait:
            self.assertTrue(wait_until(lambda: http(self.admin, "/healthz")[0] == 200, 10),
                            p.stderr()[-3000:])
        return p

    def raw(self, method, target, headers=(), host=None):
        """(status, head text, body) of one raw request to the admin port."""
        with Conn(self.admin) as c:
            c.send(request(method, target, headers, host=host or "127.0.0.1:%d" % self.admin))
            data = bytes(c.read_until_close(timeout=10))
        head, _, body = data.partition(b"\r\n\r\n")
        head = head.decode("latin-1")
        return int(head.split(" ", 2)[1]), head, body

    def drained(self, token=None):
        st, _, body = http(self.admin, "/status", token=token)
        self.assertEqual(st, 200, body)
        return json.loads(body)["regions"][0]["drained"]

    def test_cross_origin_post_and_rebinding_refused(self):
        self.start()
        # What a page on another origin can send: no custom header, or an Origin.
        st, _, body = self.raw("POST", "/regions/main/drain", [("Content-Length", "0")])
        self.assertEqual(st, 403, body)
        self.assertIn(b"X-Georoute-Admin", body)
        st, _, _ = self.raw("POST", "/regions/main/drain",
                            [("Content-Length", "0"), ("X-Georoute-Admin", "1"),
                             ("Origin", "http://evil.example")])
        self.assertEqual(st, 403)
        st, _, _ = self.raw("POST", "/reload", [("Content-Length", "0"),
                                                ("Origin", "null")])
        self.assertEqual(st, 403)
        self.assertFalse(self.drained())
        # DNS rebinding: the page's own name reaches 127.0.0.1 but says so in Host.
        for host in ("evil.example:%d" % self.admin, "evil.example"):
            self.assertEqual(self.raw("GET", "/status", host=host)[0], 421)
        for host in ("localhost:%d" % self.admin, "[::1]:%d" % self.admin):
            self.assertEqual(self.raw("GET", "/status", host=host)[0], 200)
        self.assertEqual(self.raw("GET", "/healthz", host="lb.internal")[0], 200)
        # The admin's own clients send the header and get through.
        self.assertEqual(http(self.admin, "/regions/main/drain", method="POST")[0], 200)
        self.assertTrue(self.drained())

    def test_security_headers(self):
        self.start()
        for target in ("/", "/status", "/metrics", "/healthz"):
            st, head, _ = self.raw("GET", target)
            self.assertEqual(st, 200)
            self.assertRegex(head, r"(?im)^X-Content-Type-Options: nosniff\r?$")
            self.assertRegex(head, r"(?im)^Cache-Control: no-store\r?$")
        _, head, _ = self.raw("GET", "/")
        self.assertRegex(head, r"(?im)^X-Frame-Options: DENY\r?$")
        csp = re.search(r"(?im)^Content-Security-Policy: (.*)$", head).group(1)
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertIn("connect-src 'self'", csp)

    def test_unix_socket_with_mode(self):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        path = os.path.join(self.dir, "admin.sock")
        p = self.start(wait=False, listen="unix:" + path, mode="0600")
        self.assertTrue(wait_until(lambda: os.path.exists(path), 10), p.stderr()[-2000:])
        st = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

        def curl(*args):
            r = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", path,
                                "-w", "\n%{http_code}"] + list(args),
                               capture_output=True, timeout=30)
            body, _, code = r.stdout.decode().rpartition("\n")
            return int(code or 0), body

        self.assertTrue(wait_until(lambda: curl("http://localhost/readyz")[0] == 200, 10))
        code, body = curl("http://localhost/status")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["regions"][0]["name"], "main")
        self.assertEqual(curl("-X", "POST", "http://localhost/regions/main/drain")[0], 403)
        # main is the only region: a drain strands the default zone, so it takes force.
        code, body = curl("-X", "POST", "-H", "X-Georoute-Admin: 1",
                          "http://localhost/regions/main/drain?force=1")
        self.assertEqual((code, json.loads(body)["drained"]), (200, True))
        self.assertFalse(port_listening(self.admin))
        p.stop()
        self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_token_file_and_env(self):
        tf = os.path.join(self.dir, "token")
        with open(tf, "w") as f:
            f.write("t0k-from-file\n")
        os.chmod(tf, 0o644)  # readable by others: warned about
        p = self.start(token_file=tf)
        self.assertEqual(http(self.admin, "/status")[0], 401)
        self.assertEqual(http(self.admin, "/status", token="t0k-from-file")[0], 200)
        self.assertEqual(http(self.admin, "/regions/main/drain", method="POST",
                              token="t0k-from-file")[0], 200)
        self.assertRegex(p.stderr(), r"event=secret_readable_by_others path=%s mode=0644"
                         % re.escape(tf))
        r = subprocess.run([georoute_bin(), "--check", "-c", p.config_path],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: %s is readable by others" % tf, r.stderr.decode())
        self.assertNotIn("t0k-from-file", p.stderr() + r.stdout.decode() + r.stderr.decode())
        p.stop()

        os.environ["GEOROUTE_TEST_ADMIN_TOKEN"] = "t0k-from-env"
        self.addCleanup(os.environ.pop, "GEOROUTE_TEST_ADMIN_TOKEN", None)
        self.admin = free_port()
        p = self.start(token_env="GEOROUTE_TEST_ADMIN_TOKEN")
        self.assertEqual(http(self.admin, "/metrics")[0], 401)
        self.assertEqual(http(self.admin, "/metrics", token="t0k-from-env")[0], 200)
        self.assertNotIn("t0k-from-env", p.stderr())

    def test_connection_cap(self):
        self.start(max_connections=2)
        held = [socket.create_connection(("127.0.0.1", self.admin), timeout=10) for _ in range(2)]
        try:
            # Both are accepted and waiting for a request head.
            self.assertEqual(http(self.admin, "/healthz")[0], 0)
            with Conn(self.admin) as c:
                self.assertTrue(c.closed_within(5), "connection over the cap was kept")
        finally:
            for s in held:
                s.close()
        self.assertTrue(wait_until(lambda: http(self.admin, "/healthz")[0] == 200, 10))

    def test_second_instance_on_the_same_admin_address_exits(self):
        first = self.start()
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))
        second = Proxy(first.text, port=first.port, ready=False)
        self.addCleanup(second.__exit__, None, None, None)
        second.start()
        rc = second.wait(timeout=20)
        self.assertEqual(rc, 1, second.stderr())
        self.assertRegex(second.stderr(), r"admin\.listen 127\.0\.0\.1:%d: address already in use"
                         % self.admin)
        self.assertIsNone(first.proc.poll())
        self.assertEqual(http(self.admin, "/readyz")[0], 200)
        with Conn(first.port) as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)

    def test_admin_off_starts_without_listener(self):
        p = Proxy({"workers": 1, "admin": {"listen": "off"},
                   "regions": {"main": {"backends": [self.b.addr], "probe": PROBE}}}).start()
        self.addCleanup(p.__exit__, None, None, None)
        with Conn(p.port) as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)


def port_listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
