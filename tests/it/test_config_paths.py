"""Config checks that used to pass --check and then fail the start (D14),
and relative paths (D15): they resolve against the config file's
directory, whatever the working directory, and start-time errors carry
FILE:LINE:COL like every other config error."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from backend import Backend
from harness import REPO, free_port, georoute_bin, georoute_only, port_open, request, wait_until


def check(path, cwd="/"):
    return subprocess.run([georoute_bin(), "--check", "-c", path], capture_output=True, text=True,
                          timeout=30, cwd=cwd)


@georoute_only("config checks are georoute's")
class ConfigPaths(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-paths-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.b = Backend().start()
        self.addCleanup(self.b.stop)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_unwritable_access_log_fails_check_and_start_at_its_place(self):
        path = self.write("c.yaml", "listen: 127.0.0.1:1\naccess_log: /nonexistent-dir/a.log\n"
                                    "regions: {a: {backends: [%s]}}\n" % self.b.addr)
        r = check(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:2:13: access_log: cannot write /nonexistent-dir/a.log" % path, r.stderr)

    def test_bind_failure_names_the_listen_entry(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)  # no SO_REUSEPORT: georoute's bind fails
            port = s.getsockname()[1]
            path = self.write("c.yaml", "workers: 1\nlisten:\n  - 127.0.0.1:%d\n"
                                        "regions: {a: {backends: [%s]}}\n"
                                        "admin: {listen: off}\n" % (port, self.b.addr))
            r = subprocess.run([georoute_bin(), "-c", path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertRegex(r.stderr, r"%s:3:\d+: listen 127\.0\.0\.1:%d: Address already in use"
                             % (path, port))

    def test_relative_paths_start_at_the_config_directory(self):
        shutil.copy(os.path.join(REPO, "conf", "demo-geo.mmdb"), os.path.join(self.dir, "g.mmdb"))
        os.mkdir(os.path.join(self.dir, "logs"))
        text = ("access_log: logs/access.log\ngeo: {databases: [{path: g.mmdb}]}\n"
                "regions: {a: {backends: [%s]}}\n" % self.b.addr)
        path = self.write("c.yaml", "listen: 127.0.0.1:1\n" + text)
        for cwd in ("/", self.dir, REPO):
            r = check(path, cwd=cwd)
            self.assertEqual(r.returncode, 0, "cwd %s: %s" % (cwd, r.stderr))
        # Started from / (as systemd does), the log lands next to the config.
        port = free_port()
        self.write("c.yaml", "listen: 127.0.0.1:%d\nworkers: 1\nadmin: {listen: off}\n" % port + text)
        proc = subprocess.Popen([georoute_bin(), "-c", path], cwd="/", stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertTrue(wait_until(lambda: port_open(port), 10))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(request("GET", "/", [("Connection", "close")]))
            self.assertIn(b" 200 ", c.recv(100))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        with open(os.path.join(self.dir, "logs", "access.log")) as f:
            self.assertIn("status=200", f.read())

    def test_check_warns_about_what_cannot_work_and_passes(self):
        """D21: a zone an earlier one shadows, a country no database reports and a
        region no zone routes to are warned about at their place; --check still
        exits 0, and a start logs each warning as its own event."""
        path = self.write("c.yaml", "listen: 127.0.0.1:1\n"
                                    "regions: {a: {backends: [%s]}, b: {backends: [%s]}}\n"
                                    "zones:\n"
                                    "  - {name: wide, match: {cidr: [10.0.0.0/8]}, route: {regions: [a]}}\n"
                                    "  - {name: narrow, match: {cidr: [10.9.0.0/16]}, route: {regions: [a]}}\n"
                                    "  - {name: default, route: {regions: [a]}}\n"
                                    % (self.b.addr, self.b.addr))
        r = check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%s:5:" % path, r.stderr)
        self.assertIn("warning: zones[1] (narrow) never matches", r.stderr)
        self.assertIn("%s:2:" % path, r.stderr)
        self.assertIn("warning: regions.b: no zone routes to it", r.stderr)

    def test_large_region_checks_in_n_log_n(self):
        """D19: duplicate backends were found by comparing every pair: 16,000
        backends took 5 s and 100,000 would take hours. Sorted, 100,000 take
        well under a second; the bound here only guards against the old way."""
        n = 100000
        lines = ["listen: 127.0.0.1:1", "regions:", "  a:", "    backends:"]
        lines += ["      - 10.%d.%d.%d:80" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(n)]
        lines.append("      - 10.0.0.7:80")  # one duplicate, reported with the first's place
        path = self.write("big.yaml", "\n".join(lines) + "\n")
        r = subprocess.run([georoute_bin(), "--check", "-c", path], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertIn("%s:%d:9: regions.a.backends[%d]: duplicate backend '10.0.0.7:80' "
                      "(first at line 12, column 9)" % (path, n + 5, n), r.stderr)

    def test_shipped_demo_config_checks_from_any_directory(self):
        r = check(os.path.join(REPO, "conf", "demo.yaml"), cwd="/")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
