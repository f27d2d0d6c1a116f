"""probe.bulk (issue 15): a region that carries no real traffic still gets a
goodput figure, measured by the control thread's bulk probe against a
backend that serves a large body at a limited rate; a bad probe.bulk is
refused by --check at FILE:LINE:COL. Waits poll state and are bounded; the
only figure asserted is an upper bound the rate limit guarantees."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Proxy, RawServer, free_port, georoute_bin, georoute_only, wait_until
from test_admin import get_json

RATE = 2 << 20  # bytes/s the slow backend sends at most
BODY = 4 << 20  # it serves this much; the probe reads only probe.bulk.bytes


class SlowBackend(RawServer):
    """GET /big: BODY bytes paced at RATE (never faster); anything else: 'ok'."""

    def __init__(self):
        self.big = 0
        self.ranges = []
        super().__init__()

    def serve(self, c, head):
        if not head.startswith(b"GET /big "):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            return
        self.big += 1
        self.ranges += [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"range:")]
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % BODY)
        chunk, sent, start = b"x" * 65536, 0, time.monotonic()
        while sent < BODY:
            c.sendall(chunk)
            sent += len(chunk)
            # Never ahead of RATE: the measured goodput can only be lower.
            ahead = sent / RATE - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)


@georoute_only("probe.bulk is georoute's")
class BulkProbe(unittest.TestCase):
    def test_goodput_of_a_region_without_traffic(self):
        far, near = SlowBackend(), SlowBackend()
        self.addCleanup(far.stop)
        self.addCleanup(near.stop)
        admin = free_port()
        probe = {"interval": "500ms", "path": "/hello"}
        cfg = {
            "regions": {
                "near": {"backends": [near.addr], "probe": probe},
                "far": {"backends": [far.addr],
                        "probe": dict(probe, bulk={"path": "/big", "bytes": "512k",
                                                   "interval": "1s"})},
            },
            "zones": [{"name": "default", "route": {"regions": ["near", "far"]}}],
            "admin": {"listen": "127.0.0.1:%d" % admin},
        }
        with Proxy(cfg) as p:
            def far_backend():
                regions = get_json(admin, "/status")["regions"]
                return [r for r in regions if r["name"] == "far"][0]["backends"][0]

            b = wait_until(lambda: far_backend() if far_backend()["goodput_bps"] else None, 20,
                           interval=0.1)
            self.assertIsNotNone(b, "no goodput for far: %s\n%s" % (far_backend(),
                                                                    p.stderr()[-2000:]))
            self.assertGreater(b["goodput_bps"], 0)
            self.assertLess(b["goodput_bps"], 2 * RATE)  # paced: never faster than RATE
            self.assertGreaterEqual(b["bulk_probes"], 1)
            # The zone's scores carry it too, from the router's next tick; near
            # has no bulk probe and no figure.
            def scores():
                z = get_json(admin, "/status")["zones"][0]
                sc = {s["region"]: s for s in z["scores"]}
                return sc if sc["far"]["goodput_bps"] is not None else None

            sc = wait_until(scores, 10, interval=0.1)
            self.assertIsNotNone(sc, "the zone's scores never showed far's goodput")
            self.assertIsNone(sc["near"]["goodput_bps"])
            self.assertEqual(near.big, 0)
            self.assertIn(b"Range: bytes=0-524287", far.ranges[0])
            self.assertEqual(p.access_lines(), [])  # no real request was made

    def test_check_refuses_a_bad_bulk(self):
        bad = ("listen: 127.0.0.1:%d\n"
               "regions:\n"
               "  far:\n"
               "    backends: [127.0.0.1:9]\n"
               "    probe:\n"
               "      bulk: {path: big, bytes: 1k, interval: 10ms}\n"
               "  near:\n"
               "    backends: [127.0.0.1:9]\n"
               "    probe: {bulk: {bytes: 1m}}\n") % free_port()
        d = tempfile.mkdtemp(prefix="georoute-bulk-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "bad.yaml")
        with open(path, "w") as f:
            f.write(bad)
        r = subprocess.run([georoute_bin(), "--check", "-c", path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        err = r.stdout + r.stderr
        self.assertIn("%s:6:20: regions.far.probe.bulk.path: invalid path 'big'" % path, err)
        self.assertIn("%s:6:32: regions.far.probe.bulk.bytes: '1k' is out of range: must be "
                      "between 64k and 1g" % path, err)
        self.assertIn("%s:6:46: regions.far.probe.bulk.interval: '10ms' is out of range"
                      % path, err)
        self.assertIn("%s:9:19: regions.near.probe.bulk: missing required key 'path'" % path,
                      err)


if __name__ == "__main__":
    unittest.main()
