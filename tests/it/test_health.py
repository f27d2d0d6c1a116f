"""Active and passive health in the real binary (issue 4): a backend that
passes its probes but resets real requests is ejected after
`consecutive_failures`, for `ejection_time`, doubling on the next ejection;
clients see no failure (their requests are retried on the healthy backend).
A backend whose probes fail is marked down after `fall` probes and up again
after `rise`. Assertions are on log events and counts, never on durations."""

import re
import socket
import struct
import time
import unittest

from backend import Backend
from harness import Proxy, RawServer, georoute_only, request, wait_until


class ResettingBackend(RawServer):
    """Answers georoute's probes with 200; resets every other request."""

    def __init__(self):
        self.resets = 0
        self.probes_ok = True
        super().__init__(backlog=64, timeout=5)

    def serve(self, c, head):
        if b"georoute-probe" in head and self.probes_ok:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            return
        self.resets += 1
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@georoute_only("health state is georoute's")
class Health(unittest.TestCase):
    def setUp(self):
        self.good = Backend("good").start()
        self.addCleanup(self.good.stop)
        self.bad = ResettingBackend()
        self.addCleanup(self.bad.stop)

    def proxy(self, passive=None, probe=None):
        probe = probe or {"interval": "200ms", "timeout": "150ms", "rise": 2, "fall": 2,
                          "path": "/hello"}
        bad = {"backends": [self.bad.addr], "probe": probe}
        if passive:
            bad["passive"] = passive
        # The resetting backend is alone in the preferred region, so every
        # request goes to it first (inside a region the balancer would soon
        # steer around it: failures count as latency) and is then retried in
        # the other region.
        cfg = {"workers": 1,
               "regions": {"bad": bad, "good": {"backends": [self.good.addr], "probe": probe}},
               "zones": [{"name": "default",
                          "route": {"regions": ["bad", "good"], "bias": {"good": "50ms"}}}],
               "routing": {"switch_evidence": 10, "slow_start": "off"}}
        p = Proxy(cfg, args=["-v"]).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def get_all(self, p, n):
        statuses = []
        with p.conn() as c:
            for _ in range(n):
                c.send(request("GET", "/hello"))
                statuses.append(c.read_response().status)
        return statuses

    def test_passive_ejection_with_backoff(self):
        p = self.proxy(passive={"consecutive_failures": 3, "ejection_time": "1s",
                                "max_ejection_time": "4s", "max_ejected_pct": 100})
        # Every request succeeds: a reset before any response byte is
        # retried on the other backend.
        self.assertEqual(set(self.get_all(p, 30)), {200})
        self.assertTrue(wait_until(lambda: "event=backend_ejected backend=%s" % self.bad.addr
                                   in p.stderr(), 5), p.stderr()[-2000:])
        first = re.findall(r"event=backend_ejected backend=%s region=bad ms=(\d+)"
                           % re.escape(self.bad.addr), p.stderr())
        self.assertEqual(first[0], "1000")
        # After the ejection ends, the backend fails again and is ejected
        # for twice as long.
        self.assertTrue(wait_until(lambda: "event=backend_unejected" in p.stderr(), 5))

        def ejected_twice():
            self.get_all(p, 10)
            return len(re.findall(r"event=backend_ejected backend=%s"
                                  % re.escape(self.bad.addr), p.stderr())) >= 2

        self.assertTrue(wait_until(ejected_twice, 10, interval=0.2), p.stderr()[-2000:])
        times = re.findall(r"event=backend_ejected backend=%s region=bad ms=(\d+)"
                           % re.escape(self.bad.addr), p.stderr())
        self.assertEqual(times[:2], ["1000", "2000"])
        self.assertGreater(self.bad.resets, 0)

    def test_probe_rise_and_fall(self):
        self.bad.probes_ok = False
        p = self.proxy(passive={"consecutive_failures": 1000})
        # fall: 2 failed probes take it down (it starts up but unconfirmed,
        # so the first failure is enough at start); requests avoid it.
        self.assertTrue(wait_until(lambda: "event=backend_down backend=%s" % self.bad.addr
                                   in p.stderr(), 5), p.stderr()[-2000:])
        resets = self.bad.resets
        self.assertEqual(set(self.get_all(p, 20)), {200})
        self.assertEqual(self.bad.resets, resets, "a down backend still got requests")
        # rise: probes pass again, it comes back after 2 good probes.
        self.bad.probes_ok = True
        self.assertTrue(wait_until(lambda: "event=backend_up backend=%s" % self.bad.addr
                                   in p.stderr(), 5), p.stderr()[-2000:])
        down_at = p.stderr().index("event=backend_down backend=%s" % self.bad.addr)
        probes = p.stderr()[down_at:].count("event=backend_up backend=%s" % self.bad.addr)
        self.assertEqual(probes, 1, "logged once per transition")


if __name__ == "__main__":
    unittest.main()
