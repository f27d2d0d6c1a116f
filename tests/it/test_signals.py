"""Signals like nginx (issue 17.3, D2, D8): SIGUSR1 reopens the access log,
signals georoute does not use are ignored, and SIGTERM starts a lame duck
(/readyz 503 while still serving) before the drain."""

import os
import re
import signal
import unittest

from backend import Backend
from harness import Proxy, georoute_only, request, wait_until
from test_admin import http


@georoute_only("georoute's signals")
class Base(unittest.TestCase):
    def setUp(self):
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)

    def proxy(self, **extra):
        cfg = {"workers": 2, "regions": {"main": {"backends": [self.b.addr]}}}
        cfg.update(extra)
        p = Proxy(cfg).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.admin = int(p.config["admin"]["listen"].rsplit(":", 1)[1])
        return p

    def get(self, p, target):
        """One request on a new connection; its status."""
        with p.conn() as c:
            c.send(request("GET", target, headers=[("Connection", "close")]))
            return c.read_response().status

    def requests_in(self, path):
        try:
            with open(path) as f:
                return re.findall(r"/hello\?n=(\d+)", f.read())
        except OSError:
            return []


class Reopen(Base):
    def test_usr1_reopens_access_log_and_loses_nothing(self):
        p = self.proxy()
        n = 40
        for i in range(n // 2):
            self.assertEqual(self.get(p, "/hello?n=%d" % i), 200)
        # logrotate's move: the workers still hold (and buffer for) the old file
        rotated = p.access_log + ".1"
        os.rename(p.access_log, rotated)
        p.send_signal(signal.SIGUSR1)
        self.assertTrue(wait_until(lambda: "event=access_log_reopen result=ok" in p.stderr(), 10),
                        p.stderr())
        self.assertTrue(os.path.exists(p.access_log), "SIGUSR1 did not create the file again")
        for i in range(n // 2, n):
            self.assertEqual(self.get(p, "/hello?n=%d" % i), 200)
        self.assertTrue(p.running(), "SIGUSR1 stopped the process")
        self.assertEqual(p.stop(timeout=10), 0, p.stderr())

        old, new = self.requests_in(rotated), self.requests_in(p.access_log)
        self.assertEqual(sorted(old + new, key=int), [str(i) for i in range(n)],
                         "every request's line in exactly one file")
        self.assertTrue(new, "nothing written to the reopened file")
        self.assertIn("0", old, "a line from before the rotation went to the new file")

    def test_usr1_reopen_repeated_quickly(self):
        p = self.proxy()
        total = 0
        for round_ in range(5):
            for i in range(4):
                self.assertEqual(self.get(p, "/hello?n=%d" % total), 200)
                total += 1
            os.rename(p.access_log, "%s.%d" % (p.access_log, round_))
            p.send_signal(signal.SIGUSR1)
            p.send_signal(signal.SIGUSR1)  # a second one before the workers switched
            self.assertTrue(wait_until(lambda: os.path.exists(p.access_log), 10))
        self.assertEqual(p.stop(timeout=10), 0, p.stderr())
        seen = self.requests_in(p.access_log)
        for round_ in range(5):
            seen += self.requests_in("%s.%d" % (p.access_log, round_))
        self.assertEqual(sorted(seen, key=int), [str(i) for i in range(total)])


class Ignored(Base):
    SIGNALS = ["SIGUSR2", "SIGWINCH", "SIGALRM", "SIGTTIN", "SIGTTOU", "SIGVTALRM", "SIGPROF",
               "SIGIO", "SIGPWR", "SIGXCPU", "SIGXFSZ", "SIGSTKFLT"]

    def test_unused_signals_do_not_stop_the_process(self):
        p = self.proxy()
        sigs = [getattr(signal, s) for s in self.SIGNALS if hasattr(signal, s)]
        sigs += [signal.SIGRTMIN, signal.SIGRTMIN + 5, signal.SIGRTMAX]
        for k, sig in enumerate(sigs):
            with self.subTest(signal=sig):
                p.send_signal(sig)
                self.assertEqual(self.get(p, "/hello?n=%d" % k), 200)
                self.assertTrue(p.running(), "stopped by signal %d" % sig)
                with open("/proc/%d/stat" % p.pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                self.assertNotEqual(state, "T", "stopped (job control) by signal %d" % sig)
        self.assertEqual(p.stop(timeout=10), 0, p.stderr())
        self.assertEqual(len(self.requests_in(p.access_log)), len(sigs))


class LameDuck(Base):
    def test_sigterm_fails_readyz_then_serves_then_exits_0(self):
        # 3 s, not 1: the new connection below must land inside the lame
        # duck even on a loaded machine; the length only bounds the wait.
        p = self.proxy(timeouts={"lame_duck": "3s"})
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))
        p.send_signal(signal.SIGTERM)
        # The signal reaches the main loop asynchronously: wait (bounded) for it.
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 503, 2))
        st, _, body = http(self.admin, "/readyz")
        self.assertEqual((st, body), (503, b"not ready: shutting down\n"))
        self.assertEqual(self.get(p, "/hello?n=1"), 200, "new connection refused in the lame duck")
        self.assertEqual(p.wait(20), 0, p.stderr())
        self.assertIn("event=drain", p.stderr())
        self.assertEqual(self.requests_in(p.access_log), ["1"])

    def test_second_sigterm_cuts_the_lame_duck_short(self):
        p = self.proxy(timeouts={"lame_duck": "1h"})
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 200, 10))
        p.send_signal(signal.SIGTERM)
        self.assertTrue(wait_until(lambda: http(self.admin, "/readyz")[0] == 503, 10))
        self.assertEqual(self.get(p, "/hello?n=1"), 200)
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(20), 0, "did not drain on the second signal:\n" + p.stderr())
        self.assertIn("event=lame_duck_cut signal=INT", p.stderr())


if __name__ == "__main__":
    unittest.main()
