"""The link emulator (bench/linkemu.c, issue 4): bytes pass intact, delays
and rate caps hold, settings change at run time, EOF and resets travel the
link, and the process stops cleanly.

Timing checks are lower bounds only: a loaded machine makes things slower,
never faster than the emulated link.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from backend import Backend, PayloadChecker, payload_chunks, payload_sha256
from harness import Conn, REPO, dead_port, request, wait_until

sys.path.insert(0, os.path.join(REPO, "bench"))
from linkemu import LinkEmu, LinkEmuError, linkemu_bin  # noqa: E402

MiB = 1 << 20


def get(port, path, timeout=20.0):
    """One GET on a fresh connection; (response, seconds)."""
    t0 = time.monotonic()
    with Conn(port, timeout=timeout) as c:
        c.send(request("GET", path, [("Connection", "close")]))
        r = c.read_response(timeout=timeout)
    return r, time.monotonic() - t0


class RawServer:
    """A loopback TCP server whose per-connection behaviour is fn(sock)."""

    def __init__(self, fn):
        self.fn = fn
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            self.socks.append(s)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            self.fn(s)
        except OSError:
            pass
        finally:
            s.close()

    def stop(self):
        try:
            self.ls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ls.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def echo(s):
    while True:
        d = s.recv(65536)
        if not d:
            break
        s.sendall(d)


class Base(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(linkemu_bin()):
            raise LinkEmuError("no linkemu at %s (make tools)" % linkemu_bin())
        self.b = Backend("far").start()
        self.addCleanup(self.b.stop)

    def emu(self, links, **kw):
        e = LinkEmu(links, **kw).start()

        def done():
            e.stop()
            err = e.stderr()
            m = re.search(r"(ERROR: (Address|Leak)Sanitizer|runtime error:)", err)
            if m:
                self.fail("sanitizer report in linkemu stderr:\n" + err[m.start():m.start() + 3000])
        self.addCleanup(done)
        return e

    def raw(self, fn):
        srv = RawServer(fn)
        self.addCleanup(srv.stop)
        return srv


class Intact(Base):
    def test_10mib_each_way(self):
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, 5)})
        n = 10 * MiB
        with Conn(e.port("l"), timeout=30) as c:
            # up: the backend hashes what it received
            c.send(request("POST", "/echo", [("Content-Length", str(n))]))
            for ch in payload_chunks(n):
                c.send(ch)
            r = c.read_response(timeout=30)
            self.assertEqual(r.status, 200)
            got = json.loads(r.body)
            self.assertEqual((got["length"], got["sha256"]), (n, payload_sha256(n)))
            # down: the same pattern, checked as it arrives
            chk = PayloadChecker()
            c.send(request("GET", "/size/%d" % n))
            r = c.read_response(timeout=30, sink=chk.feed)
            self.assertEqual(r.status, 200)
            self.assertTrue(chk.ok(n), "bad byte at %s, got %d" % (chk.bad_at, chk.offset))
        st = e.stats("l")
        self.assertGreaterEqual(st["up_bytes"], n)
        self.assertGreaterEqual(st["down_bytes"], n)

    def test_jitter_never_reorders(self):
        srv = self.raw(echo)
        e = self.emu({"j": ("127.0.0.1:0", srv.addr, {"delay_ms": 20, "jitter_pct": 90})},
                     seed=7)
        sent = b"".join(b"%06d," % i for i in range(300))
        with Conn(e.port("j"), timeout=10) as c:
            for i in range(0, len(sent), 70):   # many small reads at the relay
                c.send(sent[i:i + 70])
                time.sleep(0.001)
            c.sock.shutdown(socket.SHUT_WR)
            got = c.read_until_close(timeout=10)
        self.assertEqual(got, sent)


class Delay(Base):
    def test_round_trip_at_least_both_delays(self):
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, 100)})
        for _ in range(2):
            r, dt = get(e.port("l"), "/hello")
            self.assertEqual((r.status, r.body), (200, b"far"))
            self.assertGreaterEqual(dt, 0.200)

    def test_each_direction_separately(self):
        e = self.emu({"up": ("127.0.0.1:0", self.b.addr, {"up_ms": 150, "down_ms": 0}),
                      "down": ("127.0.0.1:0", self.b.addr, {"up_ms": 0, "down_ms": 150})})
        for name in ("up", "down"):
            r, dt = get(e.port(name), "/hello")
            self.assertEqual(r.status, 200)
            self.assertGreaterEqual(dt, 0.150, name)

    def test_set_applies_to_new_requests(self):
        e = self.emu({"cn": ("127.0.0.1:0", self.b.addr, 5),
                      "hk": ("127.0.0.1:0", self.b.addr, 5)})
        e.set("cn", delay_ms=300)
        self.assertEqual((e.get("cn")["up_ms"], e.get("cn")["down_ms"]), (300, 300))
        self.assertEqual(e.get("hk")["up_ms"], 5)      # other links untouched
        r, dt = get(e.port("cn"), "/hello")
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(dt, 0.600)
        # by listen port, one direction, on an already open connection
        with Conn(e.port("hk"), timeout=10) as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)
            e.set(e.port("hk"), up_ms=250)
            t0 = time.monotonic()
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_response().status, 200)
            self.assertGreaterEqual(time.monotonic() - t0, 0.250)
        with self.assertRaises(LinkEmuError):
            e.set("cn", delay_ms="fast")
        with self.assertRaises(LinkEmuError):
            e.set("nosuch", delay_ms=1)

    def test_handshake_costs_one_more_round_trip(self):
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, {"delay_ms": 100, "handshake": 1})})
        r, dt = get(e.port("l"), "/hello")
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(dt, 0.400)


class Rate(Base):
    def test_cap_bounds_throughput(self):
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, {"delay_ms": 1, "rate_bps": "1M"})})
        n = 2000000
        chk = PayloadChecker()
        t0 = time.monotonic()
        with Conn(e.port("l"), timeout=30) as c:
            c.send(request("GET", "/size/%d" % n))
            r = c.read_response(timeout=30, sink=chk.feed)
        dt = time.monotonic() - t0
        self.assertTrue(r.status == 200 and chk.ok(n))
        self.assertGreaterEqual(dt, 1.5)

    def test_cap_is_shared_by_the_link(self):
        """Two connections on one capped link share its rate."""
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, {"down_rate_bps": 1000000})})
        n = 1000000
        res = []

        def one():
            r, _ = get(e.port("l"), "/size/%d" % n, timeout=30)
            res.append(len(r.body))
        t0 = time.monotonic()
        ts = [threading.Thread(target=one) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        dt = time.monotonic() - t0
        self.assertEqual(res, [n, n])
        self.assertGreaterEqual(dt, 1.5)
        self.assertEqual(e.stats("l")["accepted"], 2)

    def test_per_conn_cap_bounds_each_connection(self):
        """per_conn=1: each connection has its own cap, which still holds."""
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr,
                            {"down_rate_bps": 1000000, "per_conn": 1})})
        self.assertEqual(e.get("l")["per_conn"], 1)
        n = 1500000
        res = []

        def one():
            t0 = time.monotonic()
            r, _ = get(e.port("l"), "/size/%d" % n, timeout=30)
            res.append((len(r.body), time.monotonic() - t0))
        ts = [threading.Thread(target=one) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual([x[0] for x in res], [n, n])
        for _, dt in res:
            self.assertGreaterEqual(dt, 1.0)
        e.set("l", per_conn=0)
        self.assertEqual(e.get("l")["per_conn"], 0)


class Close(Base):
    def test_half_close_both_ways(self):
        def count_then_close(s):
            n = 0
            while True:
                d = s.recv(65536)
                if not d:
                    break
                n += len(d)
            s.sendall(b"got %d" % n)       # after the client's EOF arrived

        srv = self.raw(count_then_close)
        e = self.emu({"l": ("127.0.0.1:0", srv.addr, 50)})
        with Conn(e.port("l"), timeout=10) as c:
            t0 = time.monotonic()
            c.send(b"x" * 100000)
            c.sock.shutdown(socket.SHUT_WR)
            got = c.read_until_close(timeout=10)
            dt = time.monotonic() - t0
        self.assertEqual(got, b"got 100000")
        self.assertGreaterEqual(dt, 0.100)
        self.assertTrue(wait_until(lambda: e.stats("l")["active"] == 0, 5))

    def test_close_delimited_body_then_eof(self):
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, 30)})
        n = 300000
        chk = PayloadChecker()
        with Conn(e.port("l"), timeout=10) as c:
            c.send(request("GET", "/close/%d" % n))
            r = c.read_response(timeout=10, sink=chk.feed)
        self.assertTrue(r.complete and chk.ok(n))

    def test_refused_target_resets_client_after_round_trip(self):
        e = self.emu({"l": ("127.0.0.1:0", "127.0.0.1:%d" % dead_port(), 100)})
        t0 = time.monotonic()
        with Conn(e.port("l"), timeout=10) as c:
            c.send(request("GET", "/hello"))
            self.assertEqual(c.read_until_close(timeout=10), b"")
        self.assertGreaterEqual(time.monotonic() - t0, 0.200)
        self.assertEqual(e.stats("l")["failed"], 1)

    def test_reset_travels_after_data(self):
        def send_then_reset(s):
            s.recv(100)
            s.sendall(b"partial")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

        srv = self.raw(send_then_reset)
        e = self.emu({"l": ("127.0.0.1:0", srv.addr, 50)})
        with Conn(e.port("l"), timeout=10) as c:
            c.send(b"hi")
            # the data before the reset still arrives, then the connection ends
            self.assertEqual(c.read_until_close(timeout=10), b"partial")

    def test_backpressure_bounds_the_queue(self):
        stall = threading.Event()

        def never_read(s):
            stall.wait(20)

        srv = self.raw(never_read)
        self.addCleanup(stall.set)
        e = self.emu({"l": ("127.0.0.1:0", srv.addr, 1)})
        c = Conn(e.port("l"), timeout=10)
        self.addCleanup(c.close)
        c.sock.setblocking(False)
        sent, block, stalls = 0, b"z" * 65536, 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and stalls < 3:
            try:
                sent += c.sock.send(block)
                stalls = 0
            except BlockingIOError:
                stalls += 1
                time.sleep(0.2)
        wait_until(lambda: e.stats("l")["up_queued_bytes"] > 2 * MiB, 5)
        queued = e.stats("l")["up_queued_bytes"]
        self.assertGreater(queued, 2 * MiB)
        self.assertLessEqual(queued, 4 * MiB + 65536)
        self.assertLess(sent, 64 * MiB, "the relay kept reading a stalled stream")


class Process(Base):
    def test_sigterm_exits_0_with_open_connections(self):
        e = self.emu({"a": ("127.0.0.1:0", self.b.addr, 200),
                      "b": ("127.0.0.1:0", self.b.addr, 5)})
        c = Conn(e.port("a"), timeout=10)
        self.addCleanup(c.close)
        c.send(request("POST", "/echo", [("Content-Length", "1000000")]) + b"q" * 500000)
        wait_until(lambda: e.stats("a")["up_bytes"] > 0, 5)
        self.assertEqual(e.stop(signal.SIGTERM, timeout=10), 0, e.stderr())
        self.assertTrue(c.closed_within(5))

    def test_quit_after_and_shutdown_command(self):
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, 5)}, quit_after=0.5)
        self.assertEqual(e.wait(10), 0, e.stderr())
        e = self.emu({"l": ("127.0.0.1:0", self.b.addr, 5)})
        self.assertEqual(e.command("ping"), "pong")
        e.command("shutdown")
        self.assertEqual(e.wait(10), 0, e.stderr())

    def test_refuses_non_loopback_and_bad_specs(self):
        for spec in ("0.0.0.0:0=127.0.0.1:1", "127.0.0.1:0=10.0.0.1:80",
                     "[::]:0=127.0.0.1:1", "127.0.0.1:0=127.0.0.1:1,delay_ms=-1",
                     "127.0.0.1:0=127.0.0.1:1,nope=1", "127.0.0.1:0"):
            p = subprocess.run([linkemu_bin(), "--link", spec], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(p.returncode, 2, (spec, p.stderr))
        p = subprocess.run([linkemu_bin(), "--control", "192.0.2.1:1", "--link",
                            "127.0.0.1:0=127.0.0.1:1"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)


if __name__ == "__main__":
    unittest.main()
