"""File descriptors (issue 16 point 1): clients get what the fd limit leaves
after listeners, pools, probes, DNS, admin and logs, so a flood of idle
client connections never costs probes or admin their descriptors.

Each case starts georoute under a low RLIMIT_NOFILE (soft = hard, so the
start-up raise to the hard limit cannot help) and checks what it says and
what it keeps doing.
"""

import json
import os
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from backend import Backend
from harness import Proxy, free_port, georoute_bin, georoute_only, nofile_limit, wait_until

LIMIT = 256
PX_FDS_ADMIN = 64  # proxy/base/fds.h: admin connections the budget keeps room for


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def admin_json(port, path="/status"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return json.loads(r.read())


def served(port):
    """Whether a request is answered 200. A 503 is "not yet": right after
    a flood that filled the client cap closes, a new connection can come
    before georoute has read every EOF, and is refused over the cap."""
    try:
        return urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5).status == 200
    except urllib.error.HTTPError as e:
        if e.code != 503:
            raise
        return False


def backends_up(status):
    return [b for r in status["regions"] for b in r["backends"] if b.get("up")]


@georoute_only("the fd budget is georoute's")
class FdBudget(unittest.TestCase):
    def setUp(self):
        self.b = Backend().start()
        self.addCleanup(self.b.stop)
        self.admin = free_port()

    def config(self, **limits):
        lim = {"max_client_connections": 10000, "upstream_pool_size": 4}
        lim.update(limits)
        return {
            "workers": 1,
            "limits": lim,
            "admin": {"listen": "127.0.0.1:%d" % self.admin},
            "regions": {"main": {"backends": [self.b.addr],
                                 "probe": {"type": "tcp", "interval": "200ms",
                                           "timeout": "150ms"}}},
        }

    def start(self, nofile=LIMIT, **limits):
        p = Proxy(self.config(**limits), nofile=nofile).start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def test_check_and_start_say_the_cap(self):
        p = Proxy(self.config())
        self.addCleanup(p.__exit__, None, None, None)
        r = subprocess.run([georoute_bin(), "--check", "-c", p.config_path], capture_output=True,
                           text=True, timeout=30, preexec_fn=nofile_limit(LIMIT))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"max_client_connections 10000 needs \d+ file descriptors")
        self.assertRegex(r.stderr, r"the limit is %d: clients are capped at \d+" % LIMIT)
        p.start()
        self.assertTrue(wait_until(lambda: "clients are capped at" in p.stderr(), 5), p.stderr())

    def test_no_room_at_all_refuses_to_start(self):
        p = Proxy(self.config(), nofile=40, ready=False).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.assertEqual(p.proc.wait(timeout=10), 1)
        self.assertIn("does not cover", p.stderr())

    def test_idle_flood_keeps_probes_and_admin(self):
        p = self.start()
        self.assertTrue(wait_until(lambda: backends_up(admin_json(self.admin)), 10))
        flood = []
        self.addCleanup(lambda: [s.close() for s in flood])
        for _ in range(LIMIT + 100):  # more than the whole limit
            try:
                flood.append(socket.create_connection(("127.0.0.1", p.port), timeout=2))
            except OSError:
                break
        # The clients took what they may, and a reserve is left: the admin
        # listener's connections and one probe per backend fit in it.
        time.sleep(0.5)
        self.assertTrue(wait_until(lambda: open_fds(p.pid) < LIMIT - PX_FDS_ADMIN, 5),
                        "%d of %d descriptors in use under the flood" % (open_fds(p.pid), LIMIT))
        # Several probe intervals (TCP probes: a new descriptor each) pass
        # under the flood; the backend stays up and admin answers.
        time.sleep(2.0)
        st = admin_json(self.admin)
        self.assertTrue(backends_up(st), json.dumps(st)[:2000])
        self.assertNotIn("too many open files", p.stderr())
        for s in flood:
            s.close()
        flood.clear()
        self.assertTrue(wait_until(lambda: served(p.port), 10), p.stderr()[-2000:])


if __name__ == "__main__":
    unittest.main()
