"""make bench-geo (issue 7): bench/bench-geo --quick still runs end to end
(three georoute and three nginx edges, the link emulator, the oracle), exits
0, prints the results table and the targets, writes the PNG when gnuplot is
there, and leaves no process behind. No timing assertions: --quick phases
are ~1 s, too short for the figures to mean anything."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import REPO, georoute_bin, georoute_only

SCRIPT = os.path.join(REPO, "bench", "bench-geo")
MODULES = ("/usr/lib/nginx/modules/ngx_http_geoip2_module.so",
           "/usr/share/nginx/modules/ngx_http_geoip2_module.so")
LINKEMU = os.path.join(os.environ.get("GEOROUTE_BUILD") or os.path.join(REPO, "build"),
                       "bench", "linkemu")


@georoute_only("the benchmark runs georoute")
class BenchGeoQuick(unittest.TestCase):
    def test_quick_run_prints_the_table(self):
        if not shutil.which("nginx") or not any(os.path.exists(m) for m in MODULES):
            self.skipTest("nginx + libnginx-mod-http-geoip2 not installed (.ci/deps bench)")
        if not os.path.exists(LINKEMU):
            self.skipTest("no %s (make tools)" % LINKEMU)
        out_dir = tempfile.mkdtemp(prefix="bench-geo-test.")
        try:
            env = dict(os.environ, GEOROUTE_BIN=georoute_bin())
            r = subprocess.run([sys.executable, SCRIPT, "--quick", "--base-port", "23000",
                                "--out-dir", out_dir], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
            out = r.stdout.decode()
            self.assertEqual(r.returncode, 0, out[-3000:] + r.stderr.decode()[-3000:])
            for h in ("| zone (client@edge) | phase | best | oracle p50 / p99 | georoute p50 / p99",
                      "| nginx p50 / p99", "## Targets", "| target | met | numbers |"):
                self.assertIn(h, out)
            for zone in ("shenzhen (SZ@sz)", "beijing (BJ@sz)", "hongkong (HK@hk)", "us (US@us)",
                         "shenzhen (SZ@hk)"):
                self.assertIn("| %s | 1 |" % zone, out)
            with open(os.path.join(out_dir, "RESULTS-geo.md")) as f:
                self.assertIn("## Results", f.read())
            if shutil.which("gnuplot"):
                self.assertTrue(os.path.getsize(os.path.join(out_dir, "geo-latency.png")) > 1000)
            m = re.search(r"work dir (\S+)", out)
            self.assertTrue(m, out[:500])
            ps = subprocess.run(["ps", "-eo", "args"], stdout=subprocess.PIPE).stdout.decode()
            self.assertNotIn(m.group(1), ps, "a process of the run is still there")
            self.assertNotIn("--port 23001 --name cn", ps, "the cn backend is still there")
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
