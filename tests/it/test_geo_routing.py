"""Geo classification in the real binary (issue 3): clients from different
loopback source addresses land in different zones; X-Forwarded-For counts
only from trusted proxies; PROXY protocol v1 and v2; geo headers to the
backend cannot be forged; a database swap keeps the old data when the new
file is bad and serves the new data to new connections when it is good."""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from backend import Backend
from harness import (REPO, Conn, Proxy, free_port, georoute_only, parse_head_text, request,
                     wait_until)

FIXTURE = os.path.join(REPO, "tests", "fixtures", "make-geo-fixture.pl")

ROUTE = {"regions": ["main"]}
ZONES = [
    {"name": "gd-telecom", "route": ROUTE,
     "match": {"country": ["CN"], "subdivision": ["CN-GD"], "asn": [4134]}},
    {"name": "cn", "match": {"country": ["CN"]}, "route": ROUTE},
    {"name": "hk", "match": {"country": ["HK"]}, "route": ROUTE},
    {"name": "us", "match": {"continent": ["NA"]}, "route": ROUTE},
    {"name": "lab", "match": {"cidr": ["127.9.0.0/16"]}, "route": ROUTE},
    {"name": "default", "route": ROUTE},
]

HEADERS = {"country": "X-Geo-Country", "subdivision": "X-Geo-Subdivision",
           "asn": "X-Geo-ASN", "zone": "X-Georoute-Zone"}


def make_fixture(path, kind="city"):
    subprocess.run(["perl", FIXTURE, "--kind", kind, path], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)


def get_from(port, src, target="/headers", headers=(), timeout=10):
    """One request from source address SRC; returns the parsed response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(src, 0))
    with Conn(port, sock=s) as c:
        c.send(request("GET", target, headers=headers))
        return c.read_response(timeout=timeout)


@georoute_only("geo classification is georoute's")
class GeoRouting(unittest.TestCase):
    def setUp(self):
        # The runner runs tests one by one (no class fixtures): one fixture
        # database per test, in the test's own directory.
        self.dir = tempfile.mkdtemp(prefix="georoute-geo-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.db = os.path.join(self.dir, "city.mmdb")
        self.asn_db = os.path.join(self.dir, "asn.mmdb")
        make_fixture(self.db)
        make_fixture(self.asn_db, "asn")
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)

    def geo(self, db=None, **extra):
        g = {"databases": [{"path": db or self.db},
                           {"path": self.asn_db, "schema": "maxmind-asn"}],
             "headers": HEADERS}
        g.update(extra)
        return g

    def proxy(self, port=None, **extra):
        cfg = {"workers": 1,
               "regions": {"main": {"backends": [self.b.addr]}},
               "geo": self.geo(),
               "zones": ZONES}
        cfg.update(extra)
        p = Proxy(cfg, port=port).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def zone_of(self, r):
        hdrs = parse_head_text(r.body)[1]
        return dict((k.lower(), v) for k, v in hdrs).get("x-georoute-zone")

    def test_source_address_picks_zone(self):
        p = self.proxy()
        want = {"127.1.0.9": "gd-telecom", "127.1.2.9": "cn", "127.4.0.9": "cn",
                "127.2.0.9": "hk", "127.3.0.9": "us", "127.9.0.9": "lab",
                "127.0.0.1": "default"}
        for src, zone in want.items():
            r = get_from(p.port, src)
            self.assertEqual(r.status, 200)
            self.assertEqual(self.zone_of(r), zone, src)
        lines = p.access_lines(len(want))
        for (src, zone), line in zip(want.items(), lines):
            self.assertIn("client=%s " % src, line)
            self.assertIn("zone=%s " % zone, line)

    def test_geo_headers_reach_backend_and_cannot_be_forged(self):
        p = self.proxy()
        forged = [("X-Georoute-Zone", "us"), ("x-geo-country", "US"),
                  ("X-Geo-ASN", "1")]
        r = get_from(p.port, "127.1.0.9", headers=forged)
        hdrs = [(k.lower(), v) for k, v in parse_head_text(r.body)[1]]
        self.assertIn(("x-georoute-zone", "gd-telecom"), hdrs)
        self.assertIn(("x-geo-country", "CN"), hdrs)
        self.assertIn(("x-geo-subdivision", "CN-GD"), hdrs)
        self.assertIn(("x-geo-asn", "4134"), hdrs)
        for name in ("x-georoute-zone", "x-geo-country", "x-geo-asn"):
            self.assertEqual(len([1 for k, _ in hdrs if k == name]), 1, name)

    def test_forged_xff_from_untrusted_peer_is_ignored(self):
        p = self.proxy()
        r = get_from(p.port, "127.3.0.9", headers=[("X-Forwarded-For", "127.1.0.5")])
        self.assertEqual(self.zone_of(r), "us")
        # ...but still forwarded, with the peer appended
        xff = [v for k, v in parse_head_text(r.body)[1] if k.lower() == "x-forwarded-for"]
        self.assertEqual(xff, ["127.1.0.5, 127.3.0.9"])

    def test_xff_from_trusted_peer_uses_rightmost_untrusted(self):
        p = self.proxy(trusted_proxies=["127.8.0.0/16"])
        cases = [("127.3.0.9, 127.1.0.5", "gd-telecom"),
                 ("127.1.0.5, 127.8.0.2", "gd-telecom"),
                 ("127.2.0.1", "hk"),
                 ("garbage, 127.2.0.1", "hk"),
                 ("127.2.0.1, garbage", "default")]
        for xff, zone in cases:
            r = get_from(p.port, "127.8.0.1", headers=[("X-Forwarded-For", xff)])
            self.assertEqual(self.zone_of(r), zone, xff)
        # two header lines count as one list
        r = get_from(p.port, "127.8.0.1", headers=[("X-Forwarded-For", "127.2.0.1"),
                                                    ("X-Forwarded-For", "127.8.0.3")])
        self.assertEqual(self.zone_of(r), "hk")

    def test_xff_every_form_a_proxy_writes(self):
        """Issue 16.5: each form real proxies write names the client; the v4v6
        form ::ffff:a.b.c.d used to stop the walk at the trusted proxy, so the
        client was classified by the proxy's own address (here: default)."""
        p = self.proxy(trusted_proxies=["127.8.0.0/16"])
        for xff in ("127.2.0.1", "127.2.0.1:51234", "::ffff:127.2.0.1", "[::ffff:127.2.0.1]",
                    "[::ffff:127.2.0.1]:443", "127.2.0.1, ::ffff:127.8.0.2",
                    "127.2.0.1, [::ffff:127.8.0.2]:8080"):
            r = get_from(p.port, "127.8.0.1", headers=[("X-Forwarded-For", xff)])
            self.assertEqual(self.zone_of(r), "hk", xff)
        for xff in ("unknown", "_hidden", "127.2.0.1:0", "[127.2.0.1]"):
            r = get_from(p.port, "127.8.0.1", headers=[("X-Forwarded-For", xff)])
            self.assertEqual(self.zone_of(r), "default", xff)

    def proxy_pp(self):
        port = free_port()
        return self.proxy(port=port, trusted_proxies=["127.8.0.0/16"],
                          listen=[{"addr": "127.0.0.1:%d" % port, "proxy_protocol": True}])

    def send_raw_from(self, port, src, payload):
        s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
        c = Conn(port, sock=s)
        self.addCleanup(c.close)
        c.send(payload)
        return c

    def test_proxy_protocol_v1_and_v2(self):
        p = self.proxy_pp()
        v1 = b"PROXY TCP4 127.2.0.7 127.0.0.1 40000 80\r\n"
        c = self.send_raw_from(p.port, "127.8.0.1", v1 + request("GET", "/headers"))
        self.assertEqual(self.zone_of(c.read_response()), "hk")
        # keep-alive after the header: the next request keeps the PROXY source
        c.send(request("GET", "/headers"))
        self.assertEqual(self.zone_of(c.read_response()), "hk")

        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12)
              + socket.inet_aton("127.3.0.7") + socket.inet_aton("127.0.0.1")
              + struct.pack("!HH", 40000, 80))
        c = self.send_raw_from(p.port, "127.8.0.1", v2 + request("GET", "/headers"))
        self.assertEqual(self.zone_of(c.read_response()), "us")
        line = p.access_lines(3)[-1]
        self.assertIn("client=127.3.0.7 ", line)

    def test_malformed_proxy_header_closes(self):
        p = self.proxy_pp()
        c = self.send_raw_from(p.port, "127.8.0.1", b"PROXY TCP4 nonsense\r\nGET / HTTP/1.1\r\n\r\n")
        self.assertTrue(c.closed_within(5))
        self.assertEqual(c.buf, bytearray(), "a response was sent to a bad PROXY header")

    def test_proxy_header_from_untrusted_peer_is_not_honoured(self):
        p = self.proxy_pp()
        c = self.send_raw_from(p.port, "127.3.0.9",
                               b"PROXY TCP4 127.2.0.7 127.0.0.1 1 80\r\n" + request("GET", "/headers"))
        r = c.read_response()
        # Parsed as HTTP: an unknown method, refused, never forwarded.
        self.assertIn(r.status, (400, 501))
        self.assertEqual(self.b.requests, 0)

    def proxy_pp_from(self, **extra):
        port = free_port()
        return self.proxy(port=port, listen=[{"addr": "127.0.0.1:%d" % port,
                                              "proxy_protocol": {"from": ["127.8.0.0/16"]}}],
                          **extra)

    def test_proxy_protocol_from_is_not_trust_for_xff(self):
        """Issue 16.5: a balancer allowed to send PROXY headers is not
        thereby trusted for X-Forwarded-For."""
        p = self.proxy_pp_from()
        hdr = b"PROXY TCP4 127.8.0.9 127.0.0.1 40000 80\r\n"
        xff = [("X-Forwarded-For", "127.2.0.1")]
        c = self.send_raw_from(p.port, "127.8.0.1", hdr + request("GET", "/headers", xff))
        self.assertEqual(self.zone_of(c.read_response()), "default")
        c = self.send_raw_from(p.port, "127.8.0.1", b"PROXY TCP4 127.3.0.7 127.0.0.1 1 80\r\n"
                               + request("GET", "/headers"))
        self.assertEqual(self.zone_of(c.read_response()), "us")
        # Listed in trusted_proxies as well, the same hop is believed.
        p2 = self.proxy_pp_from(trusted_proxies=["127.8.0.0/16"])
        c = self.send_raw_from(p2.port, "127.8.0.1", hdr + request("GET", "/headers", xff))
        self.assertEqual(self.zone_of(c.read_response()), "hk")

    def test_proxy_unknown_or_local_vouches_for_no_xff(self):
        """Issue 16.5: after PROXY UNKNOWN or a v2 LOCAL header the peer is
        the trusted balancer, but it vouched for nobody: the client's own
        X-Forwarded-For is not believed."""
        p = self.proxy_pp()
        xff = request("GET", "/headers", [("X-Forwarded-For", "127.2.0.1")])
        local = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00]) + struct.pack("!H", 0)
        for hdr in (b"PROXY UNKNOWN\r\n", local):
            c = self.send_raw_from(p.port, "127.8.0.1", hdr + xff)
            self.assertEqual(self.zone_of(c.read_response()), "default", hdr)
        # A real source from the same balancer still passes XFF on.
        c = self.send_raw_from(p.port, "127.8.0.1",
                               b"PROXY TCP4 127.8.0.9 127.0.0.1 1 80\r\n" + xff)
        self.assertEqual(self.zone_of(c.read_response()), "hk")

    def test_proxy_protocol_true_needs_a_list(self):
        for pp, want in ((True, "proxy_protocol: {from: [networks]}"),
                         ({"from": []}, "name the networks")):
            cfg = {"listen": [{"addr": "127.0.0.1:1", "proxy_protocol": pp}],
                   "regions": {"main": {"backends": [self.b.addr]}}}
            p = Proxy(cfg, port=1, args=["--check"], ready=False).start()
            self.addCleanup(p.__exit__, None, None, None)
            self.assertEqual(p.wait(10), 1)
            self.assertIn(want, p.stderr())

    def test_region_header_reaches_backend(self):
        """D5: geo.headers.region names the region the request went to."""
        p = self.proxy(geo=self.geo(headers=dict(HEADERS, region="X-Georoute-Region")))
        r = get_from(p.port, "127.2.0.9", headers=[("X-Georoute-Region", "forged")])
        hdrs = [(k.lower(), v) for k, v in parse_head_text(r.body)[1]]
        self.assertEqual([v for k, v in hdrs if k == "x-georoute-region"], ["main"])
        self.assertIn(("x-georoute-zone", "hk"), hdrs)

    def test_debug_clients_match_the_real_client(self):
        """D10: debug_clients is matched after trusted X-Forwarded-For."""
        p = self.proxy(trusted_proxies=["127.8.0.0/16"], debug_clients=["127.2.0.0/16"])
        r = get_from(p.port, "127.8.0.1", target="/hello",
                     headers=[("X-Forwarded-For", "127.2.0.1")])
        self.assertIn("zone=hk", r.get("X-Georoute") or "")
        r = get_from(p.port, "127.8.0.1", target="/hello")
        self.assertIsNone(r.get("X-Georoute"))

    def test_database_swap(self):
        db = os.path.join(self.dir, "swap.mmdb")
        shutil.copy(self.db, db)
        p = self.proxy(geo=self.geo(db, reload_interval="1s"))
        self.assertEqual(self.zone_of(get_from(p.port, "127.1.0.9")), "gd-telecom")

        # A corrupt file: the old database stays in service.
        tmp = db + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"this is not a maxmind database" * 100)
        os.rename(tmp, db)
        self.assertTrue(wait_until(lambda: "geo_reload result=failed" in p.stderr(), 5),
                        p.stderr())
        self.assertEqual(self.zone_of(get_from(p.port, "127.1.0.9")), "gd-telecom")
        self.assertEqual(p.stderr().count("geo_reload result=failed"), 1, "logged more than once")

        # A valid file with new data: new connections see it.
        make_fixture(tmp, "city-moved")
        os.rename(tmp, db)
        self.assertTrue(wait_until(lambda: "geo_reload result=ok" in p.stderr(), 5), p.stderr())
        self.assertEqual(self.zone_of(get_from(p.port, "127.1.0.9")), "hk")
        self.assertEqual(self.zone_of(get_from(p.port, "127.3.0.9")), "us")

    def test_check_reports_every_bad_zone_and_database(self):
        bad_db = os.path.join(self.dir, "bad.mmdb")
        with open(bad_db, "wb") as f:
            f.write(b"not a database")
        text = ("listen: 127.0.0.1:1\n"
                "regions: {main: {backends: [%s]}}\n"
                "geo:\n"
                "  databases:\n"
                "    - path: %s\n"
                "    - {path: %s, schema: maxmind-asn}\n"
                "zones:\n"
                "  - {name: a, match: {cidr: [\"10.0.0.0/33\", 10.1.1.1/8]}, route: {regions: [main]}}\n"
                "  - {name: b, match: {country: [China, CN, gb2]}, route: {regions: [main]}}\n"
                % (self.b.addr, os.path.join(self.dir, "missing.mmdb"), bad_db))
        p = Proxy(text, port=1, args=["--check"], ready=False).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.assertEqual(p.wait(10), 1)
        err = p.stderr()
        # Every bad value of every zone, at its own place, in one run.
        self.assertRegex(err, r"proxy\.yaml:8:\d+: zones\[0\]\.match\.cidr\[0\]: ")
        self.assertRegex(err, r"proxy\.yaml:8:\d+: zones\[0\]\.match\.cidr\[1\]: .*host bits")
        self.assertRegex(err, r"proxy\.yaml:9:\d+: zones\[1\]\.match\.country\[0\]: .*China")
        self.assertRegex(err, r"proxy\.yaml:9:\d+: zones\[1\]\.match\.country\[2\]: .*gb2")
        self.assertNotIn("country[1]", err)
        self.assertRegex(err, r"proxy\.yaml:5:\d+: geo\.databases: .*missing\.mmdb")
        self.assertRegex(err, r"proxy\.yaml:6:\d+: geo\.databases: .*bad\.mmdb")

    def test_check_opens_the_database(self):
        missing = os.path.join(self.dir, "missing.mmdb")
        cfg = {"listen": ["127.0.0.1:1"], "regions": {"main": {"backends": [self.b.addr]}},
               "geo": {"databases": [{"path": missing}]}}
        p = Proxy(cfg, args=["--check"], ready=False).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.assertEqual(p.wait(10), 1)
        self.assertRegex(p.stderr(), r"proxy\.yaml:\d+:\d+: geo\.databases: .*missing\.mmdb")


if __name__ == "__main__":
    unittest.main()
