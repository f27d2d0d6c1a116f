"""Data-plane hardening (issue 16): what a hostile or merely slow client can
and cannot cost the proxy, its backends and its logs. docs/SECURITY.md has
the class, the defence and the test for each case here."""

import json
import os
import re
import subprocess
import socket
import threading
import time
import unittest
import urllib.request

from backend import Backend, payload_bytes, payload_sha256
from harness import Conn, Proxy, georoute_only, request, wait_until


def admin_port(p):
    return int(p.config["admin"]["listen"].rsplit(":", 1)[1])


def status_json(p):
    url = "http://127.0.0.1:%d/status" % admin_port(p)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@georoute_only("upstream timers and health are georoute's")
class SlowClients(unittest.TestCase):
    """A slow uploader is the client's problem: its 408, never a timeout
    charged to the backend (issue 16 point 2)."""

    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)
        cfg = {"workers": 1,
               "regions": {"r": {"backends": [self.b.addr],
                                 "passive": {"consecutive_failures": 3, "ejection_time": "30s",
                                             "max_ejected_pct": 100}}},
               "zones": [{"name": "default", "route": {"regions": ["r"]}}],
               "timeouts": {"upstream_response": "500ms", "client_body": "1500ms"}}
        self.p = Proxy(cfg).start()
        self.addCleanup(self.p.__exit__, None, None, None)

    def test_steady_upload_longer_than_upstream_timeout(self):
        n = 2 << 20
        body = payload_bytes(n)
        with self.p.conn() as c:
            c.send(request("POST", "/echo", [("Content-Length", str(n))]))
            # About 2 s in all, four times upstream_response, each gap far
            # below client_body.
            step = n // 40
            for i in range(0, n, step):
                c.send(body[i:i + step])
                time.sleep(0.05)
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(json.loads(r.body)["sha256"], payload_sha256(n))

    def test_stalled_uploads_get_408_and_cost_the_backend_nothing(self):
        conns = []
        for _ in range(12):
            c = self.p.conn()
            self.addCleanup(c.close)
            c.send(request("POST", "/echo", [("Content-Length", "100000")]) + b"x" * 10)
            conns.append(c)
        for c in conns:
            self.assertEqual(c.read_response().status, 408)
        (r,) = status_json(self.p)["regions"]
        (b,) = r["backends"]
        self.assertFalse(b["ejected"], b)
        self.assertEqual(b["consecutive_failures"], 0, b)
        with self.p.conn() as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)


if __name__ == "__main__":
    unittest.main()


LOGFMT = re.compile(r'^(\S+) client=(\S+) zone=(\S+) country=(\S+) method=(\S+) '
                    r'target="((?:[^"\\]|\\.)*)" status=(\d+) in=(\d+) out=(\d+) backend=(\S+) '
                    r'region=(\S+) why=(\S+) ms=(\d+) peer=(\S+) id="((?:[^"\\]|\\.)*)"'
                    r' proto=h1( error="(?:[^"\\]|\\.)*")?$')

# Targets a client may send: quotes, backslashes, bytes >= 0x80 (some
# refused by the parser, which is logged all the same), and an unknown method.
HOSTILE = [b'GET /a"b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
           b'GET /a\\"b\\ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
           b'GET /caf\xc3\xa9\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
           b'GET /x" status=200 fake="1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
           b'BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
           b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03' + b'\x00' * 40]


@georoute_only("the access log is georoute's")
class AccessLog(unittest.TestCase):
    """Client bytes are escaped; one line is one request; the formats parse
    back (issue 16 point 7, issue 17 point 6)."""

    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)

    def proxy(self, **extra):
        cfg = {"workers": 1, "regions": {"r": {"backends": [self.b.addr]}},
               "zones": [{"name": "default", "route": {"regions": ["r"]}}]}
        cfg.update(extra)
        p = Proxy(cfg).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def send_all(self, p, reqs):
        for raw in reqs:
            with p.conn() as c:
                c.send(raw)
                c.read_until_close(timeout=10)

    def lines(self, p, n):
        self.assertTrue(wait_until(lambda: len(p.access_lines()) >= n, 10), p.access_lines())
        time.sleep(0.3)  # a line too many would show up by now
        with open(p.access_log, "rb") as f:
            raw = f.read()
        self.assertTrue(all(b < 0x80 for b in raw), raw)
        lines = raw.decode("ascii").splitlines()
        self.assertEqual(len(lines), n, lines)
        return lines

    def test_logfmt_escapes_and_parses_back(self):
        p = self.proxy()
        self.send_all(p, HOSTILE)
        lines = self.lines(p, len(HOSTILE))
        for ln in lines:
            self.assertRegex(ln, LOGFMT)
        m = [LOGFMT.match(ln) for ln in lines]
        self.assertEqual(m[0].group(6), r'/a\"b')
        self.assertEqual(m[3].group(7), "400")     # the forged status= stays inside target
        self.assertEqual(m[4].group(5), "-")       # D4: not DELETE
        self.assertEqual(m[5].group(5), "-")
        self.assertEqual(m[4].group(3), "-")       # refused before classification

    def test_json_lines_parse_back(self):
        p = self.proxy(access_log_format="json")
        self.send_all(p, HOSTILE + [request("GET", "/hello", [("Connection", "close")])])
        recs = [json.loads(ln) for ln in self.lines(p, len(HOSTILE) + 1)]
        self.assertEqual(recs[0]["target"], '/a"b')
        self.assertEqual(recs[1]["target"], '/a\\"b\\')
        self.assertEqual(recs[4]["method"], "-")
        ok = recs[-1]
        self.assertEqual((ok["status"], ok["method"], ok["target"], ok["region"], ok["zone"]),
                         (200, "GET", "/hello", "r", "default"))
        for k in ("time", "client", "peer", "in", "out", "backend", "why", "ms", "id"):
            self.assertIn(k, ok)

    def test_template(self):
        p = self.proxy(access_log_format='$client "$method $target" $status $$ $id')
        self.send_all(p, [HOSTILE[0], request("GET", "/hello", [("Connection", "close")])])
        lines = self.lines(p, 2)
        self.assertEqual(lines[1].split(" ")[:5], ["127.0.0.1", '"GET', '/hello"', "200", "$"])
        self.assertIn(r'"GET /a\"b" ', lines[0])

    def test_unknown_template_field_is_a_config_error(self):
        cfg = {"listen": ["127.0.0.1:1"], "regions": {"r": {"backends": [self.b.addr]}},
               "access_log_format": "$client $nope"}
        p = Proxy(cfg, args=["--check"], ready=False).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.assertEqual(p.wait(10), 1)
        self.assertIn("unknown field '$nope'", p.stderr())

    def test_request_id(self):
        p = self.proxy(trusted_proxies=["127.8.0.0/16"])

        def get(src, rid=None):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=10,
                                         source_address=(src, 0))
            hdrs = [("Connection", "close")] + ([("X-Request-Id", rid)] if rid else [])
            with Conn(p.port, sock=s) as c:
                c.send(request("GET", "/headers", hdrs))
                r = c.read_response()
            sent = [ln.split(":", 1)[1].strip() for ln in r.body.decode().split("\r\n")
                    if ln.lower().startswith("x-request-id:")]
            return r.get("X-Request-Id"), sent

        mine, sent = get("127.0.0.1")
        self.assertRegex(mine, r"^[0-9a-f]{16}-[0-9a-f]{12}$")
        self.assertEqual(sent, [mine])
        other, _ = get("127.0.0.1")
        self.assertNotEqual(mine, other)
        # From an untrusted peer the client's id is replaced, from a trusted
        # one it is kept when valid.
        self.assertNotEqual(get("127.0.0.1", "abc")[0], "abc")
        self.assertEqual(get("127.8.0.1", "abc-1")[0], "abc-1")
        self.assertEqual(get("127.8.0.1", "abc-1")[1], ["abc-1"])
        self.assertNotEqual(get("127.8.0.1", "x" * 129)[0], "x" * 129)
        ids = [LOGFMT.match(ln).group(15) for ln in self.lines(p, 6)]
        self.assertEqual(ids[0], mine)
        self.assertEqual(ids[3], "abc-1")


def metrics_text(p):
    url = "http://127.0.0.1:%d/metrics" % admin_port(p)
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def sample(text, name, **labels):
    """The value of NAME{LABELS} (labels in any order), or None."""
    for ln in text.splitlines():
        if not ln.startswith(name + "{") and ln.split(" ")[0] != name:
            continue
        head, _, val = ln.rpartition(" ")
        got = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(val)
    return None


@georoute_only("the metrics are georoute's")
class Metrics(unittest.TestCase):
    """A dashboard can tell a residency 503 from no backend (502) and a
    timeout (504), and sees each backend's requests, errors and time to
    first byte (issue 17 point 7)."""

    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)

    def start(self, cfg):
        p = Proxy(cfg).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def get(self, p, target, src="127.0.0.1"):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=10, source_address=(src, 0))
        with Conn(p.port, sock=s) as c:
            c.send(request("GET", target, [("Connection", "close")]))
            return c.read_response().status

    def test_reasons_backends_and_bytes(self):
        from harness import dead_port
        dead = "127.0.0.1:%d" % dead_port()
        p = self.start({
            "workers": 1,
            "regions": {"good": {"backends": [self.b.addr]}, "dead": {"backends": [dead]}},
            "zones": [{"name": "lab", "match": {"cidr": ["127.9.0.0/16"]},
                       "route": {"regions": ["dead"], "fallback": "reject"}},
                      {"name": "default", "route": {"regions": ["good"]}}],
            "timeouts": {"upstream_response": "500ms"}})
        self.assertEqual(self.get(p, "/hello"), 200)
        self.assertEqual(self.get(p, "/status/500"), 500)
        self.assertEqual(self.get(p, "/slow/3000"), 504)
        self.assertEqual(self.get(p, "/hello", src="127.9.0.1"), 503)
        self.assertEqual(self.get(p, "/hello", src="127.9.0.1"), 503)
        lone = self.start({"workers": 1, "regions": {"dead": {"backends": [dead]}}})
        self.assertEqual(self.get(lone, "/hello"), 502)

        text = metrics_text(p)
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        resp = "georoute_proxy_responses_total"
        self.assertEqual(sample(text, resp, zone="lab", reason="no_region"), 2, text)
        self.assertEqual(sample(text, resp, zone="default", reason="upstream_timeout"), 1)
        self.assertIsNone(sample(text, resp, zone="default", reason="no_backend"))
        self.assertEqual(sample(metrics_text(lone), resp, zone="default", reason="no_backend"), 1)
        good = {"region": "good", "backend": self.b.addr}
        self.assertEqual(sample(text, "georoute_backend_requests_total", **good), 3)
        self.assertEqual(sample(text, "georoute_backend_errors_total", **good), 2)  # 5xx, timeout
        self.assertEqual(sample(text, "georoute_backend_ttfb_seconds_count", **good), 2)
        self.assertEqual(sample(text, "georoute_backend_ttfb_seconds_bucket", le="+Inf", **good), 2)
        self.assertTrue(sample(text, "georoute_backend_ttfb_seconds_bucket", le="30", **good))
        self.assertGreater(sample(text, "georoute_client_received_bytes_total"), 0)
        self.assertGreater(sample(text, "georoute_client_sent_bytes_total"), 0)
        self.assertEqual(sample(text, "georoute_connections_rejected_total"), 0)

    def test_rejected_connections_are_counted(self):
        p = self.start({"workers": 1, "regions": {"r": {"backends": [self.b.addr]}},
                        "limits": {"max_client_connections": 2}})
        refused = 0
        for _ in range(4):  # held open: the cap is reached within these
            c = p.conn()
            self.addCleanup(c.close)
            c.send(request("GET", "/hello"))
            refused += c.read_response().status == 503
        self.assertGreaterEqual(refused, 2)
        self.assertTrue(wait_until(
            lambda: sample(metrics_text(p), "georoute_connections_rejected_total") == refused, 5))
