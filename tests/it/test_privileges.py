"""Privileges (issue 16 point 8): `user:` and `group:` give up root once the
sockets are bound; running as root without them is allowed but warned
about, loudly, at start and by --check (like HAProxy; nginx switches its
workers to nobody). An unknown user stops the start."""

import os
import pwd
import grp
import subprocess
import unittest

from backend import Backend
from harness import Proxy, georoute_bin, georoute_only, request


def ids(pid):
    """{'Uid': [real, effective, saved, fs], 'Gid': [...], 'Groups': [...]} of a task."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
    return out


@georoute_only("privilege dropping is georoute's")
@unittest.skipUnless(os.geteuid() == 0, "needs root to start as root")
class Privileges(unittest.TestCase):
    def setUp(self):
        self.b = Backend().start()
        self.addCleanup(self.b.stop)

    def start(self, **extra):
        cfg = {"regions": {"main": {"backends": [self.b.addr]}}}
        cfg.update(extra)
        p = Proxy(cfg)
        os.chmod(p.dir, 0o755)  # the unprivileged process may still read its config
        p.start()
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def test_user_and_group_drop_root_in_every_thread(self):
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrnam("nogroup")
        p = self.start(user="nobody", group="nogroup")
        with p.conn() as c:
            c.send(request("GET", "/"))
            self.assertEqual(c.read_response(timeout=10).status, 200)
        tasks = os.listdir("/proc/%d/task" % p.pid)
        self.assertGreater(len(tasks), 2)  # main, a worker, control
        for t in tasks:
            st = ids(int(t))
            self.assertEqual(st["Uid"], [nobody.pw_uid] * 4, t)
            self.assertEqual(st["Gid"], [nogroup.gr_gid] * 4, t)
            self.assertEqual(st["Groups"], [], t)
        self.assertNotIn("running as root", p.stderr())

    def test_unknown_user_stops_the_start(self):
        cfg = {"regions": {"main": {"backends": [self.b.addr]}}, "user": "no-such-user-here"}
        p = Proxy(cfg, ready=False).start()
        self.addCleanup(p.__exit__, None, None, None)
        self.assertEqual(p.proc.wait(timeout=10), 1)
        self.assertIn("user no-such-user-here", p.stderr())

    def test_root_without_user_is_warned_by_check_and_start(self):
        p = self.start()
        r = subprocess.run([georoute_bin(), "--check", "-c", p.config_path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: running as root", r.stderr)
        self.assertIn("warning: running as root", p.stderr())

    def test_access_log_is_created_0640(self):
        p = self.start()
        with p.conn() as c:
            c.send(request("GET", "/"))
            self.assertEqual(c.read_response(timeout=10).status, 200)
        p.stop()
        self.assertEqual(os.stat(p.access_log).st_mode & 0o777, 0o640)

    def test_bad_names_are_config_errors(self):
        p = Proxy({"regions": {"main": {"backends": [self.b.addr]}}, "user": "a b"})
        self.addCleanup(p.__exit__, None, None, None)
        r = subprocess.run([georoute_bin(), "--check", "-c", p.config_path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r":\d+:\d+: user: not a user or group name")


if __name__ == "__main__":
    unittest.main()
