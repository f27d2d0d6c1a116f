#!/usr/bin/env python3
"""proxy/control/dns.c against a real dnsmasq (Debian `dnsmasq`).

Each test starts dnsmasq on 127.0.0.1:<free port>, serving A/AAAA records
from a hosts file the test writes (--addn-hosts, re-read on SIGHUP) and SRV
records from --srv-host, with TTL 1 s (--local-ttl) and NXDOMAIN for any
other name under .test (--local=/test/). It never reads the system config
(--conf-file=/dev/null) and is stopped by the PID from its pid file.

The C side is build/tests/tools/dnswatch (`make tools`): a uv loop running
px_dns that prints one line per watch callback ("CB name addrs weights=...
ttl_ms=...") and per new failure ("ERR name err=... failures=N kept=N"), and
answers "info" / "stats" / "quit" on stdin (see its header comment).

Standalone: python3 tests/it/test_dns.py. Environment: GEOROUTE_BUILD
(default: build in the repository).
"""

import os
import pwd
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import free_port, wait_until

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GEOROUTE_BUILD") or os.path.join(TOP, "build")
DNSWATCH = os.path.join(BUILD, "tests", "tools", "dnswatch")
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
KEEP = bool(os.environ.get("IT_KEEP"))

HOSTS = """\
127.0.0.2 a.test
::2 a.test
127.0.0.3 b.test
127.0.0.4 c.test
127.0.0.6 d.test
127.0.0.7 v4.test
::7 v6.test
"""

SRV = [
    # name, target, port, priority, weight
    ("_http._tcp.s.test", "a.test", 8080, 10, 5),
    ("_http._tcp.s.test", "b.test", 8081, 10, 10),
    ("_http._tcp.s.test", "d.test", 8083, 10, 0),
    ("_http._tcp.s.test", "c.test", 8082, 20, 50),
]


def dns_query(port, name, qtype=1, timeout=0.5):
    """One UDP query to 127.0.0.1:port; returns the rcode or None on no answer."""
    tid = random.randrange(65536)
    q = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            d = s.recv(4096)
        except OSError:
            return None
    return d[3] & 15 if len(d) >= 12 and d[:2] == q[:2] else None


class Dnsmasq:
    """dnsmasq in the foreground (-k) on a loopback port, stopped by PID."""

    def __init__(self, hosts=HOSTS, srv=SRV):
        self.dir = tempfile.mkdtemp(prefix="georoute-dns-")
        os.chmod(self.dir, 0o755)  # readable after dnsmasq drops privileges
        self.hosts_path = os.path.join(self.dir, "hosts")
        self.pid_path = os.path.join(self.dir, "dnsmasq.pid")
        self.srv = srv
        self.port = None
        self.proc = None
        self.write_hosts(hosts)

    def write_hosts(self, text):
        tmp = self.hosts_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.hosts_path)

    def start(self, port=None):
        self.port = port or free_port()
        if os.path.exists(self.pid_path):
            os.unlink(self.pid_path)
        args = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
                "--port=%d" % self.port, "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--addn-hosts=" + self.hosts_path,
                "--local=/test/", "--local-ttl=1", "--pid-file=" + self.pid_path,
                "--user=" + pwd.getpwuid(os.getuid()).pw_name,
                "--log-facility=" + os.path.join(self.dir, "dnsmasq.log")]
        args += ["--srv-host=%s,%s,%d,%d,%d" % r for r in self.srv]
        with open(os.path.join(self.dir, "stderr"), "ab") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        ok = wait_until(lambda: self.pid() is not None and dns_query(self.port, "a.test") == 0,
                        timeout=5)
        if not ok:
            self.stop()
            raise RuntimeError("dnsmasq did not start: %s" % self.stderr())
        return self

    def pid(self):
        try:
            with open(self.pid_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def reload(self):
        os.kill(self.pid(), signal.SIGHUP)

    def stop(self):
        if self.proc is None:
            return
        pid = self.pid() or self.proc.pid
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "stderr"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


class Watcher:
    """build/tests/tools/dnswatch as a subprocess; stdout lines collected with times."""

    def __init__(self, server_port, names, srv=(), family="any", extra=(), duration="60s"):
        self.dir = tempfile.mkdtemp(prefix="georoute-dnswatch-")
        self.stderr_path = os.path.join(self.dir, "stderr")
        args = [DNSWATCH, "--server", "127.0.0.1:%d" % server_port, "--min-ttl", "1s",
                "--max-ttl", "1s", "--timeout", "300ms", "--retry-max", "1s",
                "--family", family, "--duration", duration] + list(extra)
        for s in srv:
            args += ["--srv", s]
        args += list(names)
        self.lines = []  # (monotonic time, line)
        self.lock = threading.Lock()
        try:
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=err, text=True, bufsize=1)
        except OSError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.wait_line(lambda l: l == "READY", timeout=5):
            err = self.stderr()
            self.cleanup()  # the caller gets no Watcher to clean up
            raise RuntimeError("dnswatch did not start: %s" % err)

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def wait_line(self, pred, timeout=5.0, after=0.0):
        """The first (time, line) after `after` whose line satisfies pred, or None."""
        def find():
            for t, l in self.snapshot():
                if t >= after and pred(l):
                    return (t, l)
            return None
        return wait_until(find, timeout=timeout)

    def callbacks(self, name):
        """[(time, addrs, weights)] of the CB lines for name."""
        out = []
        for t, l in self.snapshot():
            m = re.match(r"CB (\S+) (\S+) weights=(\S+) ttl_ms=\d+$", l)
            if m and m.group(1) == name:
                out.append((t, m.group(2), m.group(3)))
        return out

    def errors(self, name):
        return [l for _, l in self.snapshot() if l.startswith("ERR %s " % name)]

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def info(self, timeout=1.0):
        """Sends "info"; returns ({name: {field: value}}, seconds it took)."""
        t0 = time.monotonic()
        n_before = len(self.snapshot())
        self.send("info")
        end = self.wait_line(lambda l: l == "INFO-END", timeout=timeout, after=t0)
        if end is None:
            return None, None
        out = {}
        for t, l in self.snapshot()[n_before:]:
            if l.startswith("INFO "):
                parts = l.split()
                out[parts[1]] = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        return out, end[0] - t0

    def stats(self):
        t0 = time.monotonic()
        self.send("stats")
        got = self.wait_line(lambda l: l.startswith("STATS "), timeout=2, after=t0)
        return dict(p.split("=", 1) for p in got[1].split()[1:]) if got else None

    def quit(self, timeout=5.0):
        """Ends the run; returns the CLOSED line (uv_loop_close result)."""
        try:
            self.send("quit")
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=2)
        closed = [l for _, l in self.snapshot() if l.startswith("CLOSED ")]
        return closed[-1] if closed else None

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=2)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq not installed (.ci/deps test)")
@unittest.skipUnless(os.path.exists(DNSWATCH), "build/tests/tools/dnswatch missing (make tools)")
class DnsWatch(unittest.TestCase):
    def setUp(self):
        # cleanups, not tearDown: they run when setUp fails half way too
        d = Dnsmasq()
        self.addCleanup(d.cleanup)
        self.dnsmasq = d.start()

    def watcher(self, *a, **kw):
        w = Watcher(self.dnsmasq.port, *a, **kw)
        self.addCleanup(w.cleanup)
        return w

    def finish(self, w):
        closed = w.quit()
        self.assertEqual(closed, "CLOSED loop_close=0 dns_freed=1", w.stderr())
        self.assertEqual(w.proc.returncode, 0)
        self.assertNotIn("Sanitizer", w.stderr())

    def test_a_aaaa_and_family(self):
        names = ["a.test:80", "v4.test:81", "v6.test:82"]
        want = {
            "any": {"a.test": "127.0.0.2:80,[::2]:80", "v4.test": "127.0.0.7:81",
                    "v6.test": "[::7]:82"},
            "ipv4": {"a.test": "127.0.0.2:80", "v4.test": "127.0.0.7:81", "v6.test": None},
            "ipv6": {"a.test": "[::2]:80", "v4.test": None, "v6.test": "[::7]:82"},
            "prefer-ipv4": {"a.test": "127.0.0.2:80", "v4.test": "127.0.0.7:81",
                            "v6.test": "[::7]:82"},
            "prefer-ipv6": {"a.test": "[::2]:80", "v4.test": "127.0.0.7:81",
                            "v6.test": "[::7]:82"},
        }
        ws = {fam: self.watcher(names, family=fam) for fam in want}
        for fam, w in ws.items():
            for name, addrs in want[fam].items():
                with self.subTest(family=fam, name=name):
                    if addrs is None:
                        got = w.wait_line(lambda l, n=name: l.startswith("ERR %s " % n))
                        self.assertIsNotNone(got, w.snapshot())
                        self.assertIn("err=EDNS_NOTFOUND", got[1])
                        self.assertEqual(w.callbacks(name), [])
                    else:
                        got = w.wait_line(lambda l, n=name: l.startswith("CB %s " % n))
                        self.assertIsNotNone(got, w.snapshot())
                        self.assertEqual(w.callbacks(name)[0][1], addrs)
        for w in ws.values():
            self.finish(w)

    def test_records_change_and_the_set_follows(self):
        w = self.watcher(["a.test:80", "b.test:81"])
        self.assertIsNotNone(w.wait_line(lambda l: l.startswith("CB a.test ")))
        self.assertIsNotNone(w.wait_line(lambda l: l.startswith("CB b.test ")))
        self.assertEqual(w.callbacks("a.test")[0][1], "127.0.0.2:80,[::2]:80")

        # a.test loses its AAAA and moves to a new IPv4 address; b.test gains one.
        self.dnsmasq.write_hosts(HOSTS.replace("127.0.0.2 a.test", "127.0.0.5 a.test")
                                 .replace("::2 a.test\n", "") + "127.0.0.8 b.test\n")
        t0 = time.monotonic()
        self.dnsmasq.reload()
        got = w.wait_line(lambda l: l.startswith("CB a.test 127.0.0.5:80 "), timeout=3, after=t0)
        self.assertIsNotNone(got, w.snapshot())
        self.assertLessEqual(got[0] - t0, 2.0, "not within TTL (1 s) + 1 s")
        got = w.wait_line(lambda l: l.startswith("CB b.test 127.0.0.3:81,127.0.0.8:81 "),
                          timeout=3, after=t0)
        self.assertIsNotNone(got, w.snapshot())
        self.assertLessEqual(got[0] - t0, 2.0)

        # Re-resolutions that change nothing make no callback.
        time.sleep(2.2)
        self.assertEqual(len(w.callbacks("a.test")), 2, w.snapshot())
        self.assertEqual(len(w.callbacks("b.test")), 2, w.snapshot())
        st = w.stats()
        self.assertGreaterEqual(int(st["queries"]), 8)
        self.assertEqual(st["failures"], "0")
        self.finish(w)

    def test_server_down_keeps_last_good(self):
        w = self.watcher(["a.test:80"], srv=["_http._tcp.s.test"], family="ipv4")
        self.assertIsNotNone(w.wait_line(lambda l: l.startswith("CB a.test ")))
        self.assertIsNotNone(w.wait_line(lambda l: l.startswith("CB _http._tcp.s.test ")))
        port = self.dnsmasq.port
        self.dnsmasq.stop()

        # Retries at 1 s then the 1 s cap: a few failures within 3.5 s.
        got = w.wait_line(lambda l: re.match(r"ERR a\.test .*failures=3 ", l), timeout=6)
        self.assertIsNotNone(got, w.snapshot())
        self.assertRegex(got[1], r"err=EDNS_UNREACHABLE failures=3 kept=1$")
        self.assertIsNotNone(
            w.wait_line(lambda l: re.match(r"ERR _http\._tcp\.s\.test .*failures=2 ", l)))
        self.assertEqual(len(w.callbacks("a.test")), 1, "no callback while failing")
        self.assertEqual(len(w.callbacks("_http._tcp.s.test")), 1)
        info, _ = w.info()
        self.assertEqual(info["a.test"]["addrs"], "127.0.0.2:80")
        self.assertEqual(info["a.test"]["err"], "EDNS_UNREACHABLE")
        self.assertEqual(info["_http._tcp.s.test"]["err"], "EDNS_UNREACHABLE")
        self.assertNotEqual(info["_http._tcp.s.test"]["addrs"], "-")
        st = w.stats()
        self.assertGreaterEqual(int(st["failures"]), 5)
        self.assertEqual(st["failures"], st["unreachable"])
        logs = w.stderr()
        self.assertEqual(len(re.findall(r"event=dns_failed name=a\.test ", logs)), 1, logs)
        self.assertEqual(len(re.findall(r"event=dns_failed name=_http\._tcp\.s\.test ", logs)), 1)

        # The server comes back with a changed record: the set follows, recovery logged once.
        self.dnsmasq.write_hosts(HOSTS.replace("127.0.0.2 a.test", "127.0.0.9 a.test"))
        t0 = time.monotonic()
        self.dnsmasq.start(port=port)
        got = w.wait_line(lambda l: l.startswith("CB a.test 127.0.0.9:80 "), timeout=3, after=t0)
        self.assertIsNotNone(got, w.snapshot())
        logs = w.stderr()
        self.assertEqual(len(re.findall(r"event=dns_recovered name=a\.test ", logs)), 1, logs)
        info, _ = w.info()
        self.assertEqual(info["a.test"]["err"], "OK")
        self.assertEqual(info["a.test"]["last_err"], "EDNS_UNREACHABLE")
        self.finish(w)

    def test_srv_uses_lowest_priority_only(self):
        w = self.watcher([], srv=["_http._tcp.s.test"], family="ipv4")
        got = w.wait_line(lambda l: l.startswith("CB _http._tcp.s.test "))
        self.assertIsNotNone(got, w.snapshot())
        # Priority 10: a (w5), b (w10), d (w0 -> 1); c (priority 20) is not used.
        self.assertEqual(got[1], "CB _http._tcp.s.test 127.0.0.2:8080,127.0.0.3:8081,"
                                 "127.0.0.6:8083 weights=5,10,1 ttl_ms=1000")
        info, _ = w.info()
        self.assertNotIn("127.0.0.4", info["_http._tcp.s.test"]["addrs"])

        # A target's address changes: the SRV set follows at the next TTL.
        self.dnsmasq.write_hosts(HOSTS.replace("127.0.0.3 b.test", "127.0.0.33 b.test"))
        t0 = time.monotonic()
        self.dnsmasq.reload()
        got = w.wait_line(lambda l: l.startswith("CB _http._tcp.s.test ") and "127.0.0.33:8081"
                          in l, timeout=3, after=t0)
        self.assertIsNotNone(got, w.snapshot())
        self.assertLessEqual(got[0] - t0, 2.0)
        self.finish(w)

    def test_never_resolving_name_is_reported_and_loop_stays_responsive(self):
        w = self.watcher(["never.test:80", "a.test:80"], srv=["_http._tcp.never.test"])
        self.assertIsNotNone(w.wait_line(lambda l: l.startswith("CB a.test ")))
        got = w.wait_line(lambda l: re.match(r"ERR never\.test .*failures=2 ", l), timeout=4)
        self.assertIsNotNone(got, w.snapshot())
        self.assertIn("err=EDNS_NOTFOUND", got[1])
        self.assertIn("kept=0", got[1])
        # The loop answers at once, again and again, while the name keeps failing.
        for _ in range(5):
            info, took = w.info(timeout=1.0)
            self.assertIsNotNone(info, "dnswatch did not answer: %s" % w.snapshot())
            self.assertLess(took, 0.5)
            self.assertEqual(info["never.test"]["addrs"], "-")
            self.assertEqual(info["never.test"]["err"], "EDNS_NOTFOUND")
            self.assertEqual(info["never.test"]["ok_age_ms"], "-1")
            self.assertEqual(info["_http._tcp.never.test"]["err"], "EDNS_NOTFOUND")
            self.assertEqual(info["a.test"]["err"], "OK")
            time.sleep(0.2)
        self.assertEqual(w.callbacks("never.test"), [])
        self.assertEqual(w.callbacks("_http._tcp.never.test"), [])
        logs = w.stderr()
        self.assertEqual(len(re.findall(r"event=dns_failed name=never\.test ", logs)), 1, logs)
        self.assertIn("err=EDNS_NOTFOUND", logs)
        # Unwatching it mid-flight is fine too.
        w.send("unwatch never.test")
        self.assertIsNotNone(w.wait_line(lambda l: l == "UNWATCHED never.test"))
        info, _ = w.info()
        self.assertNotIn("never.test", info)
        self.finish(w)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    print("%d passed, %d failed" % (r.testsRun - len(r.failures) - len(r.errors) - len(r.skipped),
                                    len(r.failures) + len(r.errors)))
    sys.exit(0 if r.wasSuccessful() else 1)
