"""Request classes (issue 15): one population makes small calls and fetches
large objects. near is 5 ms away with its link capped at 200 kB/s per
connection (so bulk transfers do not delay the small calls there), far is
40 ms away and uncapped. With a `bulk` class under /size/, the bulk class
moves to far while the zone's small calls stay on near without a switch;
residency holds for both (a third region, not allowed, is never used).
/status and /debug/route show each class's choice. Only orderings and
counts are asserted, never durations."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import unittest

from backend import Backend
from harness import REPO, Conn, Proxy, free_port, georoute_only, request, wait_until

sys.path.insert(0, os.path.join(REPO, "bench"))
from linkemu import LinkEmu  # noqa: E402

OBJECT = 256 * 1024


@georoute_only("routing is georoute's")
class Classes(unittest.TestCase):
    def setUp(self):
        self.backends = {n: Backend(n).start() for n in ("near", "far", "elsewhere")}
        for b in self.backends.values():
            self.addCleanup(b.stop)
        self.emu = LinkEmu({
            "near": ("127.0.0.1:0", self.backends["near"].addr,
                     {"delay_ms": 5, "rate_bps": 200000, "per_conn": 1}),
            "far": ("127.0.0.1:0", self.backends["far"].addr, 40),
        }).start()
        self.addCleanup(self.emu.stop)
        self.admin = free_port()
        probe = {"interval": "300ms", "path": "/hello"}
        regions = {n: {"backends": [self.emu.addr(n)], "probe": probe} for n in ("near", "far")}
        # Fastest of all and fat, but not allowed: no class may use it.
        regions["elsewhere"] = {"backends": [self.backends["elsewhere"].addr], "probe": probe}
        cfg = {
            "workers": 1,
            "admin": {"listen": "127.0.0.1:%d" % self.admin},
            "regions": regions,
            "zones": [{"name": "default", "route": {
                "regions": ["near", "far"],
                "classes": [{"name": "bulk", "path_prefix": ["/size/"], "method": ["GET"]}]}}],
            "routing": {"slow_start": "off"},
        }
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)

    def admin_get(self, target):
        s = socket.create_connection(("127.0.0.1", self.admin), timeout=10)
        with Conn(self.admin, sock=s, timeout=10) as c:
            c.send(request("GET", target, host="127.0.0.1:%d" % self.admin))
            return json.loads(c.read_response(timeout=10).body)

    def zone(self):
        return self.admin_get("/status")["zones"][0]

    def get(self, target):
        with Conn(self.p.port, timeout=30) as c:
            c.send(request("GET", target))
            r = c.read_response(timeout=30)
        self.assertEqual(r.status, 200)
        return r

    def test_bulk_class_goes_to_the_fat_region_small_calls_stay_near(self):
        self.assertTrue(wait_until(lambda: self.zone()["region"] == "near", 10))
        seen = {"bulk": [], "small": []}

        def bulk_on_far():
            r = self.get("/size/%d" % OBJECT)
            self.assertEqual(len(r.body), OBJECT)
            seen["bulk"].append(r.get("X-Backend"))
            seen["small"].append(self.get("/hello").get("X-Backend"))
            return seen["bulk"][-1] == "far"

        self.assertTrue(wait_until(bulk_on_far, 60, interval=0), (seen, self.zone()))
        for _ in range(5):
            seen["small"].append(self.get("/hello").get("X-Backend"))
        z = self.zone()
        self.assertEqual(z["region"], "near")
        self.assertEqual(z["switches"], 0)
        self.assertEqual(set(seen["small"]), {"near"})
        self.assertIn("near", seen["bulk"])  # it started on near, measured it, then moved
        self.assertNotIn("elsewhere", seen["bulk"] + seen["small"])
        bulk = next(k for k in z["classes"] if k["name"] == "bulk")
        self.assertEqual(bulk["region"], "far")
        self.assertGreater(bulk["size_bytes"], OBJECT / 2)
        self.assertLess(z["size_bytes"], OBJECT / 2)
        self.assertEqual({s["region"] for s in bulk["scores"]}, {"near", "far"})
        self.assertIn("event=route zone=default class=bulk region=far", self.p.stderr())
        d = self.admin_get("/debug/route?ip=127.0.0.1")
        self.assertEqual(d["region"], "near")
        self.assertEqual([(k["name"], k["region"]) for k in d["classes"]], [("bulk", "far")])

    def test_metrics_per_class(self):
        # Per (zone, class): the chosen region, the learned size, the requests.
        self.assertTrue(wait_until(lambda: self.zone()["region"] == "near", 10))
        for _ in range(3):
            self.get("/size/1000")
            self.get("/hello")

        def scrape():
            s = socket.create_connection(("127.0.0.1", self.admin), timeout=10)
            with Conn(self.admin, sock=s, timeout=10) as c:
                c.send(request("GET", "/metrics", host="127.0.0.1:%d" % self.admin))
                return c.read_response(timeout=10).body

        counted = 'georoute_class_requests_total{zone="default",class="bulk"} 3\n'
        self.assertTrue(wait_until(lambda: counted in scrape().decode(), 10), scrape())
        body = scrape()
        text = body.decode()
        self.assertIn('georoute_class_response_bytes{zone="default",class="bulk"} 1000\n', text)
        routes = re.findall(r'^georoute_class_route\{zone="default",class="bulk",'
                            r'region="(\w+)"\} ([01])$', text, re.M)
        self.assertEqual(sorted(r for r, _ in routes), ["far", "near"])  # never "elsewhere"
        self.assertEqual(sum(int(v) for _, v in routes), 1)
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=body,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
