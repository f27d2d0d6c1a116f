"""The admin listener (issue 5): /healthz, /readyz, /status, /metrics (checked
by promtool and scraped by a real Prometheus), /debug/route, drain and
undrain, the bearer token, and the status page in headless Chromium. Every
wait is bounded; only loopback is used."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from backend import Backend
from harness import Conn, Proxy, free_port, georoute_bin, georoute_only, request, wait_until
from test_geo_routing import make_fixture

PROBE = {"interval": "300ms", "fastinter": "100ms", "downinter": "300ms", "timeout": "250ms",
         "rise": 1, "fall": 1, "path": "/hello"}


def http(port, path, method="GET", token=None, timeout=10, headers=None):
    """(status, headers dict, body bytes) of one admin request. POSTs carry
    X-Georoute-Admin, as every non-browser client must (docs/SECURITY.md)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=b"" if method == "POST" else None)
    if method == "POST":
        req.add_header("X-Georoute-Admin", "1")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, {}, str(e).encode()


def get_json(port, path):
    st, _, body = http(port, path)
    assert st == 200, (st, body)
    return json.loads(body)


def proxy_get(port, target="/hello", timeout=10):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, target))
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers.get("X-Backend")


@georoute_only("the admin listener is georoute's")
class Admin(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-admin-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.b = {n: Backend(n).start() for n in ("near", "far")}
        for b in self.b.values():
            self.addCleanup(b.stop)
        self.admin = free_port()

    def start(self, token=None, geo=False, **extra):
        admin = {"listen": "127.0.0.1:%d" % self.admin}
        if token:
            admin["token"] = token
        cfg = {
            "workers": 2,
            "admin": admin,
            "regions": {n: {"backends": [b.addr], "probe": PROBE} for n, b in self.b.items()},
            # `far` scores 50 ms worse whatever the loopback RTTs are, so
            # `near` is the choice while it is healthy and not drained.
            "zones": [{"name": "default", "route": {"regions": ["near", "far"],
                                                    "bias": {"far": "50ms"}}}],
            "routing": {"switch_evidence": 0, "min_gain": "1ms", "slow_start": "off"},
        }
        if geo:
            db = os.path.join(self.dir, "city.mmdb")
            make_fixture(db)
            cfg["geo"] = {"databases": [{"path": db}]}
            cfg["zones"] = [
                {"name": "shenzhen", "match": {"subdivision": ["CN-GD"]},
                 "route": {"regions": ["near", "far"], "bias": {"far": "50ms"}}},
                {"name": "us", "match": {"country": ["US"]}, "route": {"regions": ["far"]}},
            ] + cfg["zones"]
        cfg.update(extra)
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)
        ok = wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10)
        self.assertTrue(ok, self.p.stderr()[-3000:])
        return self.p

    def wait_backend(self, want, timeout=10):
        seen = []

        def check():
            seen.append(proxy_get(self.p.port))
            return seen[-1] == (200, want)

        self.assertTrue(wait_until(check, timeout, 0.05), "never reached %s: %s" % (want, seen[-5:]))

    def test_healthz_readyz_404_405(self):
        self.start()
        self.assertEqual(http(self.admin, "/healthz")[0], 200)
        st, _, body = http(self.admin, "/readyz")
        self.assertEqual((st, body), (200, b"ready\n"))
        self.assertEqual(http(self.admin, "/nope")[0], 404)
        self.assertEqual(http(self.admin, "/status", method="POST")[0], 405)
        st, hdrs, _ = http(self.admin, "/regions/near/drain")
        self.assertEqual(st, 405)
        self.assertEqual(hdrs.get("Allow"), "POST")
        self.assertEqual(http(self.admin, "/regions/nowhere/drain", method="POST")[0], 404)

    def raw(self, method, target, headers=(), host=None):
        """(head text, body bytes) of one raw admin request: nothing parses the body away."""
        with Conn(self.admin) as c:
            c.send(request(method, target, headers, host=host or "127.0.0.1:%d" % self.admin))
            data = bytes(c.read_until_close(timeout=10))
        head, sep, body = data.partition(b"\r\n\r\n")
        self.assertTrue(sep, data[:500])
        return head.decode("latin-1"), body

    def test_head_has_headers_and_no_body(self):
        # RFC 9110 section 9.3.2: the GET answer's headers, no content.
        self.start()
        for target in ("/status", "/metrics", "/", "/healthz"):
            get_head, get_body = self.raw("GET", target)
            head, body = self.raw("HEAD", target)
            self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
            self.assertEqual(body, b"", target)
            self.assertGreater(len(get_body), 0)
            ctype = re.search(r"(?im)^content-type: (.*)$", head).group(1)
            self.assertEqual(ctype, re.search(r"(?im)^content-type: (.*)$", get_head).group(1))
            self.assertRegex(head, r"(?im)^content-length: [1-9]\d*\r?$")

    def test_status_json_fields(self):
        self.start()
        self.wait_backend("near")
        for _ in range(5):
            proxy_get(self.p.port)
        s = get_json(self.admin, "/status")
        for k in ("version", "uptime_s", "config", "geo", "regions", "zones", "ready"):
            self.assertIn(k, s)
        self.assertTrue(s["ready"])
        self.assertEqual(s["config"]["file"], self.p.config_path)
        self.assertGreaterEqual(s["config"]["generation"], 1)
        self.assertEqual([r["name"] for r in s["regions"]], ["near", "far"])
        for r in s["regions"]:
            self.assertTrue(r["healthy"])
            self.assertFalse(r["drained"])
            (b,) = r["backends"]
            self.assertEqual(b["address"], self.b[r["name"]].addr)
            for k in ("up", "ejected", "ejected_for_ms", "consecutive_failures", "rtt_ms",
                      "rtt_dev_ms", "inflight", "last_probe"):
                self.assertIn(k, b)
            self.assertTrue(b["up"])
            self.assertGreater(b["rtt_ms"], 0)
            self.assertTrue(b["last_probe"]["ok"])
            self.assertEqual(b["last_probe"]["status"], 200)
        (z,) = s["zones"]
        self.assertEqual(z["name"], "default")
        self.assertEqual(z["region"], "near")
        for k in ("reason", "why", "since_switch_ms", "switches", "share", "secondary",
                  "client_rtt_median_ms"):
            self.assertIn(k, z)
        self.assertIsNotNone(z["client_rtt_median_ms"])
        sc = {x["region"]: x for x in z["scores"]}
        self.assertEqual(sc["far"]["bias_ms"], 50)
        self.assertAlmostEqual(sc["far"]["total_ms"],
                               sc["far"]["rtt_ms"] + sc["far"]["bias_ms"],
                               places=3)
        self.assertTrue(sc["near"]["chosen"])

    def test_metrics_promtool(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool not installed (Debian package prometheus)")
        self.start()
        self.wait_backend("near")
        for _ in range(10):
            proxy_get(self.p.port)
        st, hdrs, body = http(self.admin, "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("version=0.0.4", hdrs.get("Content-Type"))
        text = body.decode()
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        near = self.b["near"].addr
        self.assertIn('georoute_backend_up{region="near",backend="%s"} 1' % near, text)
        self.assertIn('georoute_zone_route{zone="default",region="near"} 1', text)
        self.assertIn('georoute_zone_route{zone="default",region="far"} 0', text)
        m = re.search(r'^georoute_requests_total\{zone="default",region="near",code="2xx"\} (\d+)$',
                      text, re.M)
        self.assertTrue(m, text)
        self.assertGreaterEqual(int(m.group(1)), 10)
        for name in ("georoute_request_duration_seconds_bucket", "georoute_client_rtt_seconds_count",
                     "georoute_backend_rtt_seconds", "georoute_route_switches_total",
                     "georoute_geo_lookups_total", "georoute_config_reloads_total",
                     'georoute_connections{side="client"}', "georoute_build_info"):
            self.assertIn(name, text)
        # Issue 17: process, reload, config and per-backend counter families.
        for name in ("process_start_time_seconds", "process_cpu_seconds_total",
                     "process_open_fds", "process_max_fds", "process_resident_memory_bytes",
                     "georoute_config_last_reload_successful 1",
                     "georoute_config_last_reload_success_timestamp_seconds",
                     'georoute_backend_probe_failures_total{region="near",backend="%s"} 0' % near,
                     'georoute_backend_ejections_total{region="near",backend="%s"} 0' % near):
            self.assertIn(name, text)
        self.assertRegex(text, r'(?m)^georoute_config_hash\{hash="[0-9a-f]{16}"\} 1$')
        self.assertRegex(text, r'(?m)^georoute_build_info\{version="[^"]+",revision="[^"]+"\} 1$')
        fds = float(re.search(r"(?m)^process_open_fds (\S+)$", text).group(1))
        self.assertGreater(fds, 3)
        start = float(re.search(r"(?m)^process_start_time_seconds (\S+)$", text).group(1))
        self.assertLess(abs(start - time.time()), 3600)

    def test_refused_before_classification_has_no_zone(self):
        # The first zone is `cn`: a refused request used to be charged to
        # zones[0] in the access log, the request counters and client RTT.
        zones = [{"name": "cn", "match": {"country": ["CN"]}, "route": {"regions": ["near"]}},
                 {"name": "default", "route": {"regions": ["near", "far"],
                                               "bias": {"far": "50ms"}}}]
        self.start(geo=True, zones=zones)
        self.wait_backend("near")

        def scrape():
            st, _, body = http(self.admin, "/metrics")
            self.assertEqual(st, 200)
            return body.decode()

        def cn_state(text):
            reqs = re.findall(r'^georoute_requests_total\{zone="cn",.*$', text, re.M)
            rtt = re.search(r'^georoute_client_rtt_seconds_count\{zone="cn"\} (\d+)$', text, re.M)
            self.assertTrue(rtt, text)
            return reqs, int(rtt.group(1))

        before = cn_state(scrape())
        with Conn(self.p.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            self.assertEqual(c.read_response(timeout=10).status, 400)
        none_400 = re.compile(r'^georoute_requests_total\{zone="-",region="none",code="4xx"\} 1$',
                              re.M)
        text = ""

        def counted():
            nonlocal text
            text = scrape()
            return none_400.search(text) is not None

        self.assertTrue(wait_until(counted, 10), text)
        self.assertEqual(cn_state(text), before)
        self.assertNotIn('georoute_client_rtt_seconds_count{zone="-"}', text)
        refused = lambda: [ln for ln in self.p.access_lines() if " status=400 " in ln]
        self.assertTrue(wait_until(refused, 10), self.p.access_lines())
        (line,) = refused()
        self.assertIn(" zone=- ", line)
        self.assertIn(" country=- ", line)

    def test_prometheus_scrapes(self):
        if not shutil.which("prometheus"):
            self.skipTest("prometheus not installed (Debian package prometheus)")
        self.start()
        web = free_port()
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: georoute\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.admin)
        log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        prom = subprocess.Popen(["prometheus", "--config.file=" + conf,
                                 "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % web],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

        def stop():
            if prom.poll() is None:
                os.kill(prom.pid, signal.SIGTERM)
                try:
                    prom.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(prom.pid, signal.SIGKILL)
                    prom.wait(5)
        self.addCleanup(stop)
        want = {b.addr for b in self.b.values()}
        got = [None]

        def query():
            try:
                st, _, body = http(web, "/api/v1/query?query=georoute_backend_up", timeout=2)
            except OSError:
                return False
            if st != 200:
                return False
            res = json.loads(body)["data"]["result"]
            got[0] = {r["metric"]["backend"]: r["value"][1] for r in res}
            return set(got[0]) == want

        ok = wait_until(query, 60, 0.5)
        with open(os.path.join(self.dir, "prometheus.log"), "rb") as f:
            plog = f.read().decode("utf-8", "replace")
        self.assertTrue(ok, "series %s\n%s" % (got[0], plog[-3000:]))
        self.assertEqual(set(got[0].values()), {"1"})
        # The families added for dashboards are ingested too.
        for q in ("process_resident_memory_bytes", "georoute_config_last_reload_successful",
                  "georoute_backend_probe_failures_total", "georoute_config_hash"):
            st, _, body = http(web, "/api/v1/query?query=" + q, timeout=5)
            self.assertEqual(st, 200, body)
            self.assertTrue(json.loads(body)["data"]["result"], q)

    def test_readyz_flips_with_backends(self):
        self.start()
        ports = {n: b.port for n, b in self.b.items()}
        for b in self.b.values():
            b.stop()
        ok = wait_until(lambda: http(self.admin, "/readyz")[0] == 503, 10)
        st, _, body = http(self.admin, "/readyz")
        self.assertTrue(ok, body)
        self.assertIn(b"no healthy region", body)
        s = get_json(self.admin, "/status")
        self.assertFalse(s["ready"])
        self.assertTrue(all(not r["healthy"] for r in s["regions"]))
        self.assertFalse(s["regions"][0]["backends"][0]["last_probe"]["ok"])
        back = Backend("far", port=ports["far"]).start()
        self.addCleanup(back.stop)
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))

    def test_drain_and_undrain(self):
        self.start()
        self.wait_backend("near")
        st, _, body = http(self.admin, "/regions/near/drain", method="POST")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body),
                         {"region": "near", "drained": True, "zones_without_region": ""})
        self.wait_backend("far")
        # Drained: no new request goes to near.
        before = self.b["near"].requests
        for _ in range(20):
            self.assertEqual(proxy_get(self.p.port), (200, "far"))
        self.assertEqual(self.b["near"].requests, before)
        s = get_json(self.admin, "/status")
        self.assertTrue(s["regions"][0]["drained"])
        self.assertEqual(s["zones"][0]["region"], "far")
        self.assertIn("event=region_drained region=near", self.p.stderr())
        st, _, body = http(self.admin, "/regions/near/undrain", method="POST")
        self.assertEqual(st, 200, body)
        self.wait_backend("near")
        self.assertEqual(get_json(self.admin, "/status")["zones"][0]["switches"], 2)

    def test_drain_that_strands_a_zone_needs_force(self):
        self.start()
        self.wait_backend("near")
        self.assertEqual(http(self.admin, "/regions/near/drain", method="POST")[0], 200)
        # far is the zone's last region (no fallback: reject): refused, named, logged.
        st, _, body = http(self.admin, "/regions/far/drain", method="POST")
        self.assertEqual(st, 409, body)
        self.assertEqual(json.loads(body)["zones"], "default")
        self.assertFalse(get_json(self.admin, "/status")["regions"][1]["drained"])
        self.assertIn('event=region_drain_refused region=far zones="default"', self.p.stderr())
        self.wait_backend("far")  # still served
        # Forced: drained, and /readyz and /status name the zone (/readyz is 503
        # here only because no region at all is left).
        st, _, body = http(self.admin, "/regions/far/drain?force=1", method="POST")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["zones_without_region"], "default")
        self.assertIn("forced=1", self.p.stderr())
        st, _, body = http(self.admin, "/readyz")
        self.assertEqual(st, 503)
        self.assertIn(b"zone without a region: default", body)
        self.assertEqual(get_json(self.admin, "/status")["zones_without_region"], ["default"])
        # Undrained: nothing left out.
        self.assertEqual(http(self.admin, "/regions/near/undrain", method="POST")[0], 200)
        self.assertTrue(wait_until(
            lambda: get_json(self.admin, "/status")["zones_without_region"] == [], 10))
        self.assertEqual(http(self.admin, "/readyz")[:3:2], (200, b"ready\n"))

    def test_token_required(self):
        self.start(token="s3cret-token")
        self.assertEqual(http(self.admin, "/regions/near/drain", method="POST")[0], 401)
        st, hdrs, _ = http(self.admin, "/regions/near/drain", method="POST", token="wrong")
        self.assertEqual(st, 401)
        self.assertIn("Bearer", hdrs.get("WWW-Authenticate", ""))
        st, _, body = http(self.admin, "/status", token="s3cret-token")
        self.assertFalse(json.loads(body)["regions"][0]["drained"])
        st, _, _ = http(self.admin, "/regions/near/drain", method="POST", token="s3cret-token")
        self.assertEqual(st, 200)
        st, _, body = http(self.admin, "/status", token="s3cret-token")
        self.assertTrue(json.loads(body)["regions"][0]["drained"])
        # Reads need it too; the load balancers' checks stay open.
        self.assertEqual(http(self.admin, "/metrics")[0], 401)
        self.assertEqual(http(self.admin, "/metrics", token="s3cret-token")[0], 200)
        self.assertEqual(http(self.admin, "/healthz")[0], 200)

    def test_debug_route(self):
        self.start(geo=True)
        d = get_json(self.admin, "/debug/route?ip=127.1.0.9")
        self.assertEqual(d["zone"], "shenzhen")
        self.assertTrue(d["geo"]["found"])
        self.assertEqual(d["geo"]["country"], "CN")
        self.assertEqual(d["geo"]["subdivision"], "CN-GD")
        self.assertEqual(d["region"], "near")
        self.assertEqual({x["region"] for x in d["scores"]}, {"near", "far"})
        self.assertTrue(all("healthy" in x and "total_ms" in x for x in d["scores"]))
        self.assertTrue(d["why"])
        d = get_json(self.admin, "/debug/route?ip=127.3.0.9")
        self.assertEqual((d["zone"], d["region"], d["geo"]["country"]), ("us", "far", "US"))
        d = get_json(self.admin, "/debug/route?ip=%3A%3A1")
        self.assertEqual(d["zone"], "default")
        self.assertEqual(http(self.admin, "/debug/route?ip=nope")[0], 400)
        # Issue 16.7: what is echoed is the parsed address, never the input.
        st, _, body = http(self.admin, "/debug/route?ip=fe80%3A%3A1%25%22%FF%3Cx%3E")
        self.assertNotIn(b"<x>", body)
        self.assertTrue(all(c < 0x80 for c in body), body)
        if st == 200:
            self.assertEqual(json.loads(body)["ip"], "fe80::1")
        self.assertEqual(http(self.admin, "/debug/route")[0], 400)
        # Nothing was sent to any backend by asking.
        self.assertEqual(sum(b.requests for b in self.b.values()), 0)
        s = get_json(self.admin, "/status")
        self.assertEqual(len(s["geo"]["databases"]), 1)
        db = s["geo"]["databases"][0]
        self.assertTrue(db["type"])
        self.assertGreater(db["build_epoch"], 0)

    def test_non_loopback_without_token_is_a_config_error(self):
        path = os.path.join(self.dir, "bad.yaml")
        with open(path, "w") as f:
            f.write("listen: 127.0.0.1:%d\nadmin: 0.0.0.0:%d\nregions:\n  main:\n"
                    "    backends: [%s]\n" % (free_port(), free_port(), self.b["near"].addr))
        r = subprocess.run([georoute_bin(), "--check", "-c", path], capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.decode(), r"bad\.yaml:2:\d+: .*admin\.token is required")

    def test_status_page_in_chromium(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            self.skipTest("chromium not installed (Debian package chromium)")
        self.start(geo=True)
        self.wait_backend("near")
        st, hdrs, page = http(self.admin, "/")
        self.assertEqual(st, 200)
        self.assertIn("text/html", hdrs["Content-Type"])
        self.assertNotRegex(page.decode(), r"(src|href)=\"?https?:")  # no external assets
        profile = os.path.join(self.dir, "chromium")
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                            "--virtual-time-budget=5000", "--dump-dom",
                            "http://127.0.0.1:%d/" % self.admin],
                           capture_output=True, timeout=90)
        dom = r.stdout.decode("utf-8", "replace")
        self.assertIn('id="matrix"', dom, r.stderr.decode()[-2000:])
        cells = re.findall(r'<td class="([^"]*)"[^>]*data-zone="([^"]+)" data-region="([^"]+)"',
                           dom)
        self.assertTrue(cells, dom[-3000:])
        status = get_json(self.admin, "/status")
        for z in status["zones"]:
            self.assertIn(">%s<" % z["name"], dom)
        for rg in status["regions"]:
            self.assertIn(">%s<" % rg["name"], dom)
        chosen = {(z, r) for cls, z, r in cells if "chosen" in cls.split()}
        want = {(z["name"], z["region"]) for z in status["zones"] if z["region"]}
        self.assertEqual(chosen, want)


if __name__ == "__main__":
    unittest.main()
