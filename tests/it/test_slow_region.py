"""Slow is not down (issue 15): a zone pinned to its only region (`fallback:
reject`) keeps being served while that region is 300 ms slower each way.
With the default probe timeout (5 s, whatever the interval) the slow probe
is a latency sample; with a probe timeout shorter than the slow round trip
the silent probes are excused because real requests keep succeeding.
/status says why the backend is up. Before, the probe timeout was
min(500 ms, interval / 2) and timeouts alone took the region down: the zone
got 503. Only statuses and orderings are asserted, never durations."""

import json
import os
import socket
import sys
import time
import unittest

from backend import Backend
from harness import REPO, Conn, Proxy, free_port, georoute_only, request, wait_until

sys.path.insert(0, os.path.join(REPO, "bench"))
from linkemu import LinkEmu  # noqa: E402


def status(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    with Conn(port, sock=s, timeout=10) as c:
        c.send(request("GET", "/status", host="127.0.0.1:%d" % port))  # the admin address
        r = c.read_response(timeout=10)
    return json.loads(r.body)


@georoute_only("routing is georoute's")
class SlowRegion(unittest.TestCase):
    def start(self, probe):
        self.b = Backend("cn").start()
        self.addCleanup(self.b.stop)
        self.emu = LinkEmu({"cn": ("127.0.0.1:0", self.b.addr, 5)}).start()
        self.addCleanup(self.emu.stop)
        self.admin = free_port()
        cfg = {
            "workers": 1,
            "admin": {"listen": "127.0.0.1:%d" % self.admin},
            "regions": {"cn": {"backends": [self.emu.addr("cn")], "probe": probe}},
            "zones": [{"name": "default", "route": {"regions": ["cn"], "fallback": "reject"}}],
        }
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)

    def get(self):
        with self.p.conn(timeout=30) as c:
            c.send(request("GET", "/hello"))
            return c.read_response(timeout=30)

    def backend(self):
        return status(self.admin)["regions"][0]["backends"][0]

    def slow_traffic(self, seconds, seen=None):
        """GETs for SECONDS (at most 40), all 200; SEEN() is asked after each; returns
        whether it ever held."""
        self.assertEqual(self.get().status, 200)
        self.emu.set("cn", delay_ms=300)
        statuses, held = [], False
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(statuses) < 40:
            statuses.append(self.get().status)
            held = held or bool(seen and seen())
        self.assertGreaterEqual(len(statuses), 3)
        self.assertEqual([s for s in statuses if s != 200], [], self.p.stderr()[-2000:])
        return held

    def test_pinned_zone_served_while_its_region_is_slow(self):
        # timeout left at its default: independent of the 200 ms interval
        self.start({"interval": "200ms", "fall": 2, "rise": 1})
        self.slow_traffic(5)

        def slow_probe_seen():
            be = self.backend()
            return be["last_probe"] and be["last_probe"]["ms"] > 300 and be["up"]

        self.assertTrue(wait_until(slow_probe_seen, 10, interval=0.2))
        be = self.backend()
        self.assertTrue(be["usable"])
        self.assertTrue(be["why"].startswith("up:"), be["why"])
        self.assertIsNotNone(be["real_success_ago_ms"])
        self.assertNotIn("event=backend_down", self.p.stderr())
        self.assertNotIn("event=region_down", self.p.stderr())

    def test_silent_probes_excused_while_real_requests_succeed(self):
        # Probes give up after 400 ms, before the ~600 ms slow round trip.
        self.start({"interval": "300ms", "timeout": "400ms", "fall": 2, "rise": 1})
        excused = "up: answers real traffic, probe silent"
        self.assertTrue(self.slow_traffic(5, seen=lambda: self.backend()["why"] == excused))
        self.assertTrue(self.backend()["usable"])
        self.assertNotIn("event=backend_down", self.p.stderr())


if __name__ == "__main__":
    unittest.main()
