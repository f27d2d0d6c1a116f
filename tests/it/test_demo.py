"""make demo (issue 7): the demo starts, serves each demo client from its
expected region, exits by itself with DEMO_SECONDS, and leaves nothing
behind (no process, no listening port)."""

import os
import subprocess
import sys
import unittest

from harness import REPO, georoute_only, port_open

PORTS = (8080, 9001, 9002, 9003, 7001, 7002, 7003)


@georoute_only("the demo runs georoute")
class Demo(unittest.TestCase):
    def test_demo_serves_each_client_and_cleans_up(self):
        busy = [p for p in PORTS if port_open(p)]
        if busy:
            self.skipTest("demo ports in use: %s" % busy)
        env = dict(os.environ, DEMO_SECONDS="2")
        r = subprocess.run([sys.executable, os.path.join(REPO, "bench", "demo")], cwd=REPO,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=90)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode()[-2000:])
        for who, region in (("Shenzhen", "cn"), ("Beijing", "cn"), ("Hong Kong", "hk"),
                            ("US", "us")):
            line = [ln for ln in out.splitlines() if ln.strip().startswith(who)]
            self.assertTrue(line, out)
            self.assertIn(" %s " % region, line[0])
            self.assertIn("region=%s;" % region, line[0])
        self.assertEqual([p for p in PORTS if port_open(p)], [], "demo left a port open")
        ps = subprocess.run(["ps", "-eo", "args"], stdout=subprocess.PIPE).stdout.decode()
        self.assertNotIn("conf/demo.yaml", ps)


if __name__ == "__main__":
    unittest.main()
