"""make demo (issue 7): the demo starts, serves each demo client from its
expected region, exits by itself with DEMO_SECONDS, and leaves nothing
behind (no process, no listening port)."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import REPO, georoute_only, port_open, wait_until

PORTS = (8080, 8443, 9001, 9002, 9003, 7001, 7002, 7003)


@georoute_only("the demo runs georoute")
class Demo(unittest.TestCase):
    def test_demo_serves_each_client_and_cleans_up(self):
        busy = [p for p in PORTS if port_open(p)]
        if busy:
            self.skipTest("demo ports in use: %s" % busy)
        tmp_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "georoute-demo-*")))
        env = dict(os.environ, DEMO_SECONDS="4")
        demo = subprocess.Popen([sys.executable, os.path.join(REPO, "bench", "demo")], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # while it runs: what the printed instructions say works
        curl = None
        if wait_until(lambda: port_open(8443), timeout=60) and shutil.which("curl"):
            curl = subprocess.run(["curl", "-sk", "-w", " %{http_code}",
                                   "https://127.0.0.1:8443/"], capture_output=True, text=True,
                                  timeout=30)
        o, e = demo.communicate(timeout=90)
        r = subprocess.CompletedProcess(demo.args, demo.returncode, o, e)
        out = r.stdout.decode()
        self.assertIn("https://127.0.0.1:8443/", out)
        self.assertIn("curl -ski https://127.0.0.1:8443/", out)
        https = [ln for ln in out.splitlines() if ln.strip().startswith("HTTPS")]
        self.assertTrue(https and "200 OK over TLSv1.3" in https[0], out)
        if curl is not None:
            self.assertEqual(curl.returncode, 0, curl.stderr)
            self.assertTrue(curl.stdout.endswith(" 200"), curl.stdout)
        self.assertEqual(r.returncode, 0, out + r.stderr.decode()[-2000:])
        for who, region in (("Shenzhen", "cn"), ("Beijing", "cn"), ("Hong Kong", "hk"),
                            ("US", "us")):
            line = [ln for ln in out.splitlines() if ln.strip().startswith(who)]
            self.assertTrue(line, out)
            self.assertIn(" %s " % region, line[0])
            self.assertIn("region=%s;" % region, line[0])
        self.assertEqual([p for p in PORTS if port_open(p)], [], "demo left a port open")
        ps = subprocess.run(["ps", "-eo", "args"], stdout=subprocess.PIPE).stdout.decode()
        self.assertNotIn("georoute-demo-", ps)
        left = set(glob.glob(os.path.join(tempfile.gettempdir(), "georoute-demo-*"))) - tmp_before
        self.assertEqual(left, set(), "demo left its certificate directory")


if __name__ == "__main__":
    unittest.main()
