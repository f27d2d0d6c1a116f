"""Backends discovered by DNS (names and SRV records) against a real dnsmasq.

Each test starts dnsmasq (the `Dnsmasq` class of test_dns.py) on 127.0.0.1
at a free high port, serving A/AAAA records from a hosts file the test
writes (re-read on SIGHUP, sent by PID; TTL 1 s) and SRV records from its
command line; any other name under .test is NXDOMAIN. The fake backends
listen on different loopback addresses (127.0.0.2, 127.0.0.3, ..., ::1) at
one shared port P, so a name with two A records yields two backends of the
entry "a.test:P".

Covered: names (A and AAAA) resolve and traffic flows; a record change
followed within TTL + 1 s (+ probe margin), with the removed backend getting
no new request once /status no longer lists it and its pooled connections
closed; dnsmasq stopped keeps the last good addresses serving while the
failure counter grows, and the set follows again once it is back; an SRV set
with two priorities uses only the lower; names that never resolve (NXDOMAIN,
and a server that never answers) are reported in /status and block nothing.

Every wait is bounded; only loopback is used; only processes these tests
started are stopped (by PID). Times measured are printed in the assertion
messages; the timing bounds are generous on purpose (noisy machines).
"""

import http.client as httpc
import json
import os
import re
import socket
import threading
import time
import unittest

from backend import Backend
from harness import Proxy, free_port, georoute_only, wait_until
from test_admin import PROBE, get_json, http
from test_dns import DNSMASQ, Dnsmasq
from test_tls import Pki, TlsBackend

TTL = 1.0          # dnsmasq --local-ttl=1, and dns.min_ttl
FOLLOW = TTL + 1.0  # the set must follow a record change within TTL + 1 s ...
MARGIN = 2.0        # ... plus this much for a noisy machine
PROBE_MARGIN = 2.0  # a new backend is up after its first probe (rise 1, 300 ms)
SRV_NAME = "_http._tcp.s.test"


def get(port, path="/hello", src=None, timeout=10):
    """One request through the proxy on its own connection: (status, X-Backend).
    A transport error gives (repr(error), None)."""
    c = httpc.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(src, 0) if src else None)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status, r.getheader("X-Backend")
    except (OSError, httpc.HTTPException) as e:
        return repr(e), None
    finally:
        c.close()


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric(text, metric_name, **labels):
    """The value of the sample of `metric_name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        if not line.startswith(metric_name):
            continue
        m = re.match(r"^(\w+)(?:\{(.*)\})?\s+(\S+)", line)
        if not m or m.group(1) != metric_name:
            continue
        have = dict(_LABEL.findall(m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


class Load:
    """`threads` clients sending requests one after another until stop();
    results: (t_start, t_end, status, backend)."""

    def __init__(self, port, path="/hello", threads=1, src=None):
        self.port, self.path, self.src = port, path, src
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self.stopping.is_set():
            t0 = time.monotonic()
            st, be = get(self.port, self.path, self.src)
            with self.lock:
                self.results.append((t0, time.monotonic(), st, be))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(15)

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def seen_after(self, t, backend):
        return any(ts > t and be == backend for ts, _, _, be in self.snapshot())


class DnsFixture(unittest.TestCase):
    """Starts dnsmasq, fake backends and georoute; reads /status and /metrics."""

    def setUp(self):
        self.admin = free_port()
        self.port = free_port()
        self.bport = free_port()  # P: every DNS-found backend listens on it
        self.p = None

    # ------------------------------------------------------------ set-up
    def backend(self, name, host, port=None):
        b = Backend(name, port=self.bport if port is None else port, host=host).start()
        self.addCleanup(b.stop)
        return b

    def dnsmasq(self, hosts, srv=()):
        d = Dnsmasq(hosts=hosts, srv=list(srv))
        self.addCleanup(d.cleanup)
        return d.start()

    def a(self, host):
        """The backend address georoute reports for host at port P."""
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.bport)

    # Every backend here is on loopback, which discovery refuses unless allowed.
    LOOPBACK = {"allow": ["127.0.0.0/8", "::1/128"]}

    def start(self, regions, dns_port, zones=None, dns=None, discovery=LOOPBACK,
              region_extra=None):
        d = {"servers": ["127.0.0.1:%d" % dns_port], "min_ttl": "1s", "max_ttl": "5s",
             "retry_max": "1s", "timeout": "500ms"}
        d.update(dns or {})
        cfg = {
            "listen": ["127.0.0.1:%d" % self.port],
            "workers": 1,
            "admin": "127.0.0.1:%d" % self.admin,
            "dns": d,
            "regions": {n: dict({"backends": bs, "probe": PROBE, "discovery": discovery},
                                **(region_extra or {}))
                        for n, bs in regions.items()},
            "routing": {"slow_start": "off"},
        }
        if zones:
            cfg["zones"] = zones
        self.p = Proxy(cfg, port=self.port).start()
        self.addCleanup(self.p.__exit__, None, None, None)
        self.assertTrue(wait_until(lambda: http(self.admin, "/healthz", timeout=2)[0] == 200, 5),
                        self.p.stderr()[-3000:])
        return self.p

    # ------------------------------------------------------------ observation
    def status(self):
        return get_json(self.admin, "/status")

    def metrics(self):
        st, _, body = http(self.admin, "/metrics")
        self.assertEqual(st, 200, body)
        return body.decode()

    @staticmethod
    def region(s, name):
        for r in s["regions"]:
            if r["name"] == name:
                return r
        raise AssertionError("no region %r in /status: %s" % (name, [r["name"] for r in s["regions"]]))

    def addrs(self, s, name):
        return {b["address"] for b in self.region(s, name)["backends"]}

    @staticmethod
    def dns(s, name, region=None):
        for e in s.get("dns") or []:
            if e["name"] == name and (region is None or e["region"] == region):
                return e
        raise AssertionError("no dns entry %r in /status: %s" % (name, s.get("dns")))

    def wait_set(self, region, want, usable=True, timeout=10.0):
        """Waits until /status lists exactly `want` in region (all usable and
        the region healthy when `usable`); returns (ok, seconds, last status)."""
        last = {}
        t0 = time.monotonic()

        def check():
            last["s"] = s = self.status()
            r = self.region(s, region)
            if {b["address"] for b in r["backends"]} != set(want):
                return False
            # the region's own state follows its backends' within a tick
            return not usable or (r["healthy"] and all(b["usable"] for b in r["backends"]))

        ok = wait_until(check, timeout, 0.05)
        return ok, time.monotonic() - t0, last.get("s")

    def assert_set(self, region, want, timeout=10.0):
        ok, took, s = self.wait_set(region, want, timeout=timeout)
        self.assertTrue(ok, "region %s never became %s (usable, healthy) in %.1fs: %s\n%s"
                        % (region, sorted(want), timeout, json.dumps(s and self.region(s, region)),
                           self.p.stderr()[-3000:]))
        return s

    def spread(self, want, n=80, threads=8, path="/slow/20", timeout=15.0):
        """Concurrent requests (so that in-flight counts spread the picks),
        at least n of them and until every backend in `want` answered
        (bounded): every one is 200 and the backends that answered are
        exactly `want`."""
        load = Load(self.port, path, threads=threads).start()
        t0 = time.monotonic()

        def done():
            res = load.snapshot()
            return len(res) >= n and {r[3] for r in res} >= set(want)

        wait_until(done, timeout)
        load.stop()
        took = time.monotonic() - t0
        res = load.snapshot()
        bad = [r for r in res if r[2] != 200]
        self.assertEqual(bad, [], "failed requests\n" + self.p.stderr()[-3000:])
        seen = {}
        for r in res:
            seen[r[3]] = seen.get(r[3], 0) + 1
        self.assertEqual(set(seen), set(want), "backends that answered %d requests in %.1fs: %s"
                         % (len(res), took, seen))
        self.assertGreaterEqual(len(res), n)
        return res

    # ------------------------------------------------------------ tests

@georoute_only("DNS backends are georoute's")
@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq not installed (.ci/deps test)")
class DnsBackends(DnsFixture):
    def test_a_and_aaaa_names_resolve_and_traffic_flows(self):
        """a.test has two A records, six.test one AAAA (::1): each address is
        a backend of its region, sourced from its entry, reported under
        "dns" and in /metrics, and requests reach every one of them."""
        d = self.dnsmasq("127.0.0.2 a.test\n127.0.0.3 a.test\n::1 six.test\n")
        b2, b3 = self.backend("b2", "127.0.0.2"), self.backend("b3", "127.0.0.3")
        b6 = self.backend("b6", "::1")
        P = self.bport
        # Clients from 127.0.0.9 go to region six, everybody else to four.
        zones = [{"name": "v6", "match": {"cidr": ["127.0.0.9/32"]}, "route": {"regions": ["six"]}},
                 {"name": "default", "route": {"regions": ["four"]}}]
        self.start({"four": ["a.test:%d" % P], "six": ["six.test:%d" % P]}, d.port, zones=zones)

        s = self.assert_set("four", {self.a("127.0.0.2"), self.a("127.0.0.3")})
        s = self.assert_set("six", {self.a("::1")})
        for b in self.region(s, "four")["backends"]:
            self.assertEqual(b["source"], "a.test:%d" % P, b)
        (b,) = self.region(s, "six")["backends"]
        self.assertEqual(b["source"], "six.test:%d" % P, b)
        self.assertTrue(self.region(s, "four")["healthy"])
        self.assertTrue(self.region(s, "six")["healthy"])

        e = self.dns(s, "a.test")
        self.assertEqual((e["srv"], e["port"], e["region"], e["resolved"], e["last_error"]),
                         (False, P, "four", True, None), e)
        self.assertEqual(sorted(e["addresses"]), sorted([self.a("127.0.0.2"), self.a("127.0.0.3")]))
        self.assertGreaterEqual(e["ttl_left_s"], 0)
        self.assertLessEqual(e["ttl_left_s"], 5.0 + 0.5)  # max_ttl
        e = self.dns(s, "six.test")
        self.assertEqual((e["srv"], e["port"], e["region"], e["resolved"], e["last_error"]),
                         (False, P, "six", True, None), e)
        self.assertEqual(e["addresses"], [self.a("::1")])

        self.spread({"b2", "b3"})
        for _ in range(10):
            self.assertEqual(get(self.port, src="127.0.0.9"), (200, "b6"))
        self.assertGreater(b6.requests, 0)
        self.assertGreater(b2.requests, 0)
        self.assertGreater(b3.requests, 0)

        m = self.metrics()
        self.assertEqual(metric(m, "georoute_dns_addresses", name="a.test"), 2, m[-2000:])
        self.assertEqual(metric(m, "georoute_dns_addresses", name="six.test"), 1)
        self.assertIn(metric(m, "georoute_dns_failures_total", name="a.test"), (0, None))
        for region, host in (("four", "127.0.0.2"), ("four", "127.0.0.3"), ("six", "::1")):
            self.assertEqual(metric(m, "georoute_backend_up", region=region, backend=self.a(host)),
                             1, "georoute_backend_up %s %s" % (region, host))
        self.assertTrue(self.p.running())

    def test_record_changes_the_backend_set_follows(self):
        """The test rewrites the hosts file and SIGHUPs dnsmasq: within TTL +
        1 s (+ margin) /status lists the new set, the new backends take
        traffic once up, no request fails, a removed address gets no request
        that started after /status stopped listing it, and its pooled
        connections are closed."""
        d = self.dnsmasq("127.0.0.2 a.test\n127.0.0.3 a.test\n")
        b = {n: self.backend(n, h) for n, h in
             (("b2", "127.0.0.2"), ("b3", "127.0.0.3"), ("b4", "127.0.0.4"), ("b6", "::1"))}
        host = {"b2": "127.0.0.2", "b3": "127.0.0.3", "b4": "127.0.0.4", "b6": "::1"}
        self.start({"four": ["a.test:%d" % self.bport]}, d.port)
        self.assert_set("four", {self.a("127.0.0.2"), self.a("127.0.0.3")})
        self.spread({"b2", "b3"})

        load = Load(self.port, "/slow/5", threads=2).start()
        self.addCleanup(load.stop)
        self.assertTrue(wait_until(lambda: len(load.snapshot()) > 10, 10))
        steps = [
            # (hosts file, backends after, backends removed)
            ("127.0.0.3 a.test\n127.0.0.4 a.test\n", ["b3", "b4"], ["b2"]),
            ("127.0.0.4 a.test\n::1 a.test\n", ["b4", "b6"], ["b3"]),
        ]
        timings = []
        for hosts, after, removed in steps:
            want = {self.a(host[n]) for n in after}
            gone = {self.a(host[n]) for n in removed}
            d.write_hosts(hosts)
            t0 = time.monotonic()
            d.reload()
            # 1. /status follows: the first poll where a removed address is
            #    no longer listed; the set is then exactly the new one.
            seen = {}

            def moved():
                seen["s"] = s = self.status()
                seen["t"] = time.monotonic()
                return not (self.addrs(s, "four") & gone)

            ok = wait_until(moved, FOLLOW + MARGIN + 4, 0.05)
            t_gone = seen["t"]
            took = t_gone - t0
            timings.append(took)
            self.assertTrue(ok, "%s still listed %.1fs after the change: %s\n%s"
                            % (sorted(gone), took, json.dumps(seen["s"].get("regions")),
                               self.p.stderr()[-3000:]))
            self.assertLessEqual(took, FOLLOW + MARGIN,
                                 "the set followed in %.2fs (TTL %.0fs + 1 s + %.0fs margin)"
                                 % (took, TTL, MARGIN))
            s = seen["s"]
            self.assertEqual(self.addrs(s, "four"), want, "took %.2fs" % took)
            e = self.dns(s, "a.test")
            self.assertEqual(set(e["addresses"]), want, e)
            self.assertIsNone(e["last_error"], e)
            self.assertTrue(e["resolved"], e)
            for be in self.region(s, "four")["backends"]:
                self.assertEqual(be["source"], "a.test:%d" % self.bport, be)

            # 2. The new backends come up and take traffic.
            ok, t_up, s = self.wait_set("four", want, timeout=FOLLOW + MARGIN + PROBE_MARGIN)
            self.assertTrue(ok, "%s not all usable %.1fs after the change: %s"
                            % (sorted(want), time.monotonic() - t0,
                               json.dumps(s and self.region(s, "four"))))
            for n in after:
                ok = wait_until(lambda n=n: load.seen_after(t0, n), PROBE_MARGIN + 3)
                self.assertTrue(ok, "no request reached %s (%s) %.1fs after the change"
                                % (n, host[n], time.monotonic() - t0))

            # 3. The removed backend: its idle pooled connections are closed
            #    at once, and no request that started after t_gone reached it.
            for n in removed:
                ok = wait_until(lambda n=n: b[n].open_connections == 0, 3)
                self.assertTrue(ok, "%s still has %d open connections from the proxy"
                                % (n, b[n].open_connections))
            t_more = time.monotonic()
            self.assertTrue(wait_until(lambda: sum(r[0] > t_more for r in load.snapshot()) >= 20,
                                       10))
            res = load.snapshot()
            late = [(round(r[0] - t_gone, 3), r[3]) for r in res
                    if r[0] > t_gone and r[3] in removed]
            self.assertEqual(late, [], "requests started after /status dropped %s (s after, backend)"
                             % removed)
            self.assertLessEqual({r[3] for r in res if r[0] > t_more}, set(after))
        load.stop()
        res = load.snapshot()
        bad = [(round(r[0] - res[0][0], 3), r[2]) for r in res if r[2] != 200]
        self.assertEqual(bad, [], "requests failed across the changes (of %d)\n%s"
                         % (len(res), self.p.stderr()[-3000:]))
        self.assertGreater(len(res), 50)
        self.assertTrue(all(t <= FOLLOW + MARGIN for t in timings), timings)
        if os.environ.get("IT_VERBOSE"):
            print("\n  dns: /status followed the record changes in %s s"
                  % ", ".join("%.2f" % t for t in timings), flush=True)
        m = self.metrics()
        self.assertEqual(metric(m, "georoute_dns_addresses", name="a.test"), 2)
        self.assertIn(metric(m, "georoute_dns_failures_total", name="a.test"), (0, None))
        self.assertIsNone(metric(m, "georoute_backend_up", region="four",
                                 backend=self.a("127.0.0.2")), "a removed backend is still exported")

    def test_dnsmasq_stopped_last_good_keeps_serving(self):
        """dnsmasq stopped: every request still answered 200 by the last good
        backends, georoute_dns_failures_total{name="a.test"} grows, /status
        shows last_error with the last good addresses. dnsmasq back with a
        changed record: the set follows again."""
        d = self.dnsmasq("127.0.0.2 a.test\n127.0.0.3 a.test\n")
        self.backend("b2", "127.0.0.2")
        self.backend("b3", "127.0.0.3")
        b4 = self.backend("b4", "127.0.0.4")
        good = {self.a("127.0.0.2"), self.a("127.0.0.3")}
        self.start({"four": ["a.test:%d" % self.bport]}, d.port)
        self.assert_set("four", good)
        self.spread({"b2", "b3"})
        m0 = metric(self.metrics(), "georoute_dns_failures_total", name="a.test")
        self.assertIn(m0, (0, None), "failures before dnsmasq stopped")

        port = d.port
        d.stop()
        t0 = time.monotonic()
        results = []
        health = []
        while time.monotonic() - t0 < 4.0:  # well past a few TTLs and retries
            results.append(get(self.port, "/hello", timeout=5))
            h0 = time.monotonic()
            health.append((http(self.admin, "/healthz", timeout=5)[0], time.monotonic() - h0))
            time.sleep(0.02)
        self.assertGreater(len(results), 20)
        bad = [r for r in results if r[0] != 200 or r[1] not in ("b2", "b3")]
        self.assertEqual(bad, [], "requests while dnsmasq is down (of %d)\n%s"
                         % (len(results), self.p.stderr()[-3000:]))
        self.assertEqual({r[1] for r in results} - {"b2", "b3"}, set())
        self.assertEqual([h for h in health if h[0] != 200], [])
        # Generous: a machine under load is slow, a blocked loop is blocked.
        self.assertLess(max(t for _, t in health), 2.0, "slowest /healthz while DNS fails")

        box = {}

        def failing():
            box["m"] = metric(self.metrics(), "georoute_dns_failures_total", name="a.test")
            return (box["m"] or 0) > 0

        self.assertTrue(wait_until(failing, 5, 0.1),
                        "failures metric %r after %.1fs" % (box.get("m"), time.monotonic() - t0))
        first = box["m"]
        s = self.status()
        e = self.dns(s, "a.test")
        self.assertIsNotNone(e["last_error"], e)
        self.assertEqual(set(e["addresses"]), good, e)
        self.assertTrue(e["resolved"], e)
        self.assertGreater(e["failures"], 0, e)
        self.assertEqual(self.addrs(s, "four"), good)
        self.assertTrue(all(b["up"] for b in self.region(s, "four")["backends"]))
        self.assertTrue(self.region(s, "four")["healthy"])
        self.assertEqual(metric(self.metrics(), "georoute_dns_addresses", name="a.test"), 2)
        # Retries go on (backoff capped at retry_max 1 s): the counter keeps growing.
        self.assertTrue(wait_until(lambda: failing() and box["m"] > first, 5, 0.1),
                        "failures stuck at %r" % first)
        self.assertEqual(http(self.admin, "/readyz")[0], 200)

        # dnsmasq is back on the same port with a.test moved to 127.0.0.4.
        d.write_hosts("127.0.0.4 a.test\n")
        d.start(port=port)
        t1 = time.monotonic()
        ok, took, s = self.wait_set("four", {self.a("127.0.0.4")},
                                    timeout=FOLLOW + MARGIN + PROBE_MARGIN + 1)
        self.assertTrue(ok, "after dnsmasq came back (%.1fs): %s"
                        % (time.monotonic() - t1, json.dumps(s and s.get("dns"))))
        e = self.dns(s, "a.test")
        self.assertEqual(e["addresses"], [self.a("127.0.0.4")], e)
        self.assertTrue(e["resolved"])
        ok = wait_until(lambda: get(self.port) == (200, "b4"), 5)
        self.assertTrue(ok, "b4 never answered")
        for _ in range(10):
            self.assertEqual(get(self.port), (200, "b4"))
        self.assertGreater(b4.requests, 0)

    def test_srv_two_priorities_uses_only_the_lower(self):
        """_http._tcp.s.test has priority 10 targets on 127.0.0.4 (weight 30)
        and .6 (weight 10) and a priority 20 target on .5: only the two
        priority-10 backends exist, with the records' weights, take traffic
        and are probed; .5 never appears, across re-resolutions."""
        srv = [(SRV_NAME, "p10a.test", self.bport, 10, 30),
               (SRV_NAME, "p10b.test", self.bport, 10, 10),
               (SRV_NAME, "p20.test", self.bport, 20, 10)]
        d = self.dnsmasq("127.0.0.2 a.test\n127.0.0.4 p10a.test\n127.0.0.6 p10b.test\n"
                         "127.0.0.5 p20.test\n", srv=srv)
        self.backend("b4", "127.0.0.4")
        self.backend("b6", "127.0.0.6")
        b5 = self.backend("b5", "127.0.0.5")
        want = {self.a("127.0.0.4"), self.a("127.0.0.6")}
        self.start({"svc": [{"srv": SRV_NAME}]}, d.port)
        s = self.assert_set("svc", want)
        for b in self.region(s, "svc")["backends"]:
            self.assertEqual(b["source"], "srv:" + SRV_NAME, b)
        # The records' weights are the backends' weights.
        self.assertEqual({b["address"]: b.get("weight") for b in self.region(s, "svc")["backends"]},
                         {self.a("127.0.0.4"): 30, self.a("127.0.0.6"): 10})
        e = self.dns(s, SRV_NAME)
        self.assertEqual((e["srv"], e["region"], e["resolved"], e["last_error"]),
                         (True, "svc", True, None), e)
        self.assertEqual(set(e["addresses"]), want, e)

        # Several TTLs: the set stays the priority-10 one at every look.
        t0 = time.monotonic()
        looks = []
        while time.monotonic() - t0 < 3 * TTL + 0.5:
            s = self.status()
            looks.append((self.addrs(s, "svc"), tuple(sorted(self.dns(s, SRV_NAME)["addresses"]))))
            time.sleep(0.1)
        self.assertEqual([sorted(l[0]) for l in looks if l[0] != want], [],
                         "region set not the priority-10 one at %d looks" % len(looks))
        self.assertEqual({l[1] for l in looks}, {tuple(sorted(want))})

        self.spread({"b4", "b6"})
        self.assertEqual((b5.requests, b5.probes, b5.connections), (0, 0, 0),
                         "the priority-20 target was used")
        m = self.metrics()
        self.assertEqual(metric(m, "georoute_dns_addresses", name=SRV_NAME), 2)
        self.assertIsNone(metric(m, "georoute_backend_up", backend=self.a("127.0.0.5")))

    def test_never_resolving_name_is_reported_and_blocks_nothing(self):
        """nx.test and nx2.test (NXDOMAIN) and an SRV name with no records:
        /status lists them with resolved false, no addresses and last_error
        set; their region has no backends and is unhealthy; the proxy serves
        a.test's region, /healthz answers at once, failures keep counting,
        and SIGTERM still stops it cleanly."""
        d = self.dnsmasq("127.0.0.2 a.test\n127.0.0.3 a.test\n")
        self.backend("b2", "127.0.0.2")
        self.backend("b3", "127.0.0.3")
        P = self.bport
        never = [("nx.test", "ghost", False), ("_http._tcp.nx.test", "ghost", True),
                 ("nx2.test", "four", False)]
        # No zones: the default zone routes to both regions, ghost first.
        self.start({"ghost": ["nx.test:%d" % P, {"srv": "_http._tcp.nx.test"}],
                    "four": ["a.test:%d" % P, "nx2.test:%d" % P]}, d.port)
        self.assert_set("four", {self.a("127.0.0.2"), self.a("127.0.0.3")})

        box = {}

        def reported():
            box["s"] = s = self.status()
            try:
                return all(self.dns(s, n, r)["last_error"] for n, r, _ in never)
            except AssertionError:  # not listed (yet): fails below
                return False

        self.assertTrue(wait_until(reported, 5, 0.1), json.dumps(box["s"].get("dns")))
        s = box["s"]
        for name, region, is_srv in never:
            e = self.dns(s, name, region)
            self.assertFalse(e["resolved"], e)
            self.assertEqual(e["addresses"], [], e)
            self.assertIsInstance(e["last_error"], str)
            self.assertGreater(e["failures"], 0, e)
            self.assertEqual(e["srv"], is_srv, e)
        self.assertEqual(self.region(s, "ghost")["backends"], [])
        self.assertFalse(self.region(s, "ghost")["healthy"])
        self.assertTrue(self.region(s, "four")["healthy"])
        self.assertEqual(self.dns(s, "a.test")["last_error"], None)
        self.assertEqual(http(self.admin, "/readyz")[0], 200)
        f0 = metric(self.metrics(), "georoute_dns_failures_total", name="nx.test")
        self.assertGreater(f0 or 0, 0)

        # For 3 s: requests served by a.test's backends, /healthz at once.
        t0 = time.monotonic()
        results, slow = [], []
        while time.monotonic() - t0 < 3.0:
            results.append(get(self.port, timeout=5))
            h0 = time.monotonic()
            st = http(self.admin, "/healthz", timeout=5)[0]
            took = time.monotonic() - h0
            if st != 200 or took > 2.0:
                slow.append((st, round(took, 3)))
        self.assertEqual(slow, [], "/healthz not at once while names keep failing")
        self.assertEqual([r for r in results if r[0] != 200 or r[1] not in ("b2", "b3")], [])
        self.assertGreater(len(results), 20)
        f1 = metric(self.metrics(), "georoute_dns_failures_total", name="nx.test")
        self.assertGreater(f1, f0, "retries stopped")
        s = self.status()
        self.assertEqual(self.region(s, "ghost")["backends"], [])
        self.assertEqual(self.addrs(s, "four"), {self.a("127.0.0.2"), self.a("127.0.0.3")})
        self.assertTrue(self.p.running(), self.p.stderr()[-3000:])
        self.assertEqual(self.p.stop(timeout=5), 0, self.p.stderr()[-3000:])

    def test_unanswering_dns_server_blocks_nothing(self):
        """dns.servers is a UDP socket that reads nothing and answers nothing:
        each query runs into a 3 s timeout. The proxy starts, /healthz and
        requests never wait anywhere near that (bound: 2 s, generous for a
        loaded machine, short of what a blocked loop would take), a static
        region serves every request, the name is reported unresolved with an
        error, and SIGTERM stops it cleanly."""
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(hole.close)
        hole.bind(("127.0.0.1", 0))
        b1 = self.backend("b1", "127.0.0.1", port=0)
        b2 = self.backend("b2", "127.0.0.2")
        t0 = time.monotonic()
        self.start({"dyn": ["a.test:%d" % self.bport], "static": [b1.addr]},
                   hole.getsockname()[1], dns={"timeout": "3s"})
        started = time.monotonic() - t0
        self.assertLess(started, 10.0, "start (listening, /healthz) took %.1fs" % started)
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz", timeout=2)[0] == 200, 10))

        results, slow = [], []
        t1 = time.monotonic()
        while time.monotonic() - t1 < 3.0:
            r0 = time.monotonic()
            results.append(get(self.port, timeout=5))
            rt = time.monotonic() - r0
            h0 = time.monotonic()
            st = http(self.admin, "/healthz", timeout=5)[0]
            ht = time.monotonic() - h0
            if st != 200 or ht > 2.0 or rt > 2.0:
                slow.append((st, round(ht, 3), round(rt, 3)))
        self.assertEqual(slow, [], "(healthz status, healthz s, request s) over 2 s")
        self.assertEqual([r for r in results if r != (200, "b1")], [])

        box = {}

        def reported():
            box["s"] = s = self.status()
            try:
                box["e"] = e = self.dns(s, "a.test")
            except AssertionError:  # not listed (yet): fails below
                return False
            return e["last_error"] is not None

        self.assertTrue(wait_until(reported, 5, 0.1), json.dumps(box["s"].get("dns")))
        e = box["e"]
        self.assertFalse(e["resolved"], e)
        self.assertEqual(e["addresses"], [], e)
        self.assertGreater(e["failures"], 0, e)
        s = self.status()
        self.assertEqual(self.region(s, "dyn")["backends"], [])
        self.assertFalse(self.region(s, "dyn")["healthy"])
        hole.setblocking(False)
        queries = 0
        while True:
            try:
                hole.recv(4096)
                queries += 1
            except BlockingIOError:
                break
        self.assertGreater(queries, 0, "the proxy never asked the configured server")
        self.assertGreater(metric(self.metrics(), "georoute_dns_failures_total", name="a.test") or 0,
                           0)
        self.assertEqual((b2.requests, b2.probes), (0, 0))
        self.assertEqual(self.p.stop(timeout=5), 0, self.p.stderr()[-3000:])


if __name__ == "__main__":
    unittest.main()


@georoute_only("DNS backends are georoute's")
@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq not installed (.ci/deps test)")
class DnsUntrusted(DnsFixture):
    """Answers are hostile until checked (issue 16 point 4): special-purpose
    addresses need discovery.allow, georoute's own listeners and admin
    address never become backends, ports and the number of addresses are
    bounded, and a refused answer keeps the last good set, logged and
    counted."""

    # dnsmasq's readiness check asks for a.test: every hosts file has it.

    def refused(self, name):
        return metric(self.metrics(), "georoute_dns_refused_total", name=name) or 0

    def test_special_addresses_refused_by_default(self):
        hosts = ("169.254.169.254 meta.test\n127.0.0.2 lo.test\n224.0.0.1 mc.test\n"
                 "0.0.0.0 zero.test\n::1 lo6.test\nfe80::1 ll6.test\n127.0.0.2 a.test\n")
        d = self.dnsmasq(hosts)
        names = ["meta.test", "lo.test", "mc.test", "zero.test", "lo6.test", "ll6.test"]
        self.start({"r": ["%s:%d" % (n, self.bport) for n in names]}, d.port, discovery={})
        why = {"meta.test": "link-local", "lo.test": "loopback", "mc.test": "multicast",
               "zero.test": "unspecified", "lo6.test": "loopback", "ll6.test": "link-local"}
        self.assertTrue(wait_until(lambda: all(self.refused(n) >= 1 for n in names), 10),
                        self.metrics())
        s = self.status()
        self.assertEqual(self.addrs(s, "r"), set())
        for n in names:
            e = self.dns(s, n)
            self.assertEqual((e["last_refusal"], e["addresses"]), (why[n], []), e)
        self.assertIn('event=dns_answer_refused name=meta.test region=r address=169.254.169.254',
                      self.p.stderr())

    def test_srv_at_own_admin_port_is_refused_even_when_allowed(self):
        srv = [(SRV_NAME, "adm.test", self.admin, 10, 10)]
        d = self.dnsmasq("127.0.0.1 adm.test\n127.0.0.2 a.test\n", srv=srv)
        self.start({"svc": [{"srv": SRV_NAME}]}, d.port)
        self.assertTrue(wait_until(lambda: self.refused(SRV_NAME) >= 1, 10), self.metrics())
        e = self.dns(self.status(), SRV_NAME)
        self.assertEqual(e["last_refusal"], "own admin address", e)
        self.assertEqual(self.addrs(self.status(), "svc"), set())
        # The data plane cannot reach the admin endpoints: no backend to send to.
        self.assertIn(get(self.port, "/regions/svc/drain")[0], (502, 503))

    def test_own_listener_is_refused(self):
        srv = [(SRV_NAME, "me.test", self.port, 10, 10)]
        d = self.dnsmasq("127.0.0.1 me.test\n127.0.0.2 a.test\n", srv=srv)
        self.start({"svc": [{"srv": SRV_NAME}]}, d.port)
        self.assertTrue(wait_until(lambda: self.refused(SRV_NAME) >= 1, 10), self.metrics())
        self.assertEqual(self.dns(self.status(), SRV_NAME)["last_refusal"], "own listener")

    def test_refused_change_keeps_the_last_good_set(self):
        d = self.dnsmasq("127.0.0.2 a.test\n")
        self.backend("b2", "127.0.0.2")
        self.start({"four": ["a.test:%d" % self.bport]}, d.port,
                   discovery={"allow": ["127.0.0.2/32"]})
        self.assert_set("four", {self.a("127.0.0.2")})
        d.write_hosts("127.0.0.2 a.test\n127.0.0.3 a.test\n")  # .3 is outside the allow-list
        d.reload()
        self.assertTrue(wait_until(lambda: self.refused("a.test") >= 1, 10), self.metrics())
        s = self.status()
        self.assertEqual(self.addrs(s, "four"), {self.a("127.0.0.2")})
        self.assertEqual(self.dns(s, "a.test")["last_refusal"], "not in discovery.allow")
        self.assertEqual(get(self.port)[0], 200)

    def test_ports_and_address_cap(self):
        hosts = "".join("127.0.1.%d many.test\n" % i for i in range(1, 41))
        srv = [(SRV_NAME, "a.test", 9, 10, 10)]
        d = self.dnsmasq(hosts + "127.0.0.2 a.test\n", srv=srv)
        self.start({"many": ["many.test:%d" % self.bport], "svc": [{"srv": SRV_NAME}]}, d.port,
                   discovery={"allow": ["127.0.0.0/8"], "ports": [self.bport],
                              "max_addresses": 8})
        self.assertTrue(wait_until(lambda: len(self.dns(self.status(), "many.test")["addresses"])
                                   == 8, 10), self.status())
        self.assertTrue(wait_until(lambda: self.refused(SRV_NAME) >= 1, 10), self.metrics())
        self.assertEqual(self.dns(self.status(), SRV_NAME)["last_refusal"],
                         "port not in discovery.ports")
        self.assertIn("event=dns_answer_capped name=many.test region=many addresses=40 kept=8",
                      self.p.stderr())


@georoute_only("DNS backends and upstream TLS are georoute's")
@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq not installed (.ci/deps test)")
class DnsTlsBackends(DnsFixture):
    """TLS backends found by DNS are verified against a host name, never the
    address DNS gave: the entry's tls sni when set, else an SRV record's
    target name, else the name resolved. The backend's certificate names
    only a DNS name (no IP), so verification by address would fail."""

    TLS_PROBE = {"interval": "300ms", "timeout": "2s"}
    HOSTS = "127.0.0.1 tgt.test\n127.0.0.2 a.test\n"  # a.test: dnsmasq's readiness check

    def setUp(self):
        super().setUp()
        self.pki = Pki()
        self.addCleanup(self.pki.cleanup)

    def tls_backend(self, *names):
        be = TlsBackend(*self.pki.leaf(names[0], dns=list(names)))
        self.addCleanup(be.stop)
        return be

    def start_tls(self, entry, d, **tls):
        tls["ca"] = self.pki.path("ca.pem")
        self.start({"svc": [entry]}, d.port,
                   region_extra={"tls": tls, "probe": self.TLS_PROBE})

    def backend_of(self, region="svc"):
        bs = self.region(self.status(), region)["backends"]
        return bs[0] if bs else {}

    def assert_serves(self, be, sni):
        """The backend comes up (its probes verified it), serves requests over
        TLS, and every connection georoute made sent SNI."""
        self.assertTrue(wait_until(lambda: self.backend_of().get("up") is True, 15),
                        "%s\n%s" % (self.status(), self.p.stderr()[-3000:]))
        for _ in range(3):
            self.assertEqual(get(self.port, "/x")[0], 200, self.p.stderr()[-3000:])
        self.assertEqual(be.failures, [])
        self.assertEqual({n for _, n, _ in be.log}, {sni}, be.log)
        self.assertEqual(len([t for _, _, t in be.log if t == "/x"]), 3, be.log)

    def test_srv_backend_is_verified_by_its_target_name(self):
        be = self.tls_backend("tgt.test")
        d = self.dnsmasq(self.HOSTS, srv=[(SRV_NAME, "tgt.test", be.port, 10, 10)])
        self.start_tls({"srv": SRV_NAME}, d)
        self.assert_serves(be, "tgt.test")
        self.assertGreater(be.resumed, 0, "sessions of the same target resume")

    def test_srv_backend_with_sni_is_verified_by_the_sni(self):
        be = self.tls_backend("svc.example")
        d = self.dnsmasq(self.HOSTS, srv=[(SRV_NAME, "tgt.test", be.port, 10, 10)])
        self.start_tls({"srv": SRV_NAME}, d, sni="svc.example")
        self.assert_serves(be, "svc.example")

    def test_name_backend_is_verified_by_the_name(self):
        be = self.tls_backend("tgt.test")
        d = self.dnsmasq(self.HOSTS)
        self.start_tls("tgt.test:%d" % be.port, d)
        self.assert_serves(be, "tgt.test")

    def test_srv_target_the_certificate_does_not_name_fails_verification(self):
        be = self.tls_backend("other.test")
        d = self.dnsmasq(self.HOSTS, srv=[(SRV_NAME, "tgt.test", be.port, 10, 10)])
        self.start_tls({"srv": SRV_NAME}, d)

        def failed():
            return (self.backend_of().get("last_probe") or {}).get("error") == \
                "TLS certificate verification failed"
        self.assertTrue(wait_until(failed, 15), self.status())
        self.assertFalse(self.backend_of()["up"])
        self.assertEqual([t for _, _, t in be.log], [])
        self.assertEqual(get(self.port, "/x")[0] // 100, 5)
        self.assertIn('reason="hostname mismatch"', self.p.stderr())
