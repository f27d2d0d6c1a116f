"""Process lifecycle (issue 2): signals and draining, the access log, and
config errors reported as FILE:LINE:COL."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from backend import Backend
from harness import (Proxy, connect_refused, dead_port, free_port, georoute_bin,
                     georoute_only, request, wait_until)


class Base(unittest.TestCase):
    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)

    def proxy(self, **extra):
        cfg = {"workers": 1, "regions": {"main": {"backends": [self.b.addr]}}}
        cfg.update(extra)
        p = Proxy(cfg).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p


class Shutdown(Base):
    def test_sigterm_drains_inflight_request(self):
        p = self.proxy()
        with p.conn() as c:
            c.send(request("GET", "/slow/1500"))
            time.sleep(0.2)
            p.send_signal(signal.SIGTERM)
            refused = wait_until(lambda: connect_refused(p.port, timeout=0.5), 1.0)
            self.assertTrue(refused, "new connections still accepted after SIGTERM")
            r = c.read_response(timeout=10)
            self.assertEqual((r.status, r.body), (200, b"slow"))
            self.assertTrue(r.complete)
        self.assertEqual(p.wait(10), 0, p.stderr())

    def test_sigterm_closes_idle_keepalive(self):
        p = self.proxy()
        with p.conn() as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)
            p.send_signal(signal.SIGTERM)
            self.assertTrue(c.closed_within(8), "idle keep-alive connection kept during drain")
        self.assertEqual(p.wait(8), 0, p.stderr())

    def test_sigint_exits_0(self):
        p = self.proxy()
        self.assertEqual(p.stop(sig=signal.SIGINT, timeout=8), 0, p.stderr())

    @georoute_only("HAProxy's drain knob is hard-stop-after")
    def test_drain_timeout_bounds_shutdown(self):
        p = self.proxy(timeouts={"shutdown_drain": "500ms"})
        with p.conn() as c:
            c.send(request("GET", "/slow/8000"))
            time.sleep(0.2)
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            rc = p.wait(6)
            self.assertIsNotNone(rc, "did not exit within 6 s with a 500 ms drain")
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 6)


@georoute_only("HAProxy logs to syslog")
class AccessLog(Base):
    def test_one_line_per_request(self):
        p = self.proxy()
        body = b"z" * 1000
        with p.conn() as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)
            c.send(request("POST", "/echo", body=body))
            self.assertEqual(c.read_response().status, 200)
            c.send(request("GET", "/status/404?q=1"))
            self.assertEqual(c.read_response().status, 404)
        self.assertEqual(p.stop(timeout=8), 0)
        lines = p.access_lines()
        self.assertEqual(len(lines), 3, "\n".join(lines))
        for line, method, target, status in zip(lines, ("GET", "POST", "GET"),
                                                ("/hello", "/echo", "/status/404?q=1"),
                                                ("200", "200", "404")):
            with self.subTest(line=line):
                self.assertRegex(line, r"(^|[\s=\"])%s([\s\"]|$)" % method)
                self.assertIn(target, line)
                self.assertRegex(line, r"(^|[\s=])%s(\s|$)" % status)
                self.assertIn(self.b.addr, line, "backend missing")
                self.assertIn("127.0.0.1", line.replace(self.b.addr, ""), "client address missing")
                self.assertRegex(line, r"(dur|time|ms|rt|elapsed)\w*=\d|\d(\.\d+)?(ms|us|µs|s)\b",
                                 "no duration")
                self.assertRegex(line, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d|\b1\d{9}(\.\d+)?\b|"
                                 r"\d\d/\w{3}/\d{4}", "no time")
        # bytes: the POST line carries at least the 1000 request body bytes
        nums = [int(x) for x in re.findall(r"(?<![\w.:])(\d+)(?![\w.:])", lines[1])]
        self.assertTrue(any(n >= 1000 for n in nums), "no bytes-in count in %r" % lines[1])

    def test_errors_are_logged(self):
        p = Proxy({"workers": 1, "regions": {"main": {"backends": ["127.0.0.1:%d" % dead_port()]}}}).start()
        self.addCleanup(p.__exit__, None, None, None)
        with p.conn() as c:
            c.send(request("GET", "/nobackend"))
            self.assertEqual(c.read_response().status, 502)
        with p.conn() as c:
            c.send(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
            self.assertEqual(c.read_response().status, 400)
        lines = p.access_lines(2)
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(any("/nobackend" in ln and re.search(r"\b502\b", ln) for ln in lines), lines)
        self.assertTrue(any(re.search(r"\b400\b", ln) for ln in lines), lines)


@georoute_only("georoute config errors")
class ConfigErrors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-it-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()

    def write(self, text, name="bad.yaml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text.replace("PORT", str(self.port)))
        return path

    def georoute(self, *args):
        try:
            return subprocess.run([georoute_bin()] + list(args), capture_output=True,
                                  text=True, timeout=10, cwd=self.dir)
        except subprocess.TimeoutExpired:
            self.fail("georoute %s kept running (config accepted?)" % " ".join(args))

    GOOD = ('listen: ["127.0.0.1:PORT"]\n'
            "workers: 1\n"
            "regions:\n"
            "  main:\n"
            '    backends: ["127.0.0.1:9"]\n')

    BAD = [
        # (what, text, line)
        ("unknown top-level key",
         'listen: ["127.0.0.1:PORT"]\nworkers: 1\nbogus_key: 1\nregions:\n  main:\n'
         '    backends: ["127.0.0.1:9"]\n', 3),
        ("wrong type",
         'listen: ["127.0.0.1:PORT"]\nworkers: [1, 2]\nregions:\n  main:\n'
         '    backends: ["127.0.0.1:9"]\n', 2),
        ("out of range",
         'listen: ["127.0.0.1:PORT"]\nregions:\n  main:\n    backends: ["127.0.0.1:9"]\n'
         'workers: -3\n', 5),
        ("bad duration",
         'listen: ["127.0.0.1:PORT"]\nregions:\n  main:\n    backends: ["127.0.0.1:9"]\n'
         'timeouts:\n  connect: banana\n', 6),
        ("unknown nested key",
         'listen: ["127.0.0.1:PORT"]\nregions:\n  main:\n    backends: ["127.0.0.1:9"]\n'
         'limits:\n  max_header_bytes: 16k\n  frobnicate: 2\n', 7),
        ("bad address",
         'listen: ["127.0.0.1:PORT"]\nregions:\n  main:\n    backends: ["127.0.0.1:99999"]\n', 4),
    ]

    def test_file_line_col_and_exit_1(self):
        for what, text, line in self.BAD:
            with self.subTest(what):
                path = self.write(text)
                for args in (["-c", path], ["--check", "-c", path]):
                    r = self.georoute(*args)
                    self.assertEqual(r.returncode, 1, "%s: %s" % (args, r.stderr))
                    self.assertRegex(r.stderr, r"bad\.yaml:%d:\d+: \S" % line)

    def test_check_accepts_good_config(self):
        path = self.write(self.GOOD, "good.yaml")
        r = self.georoute("--check", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_file(self):
        r = self.georoute("-c", os.path.join(self.dir, "nope.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.yaml", r.stderr)


if __name__ == "__main__":
    unittest.main()
