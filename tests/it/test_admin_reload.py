"""Config reload (issue 5) through POST /reload and SIGHUP: 20 reloads that
move a zone between two regions, under a constant client load, lose no
request, and the requests after each reload follow the new config; health,
RTT and route state survive; an invalid config and a listener change are
refused with FILE:LINE:COL, keep the old config and are counted. Reloads
that add and remove backends, regions and zones: test_reload_layout.py."""

import json
import os
import shutil
import signal
import tempfile
import threading
import time
import unittest
import urllib.request

from backend import Backend
from harness import Proxy, free_port, georoute_only, to_yaml, wait_until
from test_admin import PROBE, get_json, http


@georoute_only("reload is georoute's")
class Reload(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-reload-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.b = {n: Backend(n).start() for n in ("east", "west")}
        for b in self.b.values():
            self.addCleanup(b.stop)
        self.admin = free_port()
        self.port = free_port()

    def config(self, region, **extra):
        cfg = {
            "listen": ["127.0.0.1:%d" % self.port],
            "workers": 2,
            "access_log": "off",
            "admin": "127.0.0.1:%d" % self.admin,
            "regions": {n: {"backends": [b.addr], "probe": PROBE} for n, b in self.b.items()},
            "zones": [{"name": "default", "route": {"regions": [region]}}],
            "routing": {"slow_start": "off"},
        }
        cfg.update(extra)
        return cfg

    def write(self, path, cfg):
        with open(path, "w") as f:
            f.write(to_yaml(cfg) + "\n" if isinstance(cfg, dict) else cfg)

    def start(self):
        self.p = Proxy(self.config("east"), port=self.port).start()
        self.addCleanup(self.p.__exit__, None, None, None)
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))
        return self.p

    def test_reloads_under_load_lose_nothing(self):
        p = self.start()
        results = []  # (time, status, backend)
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/hello" % self.port,
                                                timeout=10) as r:
                        r.read()
                        results.append((time.monotonic(), r.status, r.headers.get("X-Backend")))
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    results.append((time.monotonic(), repr(e), None))

        t = threading.Thread(target=load, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        self.assertTrue(wait_until(lambda: len(results) > 20, 10))
        before = get_json(self.admin, "/status")
        rtt_before = {b["address"]: b["rtt_ms"] for r in before["regions"] for b in r["backends"]}
        gen = before["config"]["generation"]
        for i in range(20):
            want = "west" if i % 2 == 0 else "east"
            self.write(p.config_path, self.config(want))
            if i % 5 == 4:
                p.send_signal(signal.SIGHUP)
                ok = wait_until(lambda: get_json(self.admin, "/status")["config"]["reloads_ok"]
                                == i + 1, 5)
                self.assertTrue(ok, p.stderr()[-2000:])
            else:
                st, _, body = http(self.admin, "/reload", method="POST")
                self.assertEqual(st, 200, body)
                self.assertGreater(json.loads(body)["generation"], gen)
                gen = json.loads(body)["generation"]
            # Requests after the reload follow it: once the workers took it
            # (bounded), every later response comes from the new region.
            t0 = time.monotonic()
            ok = wait_until(lambda: any(ts > t0 and be == want for ts, _, be in results[-5:]), 5)
            self.assertTrue(ok, "reload %d: never reached %s: %s" % (i, want, results[-5:]))
            t1 = time.monotonic()
            self.assertTrue(wait_until(lambda: sum(ts > t1 for ts, _, _ in results) >= 5, 5))
            after = [be for ts, _, be in results if ts > t1]
            self.assertEqual(set(after), {want}, "reload %d" % i)
        stop.set()
        t.join(15)
        bad = [r for r in results if r[1] != 200]
        self.assertEqual(bad, [], "failed during reloads")
        self.assertGreater(len(results), 100)
        s = get_json(self.admin, "/status")
        self.assertEqual(s["config"]["reloads_ok"], 20)
        self.assertEqual(s["config"]["reloads_failed"], 0)
        # Health and RTT survived: no backend went down, every RTT is still known.
        self.assertNotIn("event=backend_down", p.stderr())
        for r in s["regions"]:
            self.assertTrue(r["healthy"])
            for b in r["backends"]:
                self.assertTrue(b["up"])
                self.assertIsNotNone(b["rtt_ms"])
                self.assertIn(b["address"], rtt_before)
        self.assertEqual(s["zones"][0]["switches"], 20)
        self.assertEqual(p.stderr().count("event=reload result=ok"), 20)

    def test_invalid_config_changes_nothing(self):
        p = self.start()
        t = "http://127.0.0.1:%d/hello" % self.port
        self.assertTrue(wait_until(lambda: urllib.request.urlopen(t, timeout=5).headers
                                   .get("X-Backend") == "east", 5))
        gen = get_json(self.admin, "/status")["config"]["generation"]
        # A typo: an unknown region in the zone's route.
        self.write(p.config_path, self.config("nowhere"))
        st, _, body = http(self.admin, "/reload", method="POST")
        self.assertEqual(st, 400)
        self.assertRegex(body.decode(), r"%s:\d+:\d+: " % p.config_path)
        self.assertIn("nowhere", body.decode())
        # Broken YAML.
        self.write(p.config_path, "regions: [\n")
        st, _, body = http(self.admin, "/reload", method="POST")
        self.assertEqual(st, 400)
        self.assertRegex(body.decode(), r"%s:\d+:\d+: " % p.config_path)
        # Moving the listener needs a restart: refused the same way.
        cfg = self.config("west")
        cfg["listen"] = ["127.0.0.1:%d" % free_port()]
        self.write(p.config_path, cfg)
        st, _, body = http(self.admin, "/reload", method="POST")
        self.assertEqual(st, 400)
        self.assertRegex(body.decode(), r":\d+:\d+: reload cannot change the listen addresses")
        # SIGHUP with a bad file: logged with its position, counted.
        self.write(p.config_path, self.config("nowhere"))
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: p.stderr().count("event=reload result=failed") >= 4, 5))
        s = get_json(self.admin, "/status")
        self.assertEqual(s["config"]["generation"], gen)
        self.assertEqual((s["config"]["reloads_ok"], s["config"]["reloads_failed"]), (0, 4))
        st, _, m = http(self.admin, "/metrics")
        self.assertIn(b'georoute_config_reloads_total{result="failed"} 4', m)
        for _ in range(10):
            with urllib.request.urlopen(t, timeout=5) as r:
                self.assertEqual((r.status, r.headers.get("X-Backend")), (200, "east"))
        self.assertEqual(s["zones"][0]["region"], "east")

    def test_reload_errors_complete_positioned_one_event_each(self):
        """D6, D13: every error of a refused reload reaches the operator, in
        the SIGHUP log as one escaped event line each, and restart-only keys
        point at their own line, all of them at once."""
        p = self.start()
        cfg = self.config("east", workers=3, access_log=os.path.join(self.dir, "other.log"))
        bogus = "".join("  bogus_%02d: 1\n" % i for i in range(30))
        text = to_yaml(cfg) + "\n"
        self.write(p.config_path, text)
        lines = text.splitlines()
        wline = 1 + next(i for i, l in enumerate(lines) if l.startswith("workers:"))
        aline = 1 + next(i for i, l in enumerate(lines) if l.startswith("access_log:"))
        st, _, body = http(self.admin, "/reload", method="POST")
        body = body.decode()
        self.assertEqual(st, 400, body)
        self.assertRegex(body, r"%s:%d:\d+: reload cannot change workers" % (p.config_path, wline))
        self.assertRegex(body, r"%s:%d:\d+: reload cannot change access_log"
                         % (p.config_path, aline))
        # Thirty errors: each one in the log, each on its own line.
        self.write(p.config_path, text + "limits:\n" + bogus)
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "bogus_29" in p.stderr(), 5), p.stderr()[-3000:])
        log = p.stderr()
        self.assertIn("event=reload result=failed kept=old errors=30", log)
        last = log[log.rindex("event=reload result=failed"):]  # the SIGHUP's own events
        errs = [l for l in last.splitlines() if "event=reload_error" in l]
        self.assertEqual(len(errs), 30, "\n".join(errs))
        for i in range(30):
            self.assertEqual(sum("unknown key 'bogus_%02d'" % i in l for l in errs), 1)
        for l in errs:
            self.assertRegex(l, r'error="%s:\d+:\d+: limits: unknown key .*"$' % p.config_path)

    def test_reload_needs_post_and_token(self):
        cfg = self.config("east", admin={"listen": "127.0.0.1:%d" % self.admin, "token": "t0k"})
        self.p = Proxy(cfg, port=self.port).start()
        self.addCleanup(self.p.__exit__, None, None, None)
        self.assertTrue(wait_until(lambda: http(self.admin, "/healthz")[0] == 200, 10))
        self.assertEqual(http(self.admin, "/reload")[0], 405)
        self.assertEqual(http(self.admin, "/reload", method="POST")[0], 401)
        self.assertEqual(http(self.admin, "/reload", method="POST", token="t0k")[0], 200)


if __name__ == "__main__":
    unittest.main()
