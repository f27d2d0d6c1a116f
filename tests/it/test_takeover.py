"""Zero-downtime restart and upgrade (issue 17.4): a new process started with
--takeover receives the running one's listening sockets (and its admin
socket) over --takeover-socket, serves, and the old one drains and exits 0,
with not one connection refused on the way."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from backend import Backend
from harness import Proxy, free_port, georoute_bin, georoute_only, wait_until
from test_admin import http


class Client(threading.Thread):
    """New connections one after another (Connection: close) until stopped
    or MAX requests or SECONDS have passed; counts answers and failures."""

    def __init__(self, port, max_requests=3000, seconds=20.0):
        super().__init__(daemon=True)
        self.port, self.max, self.seconds = port, max_requests, seconds
        self.ok = 0
        self.failures = []
        self.halt = threading.Event()

    def one(self, n):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /hello?n=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % n)
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        if not data.startswith(b"HTTP/1.1 200 "):
            raise OSError("answer %r" % data[:60])

    def run(self):
        end = time.monotonic() + self.seconds
        n = 0
        while n < self.max and time.monotonic() < end and not self.halt.is_set():
            try:
                self.one(n)
                self.ok += 1
            except OSError as e:
                self.failures.append("request %d: %s" % (n, e))
            n += 1

    def stop(self):
        self.halt.set()
        self.join(30)


@georoute_only("georoute's --takeover")
class Takeover(unittest.TestCase):
    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)
        self.dir = tempfile.mkdtemp(prefix="georoute-it-takeover-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "takeover.sock")
        self.port = free_port()
        self.admin = free_port()

    def proxy(self, workers, *args, start=True):
        cfg = {"listen": ["127.0.0.1:%d" % self.port], "workers": workers,
               "admin": {"listen": "127.0.0.1:%d" % self.admin},
               "regions": {"main": {"backends": [self.b.addr]}}}
        p = Proxy(cfg, args=["--takeover-socket", self.sock] + list(args))
        self.addCleanup(p.__exit__, None, None, None)
        return p.start() if start else p

    def lines(self, p):
        try:
            with open(p.access_log) as f:
                return re.findall(r"/hello\?n=(\d+)", f.read())
        except OSError:
            return []

    def upgrade(self, old_workers, new_workers, requests):
        old = self.proxy(old_workers)
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))
        # The client goes on until stopped: with a count it could finish on
        # the old process before a slow (ASan) takeover, and leave the new
        # one nothing to serve.
        c = Client(self.port, max_requests=requests * 20, seconds=90)
        c.start()
        self.addCleanup(c.stop)
        self.assertTrue(wait_until(lambda: c.ok >= requests // 10 or not c.is_alive(), 20))
        new = self.proxy(new_workers, "--takeover", self.sock)
        self.assertEqual(old.wait(30), 0, "old process did not drain and exit 0:\n" + old.stderr())
        self.assertIn("event=takeover result=handed_over", old.stderr())
        self.assertIn("event=takeover result=ok side=new", new.stderr())
        served_after = c.ok  # the old process has exited: what follows is the new one's
        self.assertTrue(wait_until(lambda: c.ok >= served_after + requests // 10, 30),
                        "the new process served too little")
        c.stop()
        self.assertEqual(c.failures, [], "refused or failed during the takeover")
        # the admin socket came along: the new process answers on it
        self.assertEqual(http(self.admin, "/readyz")[0], 200)
        self.assertTrue(os.path.exists(self.sock), "the new process offers its sockets in turn")
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600, "anyone may take the port")
        self.assertTrue(new.running())
        self.assertEqual(new.stop(timeout=15), 0, new.stderr())
        a, b = self.lines(old), self.lines(new)
        self.assertTrue(a, "the old process served nothing")
        self.assertTrue(b, "the new process served nothing")
        self.assertEqual(len(a) + len(b), c.ok, "a request logged twice or not at all")
        self.assertFalse(set(a) & set(b))

    def test_same_worker_count(self):
        self.upgrade(2, 2, 3000)

    def test_fewer_workers_keeps_every_socket(self):
        self.upgrade(3, 1, 1500)

    def test_more_workers(self):
        self.upgrade(1, 3, 1500)

    def test_takeover_chain(self):
        """The successor offers its sockets in turn: a second upgrade works."""
        first = self.proxy(1)
        second = self.proxy(1, "--takeover", self.sock)
        self.assertEqual(first.wait(30), 0, first.stderr())
        self.assertTrue(wait_until(lambda: os.path.exists(self.sock), 10))
        third = self.proxy(1, "--takeover", self.sock)
        self.assertEqual(second.wait(30), 0, second.stderr())
        self.assertEqual(http(self.admin, "/readyz")[0], 200)
        self.assertEqual(third.stop(timeout=15), 0, third.stderr())

    def test_upgrade_script(self):
        """dist/georoute-upgrade: --check first, then a takeover; prints the new pid."""
        old = self.proxy(2)
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "dist", "georoute-upgrade")
        c = Client(self.port, max_requests=3000)
        c.start()
        self.addCleanup(c.stop)
        # stderr to a file: the new georoute keeps it open (a pipe would never end)
        with open(os.path.join(self.dir, "upgrade.err"), "w+") as err:
            r = subprocess.run([script, "-c", old.config_path, "-s", self.sock, "-b",
                                georoute_bin(), "-t", "30"], stdout=subprocess.PIPE, stderr=err,
                               text=True, timeout=60, cwd=old.dir)
            err.seek(0)
            self.assertEqual(r.returncode, 0, err.read())
        pid = int(r.stdout.strip())
        self.addCleanup(lambda: os.path.exists("/proc/%d" % pid) and os.kill(pid, 15))
        self.assertEqual(old.wait(30), 0, old.stderr())
        c.stop()
        self.assertEqual(c.failures, [])
        self.assertEqual(http(self.admin, "/readyz")[0], 200)
        os.kill(pid, 15)
        self.assertTrue(wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                                   open("/proc/%d/stat" % pid).read().split()[2] == "Z", 20))

    def test_upgrade_script_refuses_a_bad_config(self):
        old = self.proxy(1)
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))
        bad = os.path.join(self.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("listen: [nonsense\n")
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "dist", "georoute-upgrade")
        r = subprocess.run([script, "-c", bad, "-s", self.sock, "-b", georoute_bin()],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(old.running())
        self.assertEqual(http(self.admin, "/readyz")[0], 200)

    def test_nothing_to_take_over_fails_loudly(self):
        p = self.proxy(1, "--takeover", os.path.join(self.dir, "nobody.sock"), start=False)
        r = subprocess.run([georoute_bin(), "-c", p.config_path] + p.args, capture_output=True,
                           text=True, timeout=20, cwd=p.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--takeover", r.stderr)

    def test_second_instance_without_takeover_fails_loudly(self):
        """D3 still holds with a takeover socket, even with the admin off."""
        first = self.proxy(1)
        cfg = {"listen": ["127.0.0.1:%d" % self.port], "workers": 1, "admin": {"listen": "off"},
               "regions": {"main": {"backends": [self.b.addr]}}}
        p = Proxy(cfg, args=["--takeover-socket", self.sock])
        self.addCleanup(p.__exit__, None, None, None)
        r = subprocess.run([georoute_bin(), "-c", p.config_path] + p.args, capture_output=True,
                           text=True, timeout=20, cwd=p.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("another georoute running", r.stderr)
        self.assertTrue(first.running())
        self.assertEqual(first.stop(timeout=15), 0)
        self.assertFalse(os.path.exists(self.sock), "the takeover socket file left behind")


if __name__ == "__main__":
    unittest.main()
