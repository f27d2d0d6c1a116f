"""What the proxy says when it cannot serve, and why a zone is where it is
(issue 17, D18): a failover reason that lasts while its cause does, one
answer (503 + Retry-After, logged why=reject) when every region a zone may
use is down, and 400s that name what was malformed. Waits are bounded and
poll state; nothing depends on how long anything takes."""

import unittest

from backend import Backend
from harness import Conn, Proxy, free_port, georoute_only, request, wait_until
from test_admin import get_json

PROBE = {"interval": "200ms", "fastinter": "100ms", "downinter": "200ms", "timeout": "250ms",
         "rise": 1, "fall": 1, "path": "/hello"}


def explain(r):
    v = r.get("X-Georoute") or ""
    return dict(p.strip().split("=", 1) for p in v.split(";") if "=" in p)


def get(port, target="/hello"):
    with Conn(port, timeout=10) as c:
        c.send(request("GET", target))
        return c.read_response(timeout=10)


def raw(port, data):
    with Conn(port, timeout=10) as c:
        c.send(data)
        return c.read_response(timeout=10)


@georoute_only("zones, regions and the explain header are georoute's")
class Reasons(unittest.TestCase):
    def setUp(self):
        self.b = {n: Backend(n).start() for n in ("hk", "cn", "us")}
        for b in self.b.values():
            self.addCleanup(b.stop)
        self.admin = free_port()
        cfg = {
            "regions": {n: {"backends": [b.addr], "probe": PROBE} for n, b in self.b.items()},
            "zones": [{"name": "hongkong", "match": {"cidr": ["127.0.0.0/8"]},
                       "route": {"regions": ["hk", "cn"], "fallback": ["us"],
                                 "bias": {"cn": "30ms"}}}],
            "routing": {"slow_start": "off"},
            "debug_clients": ["127.0.0.0/8"],
            "admin": {"listen": "127.0.0.1:%d" % self.admin},
        }
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)
        r = get(self.p.port)
        self.assertEqual((r.status, r.get("X-Backend")), (200, "hk"), r.body)

    def zone(self):
        return get_json(self.admin, "/status")["zones"][0]

    def test_failover_reason_lasts_while_hk_is_down(self):
        self.b["hk"].stop()
        wait_until(lambda: self.zone()["region"] == "cn", 10, interval=0.05)
        # Many decision ticks (50 ms each) later, still failover, naming hk.
        # The tick after the move names the cause (the move itself says "current").
        self.assertTrue(wait_until(lambda: "hk unhealthy" in self.zone()["why"], 10,
                                   interval=0.05), self.zone())
        for _ in range(10):
            r = get(self.p.port)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.get("X-Backend"), "cn")
            self.assertEqual(explain(r).get("why"), "failover", r.get("X-Georoute"))
            z = self.zone()
            self.assertEqual(z["reason"], "failover", z)
            self.assertIn("hk unhealthy", z["why"])

    def test_every_region_down_is_503_retry_after_logged_reject(self):
        for b in self.b.values():
            b.stop()
        r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(get(self.p.port)),
                       10, interval=0.05)
        self.assertIsNotNone(r, "never answered 503 with every region down")
        self.assertIsNotNone(r.get("Retry-After"), r.head)
        self.assertIn(b"no healthy region allowed for zone hongkong", r.body)
        self.assertEqual(explain(r).get("why"), "reject")
        # Settled: every later answer is the same, and the log agrees with it.
        for _ in range(5):
            r = get(self.p.port)
            self.assertEqual(r.status, 503, r.body)
            self.assertIsNotNone(r.get("Retry-After"))
        # The log is buffered: wait for the six 503 lines.
        rejected = lambda: [ln for ln in self.p.access_lines() if " status=503 " in ln]  # noqa
        self.assertTrue(wait_until(lambda: len(rejected()) >= 6, 10), self.p.access_lines())
        for ln in rejected():
            self.assertRegex(ln, r"\bwhy=reject\b")
            self.assertIn('error="no healthy region allowed for zone hongkong"', ln)
        self.assertIn("fallback", self.zone()["why"])

    def test_explain_header_shows_both_cost_figures(self):
        # Issue 15: the RTT part and the size part of the cost, as /status has them.
        ex = explain(get(self.p.port))
        self.assertEqual(ex.get("region"), "hk")
        float(ex["rtt_ms"])
        self.assertEqual(ex.get("goodput_bps"), "-")  # nothing large carried yet
        self.assertEqual(ex.get("transfer_ms"), "0")
        # A large body measures hk's goodput; the header then carries it.
        for _ in range(3):
            self.assertEqual(get(self.p.port, "/size/1048576").status, 200)

        def measured():
            ex = explain(get(self.p.port))
            return ex if ex.get("goodput_bps", "-") != "-" else None
        ex = wait_until(measured, 10, interval=0.05)
        self.assertIsNotNone(ex, "goodput never reached the explain header")
        self.assertGreater(float(ex["goodput_bps"]), 0)
        self.assertGreater(float(ex["transfer_ms"]), 0)  # the zone's mean size is large
        hk = [s for s in self.zone()["scores"] if s["region"] == "hk"][0]
        self.assertIsNotNone(hk["goodput_bps"])

    def test_400_names_what_was_malformed(self):
        cases = [
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"duplicate Host header"),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             b"both Content-Length and Transfer-Encoding"),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
             b"more than one Content-Length"),
            (b"GET / HTTP/1.1\r\n\r\n", b"no Host header"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\n\r\n",
             b"Connection names a framing header or Host"),
        ]
        for data, why in cases:
            r = raw(self.p.port, data)
            self.assertEqual(r.status, 400, data)
            self.assertEqual(r.body, b"malformed HTTP message: " + why + b"\n", data)


if __name__ == "__main__":
    unittest.main()
