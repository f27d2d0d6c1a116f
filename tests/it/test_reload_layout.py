"""Config reloads that change the layout: regions, backends and zones are
added and removed by SIGHUP or POST /reload (docs: reload keeps the state of
what survives). A removed backend's idle pooled connections close at once
and its busy ones finish their request, then close; new requests follow the
new config; a zone moves to a new region and the old region goes without a
failed request under load; surviving backends keep their RTT, last probe
and health, and the zone keeps its route and switch count; zones come and
go with their cidr match, and /metrics stays valid; listen addresses and
workers still need a restart. Every wait is bounded; only loopback is used."""

import http.client as httpc
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from backend import Backend
from harness import Conn, Proxy, free_port, georoute_only, request, to_yaml, wait_until
from test_admin import PROBE, get_json, http

# A second loopback source address: a cidr zone matches only it.
SRC2 = "127.0.0.2"


def hget(port, target="/hello", source=None, timeout=10):
    """(status, X-Backend, body) of one request on a fresh connection."""
    c = httpc.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        c.request("GET", target)
        r = c.getresponse()
        return r.status, r.getheader("X-Backend"), r.read()
    finally:
        c.close()


class KeepAlive:
    """One client keep-alive connection to the proxy. A request that meets a
    connection the proxy closed while it was idle (which HTTP allows) is
    sent once more on a new connection; `reconnects` counts those."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout
        self.c = httpc.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.reconnects = 0

    def get(self, target="/hello"):
        for attempt in (0, 1):
            try:
                self.c.request("GET", target)
                r = self.c.getresponse()
                body = r.read()
                if r.will_close:
                    self.c.close()
                return r.status, r.getheader("X-Backend"), body
            except (httpc.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c.close()
                if attempt:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def close(self):
        self.c.close()


class Load:
    """A constant light load in a background thread: one GET every ~10 ms,
    each on a new connection. results: (monotonic time, status or error
    text, X-Backend)."""

    def __init__(self, port, target="/hello", source=None, pause=0.01):
        self.port, self.target, self.source, self.pause = port, target, source, pause
        self.results = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                st, be, _ = hget(self.port, self.target, self.source)
                self.results.append((time.monotonic(), st, be))
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.results.append((time.monotonic(), repr(e), None))
            self.stop_ev.wait(self.pause)

    def start(self):
        self.t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.t.join(15)

    def since(self, t0):
        return [r for r in list(self.results) if r[0] > t0]


def regions_of(status):
    return [r["name"] for r in status["regions"]]


def backends_of(status, region):
    for r in status["regions"]:
        if r["name"] == region:
            return r["backends"]
    raise AssertionError("no region %s in /status: %s" % (region, regions_of(status)))


def zone_of(status, name):
    for z in status["zones"]:
        if z["name"] == name:
            return z
    raise AssertionError("no zone %s in /status: %s" % (name, [z["name"] for z in status["zones"]]))


_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*"'
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:%s(?:,%s)*,?)?\})? '
                     r'(NaN|[+-]?Inf|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?: -?\d+)?$'
                     % (_LABEL, _LABEL))
_COMMENT = re.compile(r'^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|HELP [a-zA-Z_:][a-zA-Z0-9_:]*|'
                      r'TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$')


def series(text, name):
    """The sample lines of metric NAME."""
    return [ln for ln in text.splitlines() if ln.startswith(name + "{") or ln.startswith(name + " ")]


def check_metrics(tc, admin):
    """GET /metrics: every line parses as the text format, no series twice,
    and promtool (when installed) agrees. Returns the text."""
    st, hdrs, body = http(admin, "/metrics")
    tc.assertEqual(st, 200, body[:500])
    text = body.decode()
    tc.assertTrue(text.endswith("\n"), text[-200:])
    seen = set()
    for i, ln in enumerate(text.splitlines(), 1):
        if ln.startswith("#"):
            tc.assertRegex(ln, _COMMENT, "line %d" % i)
            continue
        m = _SAMPLE.match(ln)
        tc.assertTrue(m, "line %d does not parse: %r" % (i, ln))
        key = (m.group(1), m.group(2) or "")
        tc.assertNotIn(key, seen, "line %d: series twice: %r" % (i, ln))
        seen.add(key)
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=60)
        tc.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
    return text


@georoute_only("reload is georoute's")
class ReloadLayout(unittest.TestCase):
    def setUp(self):
        self.admin = free_port()
        self.port = free_port()
        self.b = {}
        self.p = None

    def backend(self, name):
        b = Backend(name).start()
        self.addCleanup(b.stop)
        self.b[name] = b
        return b

    def config(self, regions, zones, probe=PROBE, region_extra=None, **extra):
        """regions: {name: [backend names]}; zones: list of zone mappings."""
        cfg = {
            "listen": ["127.0.0.1:%d" % self.port],
            "workers": 2,
            "access_log": "off",
            "admin": "127.0.0.1:%d" % self.admin,
            "regions": {n: dict({"backends": [self.b[x].addr for x in bs], "probe": probe},
                                **(region_extra or {}))
                        for n, bs in regions.items()},
            "zones": zones,
            "routing": {"slow_start": "off"},
        }
        cfg.update(extra)
        return cfg

    def start(self, cfg):
        self.p = Proxy(cfg, port=self.port).start()
        self.addCleanup(self.p.__exit__, None, None, None)
        ok = wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10)
        self.assertTrue(ok, self.p.stderr()[-3000:])
        return self.p

    def write(self, cfg):
        with open(self.p.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n" if isinstance(cfg, dict) else cfg)

    def reload(self, cfg):
        """Write cfg and POST /reload; asserts 200 and a higher generation.
        Returns the new generation."""
        gen = get_json(self.admin, "/status")["config"]["generation"]
        self.write(cfg)
        st, _, body = http(self.admin, "/reload", method="POST")
        self.assertEqual(st, 200, "%s\n%s" % (body.decode("utf-8", "replace"),
                                              self.p.stderr()[-2000:]))
        new = json.loads(body)["generation"]
        self.assertGreater(new, gen)
        self.assertEqual(get_json(self.admin, "/status")["config"]["generation"], new)
        return new

    def reload_sighup(self, cfg):
        """Write cfg and send SIGHUP; waits (bounded) until it is applied."""
        s = get_json(self.admin, "/status")["config"]
        ok0, gen = s["reloads_ok"], s["generation"]
        self.write(cfg)
        self.p.send_signal(signal.SIGHUP)
        ok = wait_until(lambda: get_json(self.admin, "/status")["config"]["reloads_ok"] == ok0 + 1,
                        5)
        self.assertTrue(ok, self.p.stderr()[-2000:])
        self.assertGreater(get_json(self.admin, "/status")["config"]["generation"], gen)

    def wait_served_by(self, name, source=None, timeout=5):
        seen = []

        def check():
            try:
                seen.append(hget(self.port, source=source)[:2])
            except OSError as e:
                seen.append(repr(e))
            return seen[-1] == (200, name)

        self.assertTrue(wait_until(check, timeout, 0.05),
                        "never served by %s: %s" % (name, seen[-5:]))

    # ------------------------------------------------------------ 1
    def test_removed_backend_pool_drains_and_closes(self):
        b1, b2 = self.backend("b1"), self.backend("b2")
        zones = [{"name": "default", "route": {"regions": ["r1"]}}]
        self.start(self.config({"r1": ["b1", "b2"]}, zones))
        # Concurrent keep-alive clients, so both backends get requests and
        # keep idle pooled connections (power of two choices alone would
        # send a sequential client to the faster one only).
        clients = [KeepAlive(self.port) for _ in range(8)]
        self.addCleanup(lambda: [c.close() for c in clients])
        errors = []

        def drive(c, n):
            try:
                for _ in range(n):
                    st, be, _ = c.get("/slow/20")
                    if st != 200:
                        errors.append((st, be))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        end = time.monotonic() + 15
        while time.monotonic() < end:
            ts = [threading.Thread(target=drive, args=(c, 5), daemon=True) for c in clients]
            for t in ts:
                t.start()
            for t in ts:
                t.join(20)
            if b1.connections and b2.connections and b2.requests >= 3:
                break
        self.assertEqual(errors, [])
        self.assertGreater(b2.requests, 0, "b2 got no traffic before the reload")
        self.assertGreater(b1.requests, 0, "b1 got no traffic before the reload")
        # The upstream connections to b2 are pooled and stay open while idle.
        time.sleep(0.5)
        pooled = b2.open_connections
        self.assertGreater(pooled, 0, "no idle pooled connection to b2 before the reload")

        b2_requests = b2.requests
        self.reload(self.config({"r1": ["b1"]}, zones))
        ok = wait_until(lambda: b2.open_connections == 0, 3)
        self.assertTrue(ok, "b2 still has %d of %d connections open 3 s after the reload"
                        % (b2.open_connections, pooled))

        # Later requests, on the client connections from before the reload
        # and on new ones, all go to b1.
        got = []
        for c in clients:
            for _ in range(3):
                got.append(c.get("/hello")[:2])
        for _ in range(20):
            got.append(hget(self.port)[:2])
        self.assertEqual(set(got), {(200, "b1")}, got)
        self.assertEqual(b2.requests, b2_requests, "b2 got requests after it was removed")
        self.assertEqual(b2.open_connections, 0, "a connection to b2 opened after the reload")

        s = get_json(self.admin, "/status")
        self.assertEqual(regions_of(s), ["r1"])
        bs = backends_of(s, "r1")
        self.assertEqual([b["address"] for b in bs], [b1.addr])
        self.assertEqual(bs[0]["source"], b1.addr)
        self.assertTrue(bs[0]["up"])
        text = check_metrics(self, self.admin)
        self.assertEqual([ln for ln in series(text, "georoute_backend_up") if b2.addr in ln], [])
        self.assertIn('georoute_backend_up{region="r1",backend="%s"} 1' % b1.addr, text)

    # ------------------------------------------------------------ 2
    def test_inflight_request_on_removed_backend_finishes(self):
        b1, b2 = self.backend("b1"), self.backend("b2")
        zones = [{"name": "default", "route": {"regions": ["r"]}}]
        self.start(self.config({"r": ["b2"]}, zones))
        self.wait_served_by("b2")
        before = b2.requests
        c = Conn(self.port, timeout=10)
        self.addCleanup(c.close)
        c.send(request("GET", "/slow/3000"))
        self.assertTrue(wait_until(lambda: b2.requests > before, 3),
                        "the slow request never reached b2")
        t_sent = time.monotonic()
        self.reload(self.config({"r": ["b1"]}, zones))
        self.assertLess(time.monotonic() - t_sent, 2.5, "the reload took too long to test this")
        at_reload = b2.requests

        # While the slow request runs: no new request reaches b2; once b1 is
        # up (probed at once) every request goes to b1.
        got = []
        end = time.monotonic() + 5
        while time.monotonic() < end:
            got.append(hget(self.port)[:2])
            if got[-1] == (200, "b1"):
                break
            time.sleep(0.05)
        self.assertEqual(got[-1], (200, "b1"), "b1 never served after the reload: %s" % got[-5:])
        self.assertNotIn("b2", [be for _, be in got], got)

        r = c.read_response(timeout=10)
        self.assertEqual((r.status, r.get("X-Backend"), r.body), (200, "b2", b"slow"),
                         self.p.stderr()[-2000:])
        self.assertEqual(b2.requests, at_reload)
        # The client connection stays usable and now reaches b1.
        c.send(request("GET", "/hello"))
        r = c.read_response(timeout=10)
        self.assertEqual((r.status, r.get("X-Backend")), (200, "b1"))
        # b2's connection, busy until now, is closed instead of pooled.
        ok = wait_until(lambda: b2.open_connections == 0, 3)
        self.assertTrue(ok, "b2 keeps %d connection(s) open after its last request"
                        % b2.open_connections)
        for _ in range(10):
            self.assertEqual(hget(self.port)[:2], (200, "b1"))
        self.assertEqual(b2.requests, at_reload)
        s = get_json(self.admin, "/status")
        self.assertEqual([b["address"] for b in backends_of(s, "r")], [b1.addr])

    # ------------------------------------------------------------ 3
    def test_add_region_move_zone_then_remove_old_region(self):
        self.backend("east")
        self.backend("west")
        self.start(self.config({"east": ["east"]},
                               [{"name": "default", "route": {"regions": ["east"]}}]))
        self.wait_served_by("east")
        load = Load(self.port).start()
        self.addCleanup(load.stop)
        self.assertTrue(wait_until(lambda: len(load.results) > 20, 10))
        self.assertEqual(regions_of(get_json(self.admin, "/status")), ["east"])

        # Add west and move the zone there; east stays as the fallback until
        # west's first probes pass, so no request has to fail meanwhile.
        self.reload(self.config({"east": ["east"], "west": ["west"]},
                                [{"name": "default",
                                  "route": {"regions": ["west"], "fallback": ["east"]}}]))
        s = get_json(self.admin, "/status")
        self.assertEqual(regions_of(s), ["east", "west"])
        t0 = time.monotonic()
        ok = wait_until(lambda: any(be == "west" for _, _, be in load.since(t0)), 5)
        self.assertTrue(ok, "traffic never reached west: %s" % load.results[-5:])
        t1 = time.monotonic()
        self.assertTrue(wait_until(lambda: len(load.since(t1)) >= 20, 10))
        self.assertEqual({be for _, _, be in load.since(t1)}, {"west"})
        s = get_json(self.admin, "/status")
        self.assertEqual(zone_of(s, "default")["region"], "west")
        self.assertTrue(all(b["up"] for b in backends_of(s, "west")))

        # Remove east, by SIGHUP this time.
        east_requests = self.b["east"].requests
        self.reload_sighup(self.config({"west": ["west"]},
                                       [{"name": "default", "route": {"regions": ["west"]}}]))
        t2 = time.monotonic()
        self.assertTrue(wait_until(lambda: len(load.since(t2)) >= 20, 10))
        load.stop()
        self.assertEqual({be for _, _, be in load.since(t2)}, {"west"})
        self.assertEqual(self.b["east"].requests, east_requests)
        self.assertTrue(wait_until(lambda: self.b["east"].open_connections == 0, 3),
                        "east keeps connections open after its region was removed")

        bad = [r for r in load.results if not (isinstance(r[1], int) and 200 <= r[1] < 300)]
        self.assertEqual(bad, [], "requests failed across the reloads")
        self.assertGreater(len(load.results), 60)
        s = get_json(self.admin, "/status")
        self.assertEqual(regions_of(s), ["west"])
        self.assertEqual(zone_of(s, "default")["region"], "west")
        self.assertEqual((s["config"]["reloads_ok"], s["config"]["reloads_failed"]), (2, 0))
        text = check_metrics(self, self.admin)
        self.assertEqual([ln for ln in series(text, "georoute_backend_up") if 'region="east"' in ln],
                         [])
        self.assertEqual([ln for ln in series(text, "georoute_zone_route") if 'region="east"' in ln],
                         [])
        self.assertIn('georoute_zone_route{zone="default",region="west"} 1', text)

    # ------------------------------------------------------------ 4
    def test_survivors_keep_rtt_health_and_route(self):
        for n in ("b1", "b2", "b3"):
            self.backend(n)
        # fall 2: one unlucky probe does not flap a backend by itself.
        probe = dict(PROBE, interval="1s", fastinter="200ms", downinter="300ms",
                     rise=2, fall=2)
        zones = [{"name": "default",
                  "route": {"regions": ["main", "spare"], "bias": {"spare": "50ms"}}}]
        self.start(self.config({"main": ["b1"], "spare": ["b2"]}, zones, probe=probe))
        self.wait_served_by("b1")
        for _ in range(10):
            hget(self.port)

        def ready():
            s = get_json(self.admin, "/status")
            return all(b["rtt_ms"] is not None and b["last_probe"] and b["up"]
                       for r in s["regions"] for b in r["backends"])
        self.assertTrue(wait_until(ready, 10), get_json(self.admin, "/status"))

        survivors = {("main", self.b["b1"].addr), ("spare", self.b["b2"].addr)}
        polls = []  # (time, {(region, addr): backend}, {region: healthy}, zone)
        perr = []
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                try:
                    s = get_json(self.admin, "/status")
                    polls.append((time.monotonic(),
                                  {(r["name"], b["address"]): b
                                   for r in s["regions"] for b in r["backends"]},
                                  {r["name"]: r["healthy"] for r in s["regions"]},
                                  zone_of(s, "default")))
                except Exception as e:  # noqa: BLE001
                    perr.append(repr(e))
                stop.wait(0.02)

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        self.assertTrue(wait_until(lambda: len(polls) >= 10, 5))
        before = get_json(self.admin, "/status")
        z0 = zone_of(before, "default")
        self.assertEqual(z0["region"], "main")
        rtt0 = {(r["name"], b["address"]): b["rtt_ms"]
                for r in before["regions"] for b in r["backends"]}

        # Add b3 to main; nothing about routing changes.
        t_reload = time.monotonic()
        self.reload(self.config({"main": ["b1", "b3"], "spare": ["b2"]}, zones, probe=probe))
        right_after = get_json(self.admin, "/status")
        b3 = self.b["b3"].addr
        self.assertTrue(wait_until(
            lambda: any(b["up"] for b in backends_of(get_json(self.admin, "/status"), "main")
                        if b["address"] == b3), 5), "the added backend never came up")
        time.sleep(1.0)
        stop.set()
        t.join(5)
        self.assertEqual(perr, [])

        # Straight after the reload the survivors still know their RTT and
        # their last probe: nothing was reset to "never probed".
        now = {(r["name"], b["address"]): b
               for r in right_after["regions"] for b in r["backends"]}
        for key in survivors:
            b = now[key]
            self.assertIsNotNone(b["rtt_ms"], "%s lost its RTT: %s" % (key, b))
            self.assertGreater(b["rtt_ms"], 0)
            self.assertTrue(b["last_probe"], "%s: last probe reset: %s" % (key, b))
            self.assertTrue(b["last_probe"]["ok"], b)
            self.assertTrue(b["up"], b)
            # An EWMA with a 10 s half-life does not jump by 10x in a second.
            self.assertLess(abs(b["rtt_ms"] - rtt0[key]), max(10 * rtt0[key], 5.0),
                            "%s: %s -> %s" % (key, rtt0[key], b["rtt_ms"]))

        # In every poll, before, during and after: the survivors are up with
        # an RTT, their regions healthy, the zone on main with no new switch.
        after = [p for p in polls if p[0] > t_reload]
        self.assertGreater(len(after), 10)
        for ts, bs, healthy, z in polls:
            for key in survivors:
                self.assertIn(key, bs, "survivor %s missing from /status" % (key,))
                self.assertTrue(bs[key]["up"], "survivor %s down-flapped at +%.3fs: %s"
                                % (key, ts - t_reload, bs[key]))
                self.assertIsNotNone(bs[key]["rtt_ms"], "survivor %s lost its RTT at +%.3fs"
                                     % (key, ts - t_reload))
                self.assertTrue(bs[key]["last_probe"])
            self.assertTrue(healthy["main"] and healthy["spare"], (ts - t_reload, healthy))
            self.assertEqual(z["region"], "main", (ts - t_reload, z))
            self.assertEqual(z["switches"], z0["switches"], (ts - t_reload, z))
        end = get_json(self.admin, "/status")
        z1 = zone_of(end, "default")
        self.assertEqual((z1["region"], z1["switches"]), ("main", z0["switches"]))
        self.assertGreaterEqual(z1["since_switch_ms"], z0["since_switch_ms"],
                                "the time since the last switch was reset")
        self.assertEqual([b["address"] for b in backends_of(end, "main")],
                         [self.b["b1"].addr, b3])
        self.assertNotIn("event=backend_down", self.p.stderr())
        # The zone is still served by main (b1 or the new b3), never spare.
        got = {hget(self.port)[:2] for _ in range(20)}
        self.assertLessEqual(got, {(200, "b1"), (200, "b3")}, got)

    # ------------------------------------------------------------ 5
    def test_zones_added_and_removed(self):
        self.backend("a")
        self.backend("b")
        regions = {"a": ["a"], "b": ["b"]}
        default = {"name": "default", "route": {"regions": ["a"]}}
        self.start(self.config(regions, [default]))
        self.wait_served_by("a")
        self.wait_served_by("a", source=SRC2)
        check_metrics(self, self.admin)

        lab = {"name": "lab", "match": {"cidr": ["%s/32" % SRC2]}, "route": {"regions": ["b"]}}
        self.reload(self.config(regions, [lab, default]))
        s = get_json(self.admin, "/status")
        self.assertEqual([z["name"] for z in s["zones"]], ["lab", "default"])
        self.assertEqual(zone_of(s, "lab")["region"], "b")
        d = get_json(self.admin, "/debug/route?ip=%s" % SRC2)
        self.assertEqual((d["zone"], d["region"]), ("lab", "b"))
        self.wait_served_by("b", source=SRC2)
        for _ in range(10):
            self.assertEqual(hget(self.port, source=SRC2)[:2], (200, "b"))
            self.assertEqual(hget(self.port)[:2], (200, "a"))
        text = check_metrics(self, self.admin)
        self.assertIn('georoute_zone_route{zone="lab",region="b"} 1', text)
        self.assertIn('georoute_zone_route{zone="default",region="a"} 1', text)
        m = re.search(r'^georoute_requests_total\{zone="lab",region="b",code="2xx"\} (\d+)$',
                      text, re.M)
        self.assertTrue(m, text)
        self.assertGreaterEqual(int(m.group(1)), 10)

        # And away again: its clients fall to default.
        self.reload(self.config(regions, [default]))
        s = get_json(self.admin, "/status")
        self.assertEqual([z["name"] for z in s["zones"]], ["default"])
        self.assertEqual(get_json(self.admin, "/debug/route?ip=%s" % SRC2)["zone"], "default")
        self.wait_served_by("a", source=SRC2)
        for _ in range(10):
            self.assertEqual(hget(self.port, source=SRC2)[:2], (200, "a"))
        text = check_metrics(self, self.admin)
        self.assertNotIn('georoute_zone_route{zone="lab"', text)

    # ------------------------------------------------------------ 6
    def test_listen_and_workers_still_refused(self):
        self.backend("a")
        self.backend("b")
        zones = [{"name": "default", "route": {"regions": ["a"]}}]
        cfg = self.config({"a": ["a"]}, zones)
        p = self.start(cfg)
        self.wait_served_by("a")
        s0 = get_json(self.admin, "/status")
        gen = s0["config"]["generation"]

        # Each refused file also adds a region, which alone would be fine:
        # nothing of it may be applied.
        other = free_port()
        bad_listen = self.config({"a": ["a"], "b": ["b"]}, zones,
                                 listen=["127.0.0.1:%d" % other])
        bad_workers = self.config({"a": ["a"], "b": ["b"]}, zones, workers=3)
        for bad, what in ((bad_listen, r"listen"), (bad_workers, r"workers")):
            self.write(bad)
            st, _, body = http(self.admin, "/reload", method="POST")
            text = body.decode("utf-8", "replace")
            self.assertEqual(st, 400, text)
            self.assertRegex(text, r"%s:\d+:\d+: .*reload cannot change .*%s"
                             % (re.escape(p.config_path), what))
        # SIGHUP with the same file: refused too, logged and counted.
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: get_json(self.admin, "/status")["config"]
                                   ["reloads_failed"] == 3, 5), p.stderr()[-2000:])
        self.assertEqual(p.stderr().count("event=reload result=failed"), 3)

        s = get_json(self.admin, "/status")
        self.assertEqual(s["config"]["generation"], gen)
        self.assertEqual((s["config"]["reloads_ok"], s["config"]["reloads_failed"]), (0, 3))
        self.assertEqual(regions_of(s), ["a"])
        self.assertEqual(self.b["b"].probes, 0, "a refused config's backend was probed")
        self.assertTrue(p.running())
        with socket.socket() as sk:
            sk.settimeout(1)
            self.assertNotEqual(sk.connect_ex(("127.0.0.1", other)), 0,
                                "the refused listen address was opened")
        for _ in range(10):
            self.assertEqual(hget(self.port)[:2], (200, "a"))
        # The old file, unchanged, still reloads fine.
        self.reload(cfg)

    # ------------------------------------------------------------ 7
    def test_ejection_survives(self):
        for n in ("b1", "b2", "b3"):
            self.backend(n)
        passive = {"passive": {"consecutive_failures": 1, "count_5xx": True,
                               "ejection_time": "60s", "max_ejected_pct": 50}}
        zones = [{"name": "default", "route": {"regions": ["r"]}}]
        self.start(self.config({"r": ["b1", "b2"]}, zones, region_extra=passive))
        got = []

        def ejected():
            got.append(hget(self.port, "/status/500")[:2])
            bs = backends_of(get_json(self.admin, "/status"), "r")
            return [b for b in bs if b["ejected"]]
        ej = wait_until(ejected, 10, 0.05)
        self.assertTrue(ej, "no backend ejected after %s" % got[-5:])
        (e0,) = ej
        name = {b.addr: n for n, b in self.b.items()}[e0["address"]]
        other = "b2" if name == "b1" else "b1"

        self.reload(self.config({"r": ["b1", "b2", "b3"]}, zones, region_extra=passive))
        bs = {b["address"]: b for b in backends_of(get_json(self.admin, "/status"), "r")}
        e1 = bs[e0["address"]]
        self.assertTrue(e1["ejected"], "the reload un-ejected %s: %s" % (name, e1))
        self.assertEqual(e1["ejections"], e0["ejections"])
        self.assertLessEqual(e1["ejected_for_ms"], e0["ejected_for_ms"],
                             "the ejection restarted: %s -> %s" % (e0, e1))
        self.assertGreater(e1["ejected_for_ms"], 0)
        self.assertIn(self.b["b3"].addr, bs)
        # The ejected backend still gets nothing; the others serve.
        before = self.b[name].requests
        served = {hget(self.port)[:2] for _ in range(30)}
        self.assertEqual(self.b[name].requests, before, "an ejected backend got requests")
        self.assertLessEqual(served, {(200, other), (200, "b3")}, served)


if __name__ == "__main__":
    unittest.main()
