"""Latency-aware routing in the real binary (issue 4), with three regions put
far apart by the link emulator: a Shenzhen (CN-GD) client goes to the
nearest allowed region, follows it when cn gets slow, fails over with zero
failed GETs when cn's backend dies, and a zone pinned to cn with `reject`
gets 503 without any request reaching hk or us. The explain header says
why. Only orderings and counts are asserted, never durations."""

import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

from backend import Backend
from harness import REPO, Conn, Proxy, georoute_only, request, wait_until

sys.path.insert(0, os.path.join(REPO, "bench"))
from linkemu import LinkEmu  # noqa: E402
from test_geo_routing import make_fixture  # noqa: E402

GD, BJ, US = "127.1.0.9", "127.4.0.9", "127.3.0.9"


def get(port, src, target="/hello", timeout=15):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
    with Conn(port, sock=s, timeout=timeout) as c:
        c.send(request("GET", target))
        return c.read_response(timeout=timeout)


def explain(r):
    v = r.get("X-Georoute") or ""
    return dict(p.strip().split("=", 1) for p in v.split(";") if "=" in p)


@georoute_only("routing is georoute's")
class Routing(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-route-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        db = os.path.join(self.dir, "city.mmdb")
        make_fixture(db)
        self.backends = {n: Backend(n).start() for n in ("cn", "hk", "us")}
        for b in self.backends.values():
            self.addCleanup(b.stop)
        self.emu = LinkEmu({n: ("127.0.0.1:0", b.addr, d) for (n, b), d in
                            zip(self.backends.items(), (5, 60, 180))}).start()
        self.addCleanup(self.emu.stop)
        probe = {"interval": "1s", "fastinter": "200ms", "timeout": "800ms", "rise": 1, "fall": 2,
                 "path": "/hello"}
        route3 = {"regions": ["cn", "hk", "us"]}
        cfg = {
            "workers": 2,
            "regions": {n: {"backends": [self.emu.addr(n)], "probe": probe}
                        for n in ("cn", "hk", "us")},
            "geo": {"databases": [{"path": db}]},
            "zones": [
                {"name": "shenzhen", "match": {"subdivision": ["CN-GD"]}, "route": route3},
                {"name": "beijing", "match": {"subdivision": ["CN-BJ"]},
                 "route": {"regions": ["cn"], "fallback": "reject"}},
                {"name": "default", "route": {"regions": ["us", "hk"]}},
            ],
            "routing": {"switch_evidence": 100, "min_gain": "10ms", "min_gain_pct": 10,
                        "rtt_half_life": "500ms", "slow_start": "off"},
            "debug_clients": ["127.0.0.0/8"],
        }
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)

    def region_of(self, src):
        r = get(self.p.port, src)
        self.assertEqual(r.status, 200, r.body)
        return r.get("X-Backend"), explain(r)

    def wait_region(self, src, want, timeout=20):
        seen = []

        def check():
            name, ex = self.region_of(src)
            seen.append((name, ex.get("why")))
            return name == want and ex.get("region") == want

        ok = wait_until(check, timeout, interval=0.1)
        self.assertTrue(ok, "never routed to %s; last answers %s\n%s"
                        % (want, seen[-5:], self.p.stderr()[-3000:]))

    def test_nearest_region_then_slowdown_then_outage(self):
        # Steady: Shenzhen goes to cn (5 ms), US to us, and the header explains.
        self.wait_region(GD, "cn")
        for _ in range(10):
            name, ex = self.region_of(GD)
            self.assertEqual(name, "cn")
            self.assertEqual(ex["zone"], "shenzhen")
            self.assertEqual(ex["backend"], self.emu.addr("cn"))
        # A US client is in the default zone, allowed us and hk: from this
        # edge hk (60 ms) is nearer than us (180 ms).
        self.wait_region(US, "hk")
        self.assertEqual(explain(get(self.p.port, US))["zone"], "default")

        # cn gets slow (300 ms each way): on enough evidence, Shenzhen moves to hk.
        self.emu.set("cn", delay_ms=300)
        self.wait_region(GD, "hk")
        # "switched" for the tick of the move, then "best" (the header follows
        # each decision, as /status does); the log line names the move.
        self.assertIn(explain(get(self.p.port, GD))["why"], ("switched", "best"))
        self.assertIn("event=route zone=shenzhen region=hk", self.p.stderr())

        # cn recovers: back to cn on the same rule.
        self.emu.set("cn", delay_ms=5)
        self.wait_region(GD, "cn")

        # cn's backend dies: every GET still succeeds (retried to hk at
        # first, then routed there), none fails.
        self.backends["cn"].stop()
        statuses = []
        end = time.monotonic() + 4
        while time.monotonic() < end:
            r = get(self.p.port, GD)
            statuses.append((r.status, r.get("X-Backend")))
        self.assertTrue(all(s == 200 for s, _ in statuses),
                        [s for s in statuses if s[0] != 200][:5])
        self.assertEqual(statuses[-1][1], "hk")
        self.assertGreater(len(statuses), 10)

    def test_pinned_zone_rejects_and_never_leaves_cn(self):
        self.wait_region(BJ, "cn")
        self.backends["cn"].stop()
        before = {n: self.backends[n].requests for n in ("hk", "us")}

        def rejected():
            r = get(self.p.port, BJ, "/pinned")
            return r.status == 503 and r

        r = wait_until(rejected, 10, interval=0.1)
        self.assertTrue(r, self.p.stderr()[-2000:])
        self.assertIn(b"beijing", r.body)
        self.assertIsNotNone(r.get("Retry-After"))
        for _ in range(10):
            self.assertEqual(get(self.p.port, BJ, "/pinned").status, 503)
        for n in ("hk", "us"):
            heads = b"".join(self.backends[n].heads)
            self.assertNotIn(b"/pinned", heads, n)
            self.assertEqual(self.backends[n].requests, before[n], n)


if __name__ == "__main__":
    unittest.main()
