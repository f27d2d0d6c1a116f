"""systemd's readiness protocol (Type=notify): the real binary, started with
NOTIFY_SOCKET pointing at a datagram socket the test owns, must send
READY=1 once it serves (data port and admin port both answer),
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around every SIGHUP reload,
good or bad, and STOPPING=1 on SIGTERM. Every datagram must come from the
main PID (SCM_CREDENTIALS), as NotifyAccess=main requires, even those the
control thread sends. The abstract-namespace form ('@name') works too, and
a NOTIFY_SOCKET nobody listens on costs a warning, not the start."""

import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import time
import unittest

from backend import Backend
from harness import Proxy, free_port, georoute_only, port_open, wait_until
from test_admin import http


class NotifySocket:
    """An AF_UNIX datagram socket standing in for the service manager."""

    def __init__(self, name):
        self.name = name  # NOTIFY_SOCKET's value: a path, or '@' + abstract name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)

    def close(self):
        self.sock.close()

    def recv(self, timeout=10.0):
        """(text, sender pid) of the next datagram; raises on timeout."""
        self.sock.settimeout(timeout)
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        return data.decode(), pid

    def expect(self, pattern, pid, timeout=10.0):
        """The next datagram, which must match pattern and come from pid."""
        text, sender = self.recv(timeout)
        if not re.fullmatch(pattern, text):
            raise AssertionError("notify datagram %r does not match %r" % (text, pattern))
        if sender != pid:
            raise AssertionError("datagram %r from pid %s, not the main pid %s"
                                 % (text, sender, pid))
        return text

    def idle(self, timeout=0.3):
        """True when nothing more arrives within timeout."""
        try:
            self.recv(timeout)
        except socket.timeout:
            return True
        return False


def start_with(cfg, notify_socket, ready=False):
    """A started Proxy whose environment holds NOTIFY_SOCKET. The harness
    copies os.environ when it starts the process, so it is set only for
    that moment."""
    p = Proxy(cfg, ready=ready)
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = notify_socket
    try:
        p.start()
    finally:
        if old is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = old
    return p


@georoute_only("the notification protocol is georoute's")
class Notify(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-notify-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.b = Backend("b1").start()
        self.addCleanup(self.b.stop)
        self.admin = free_port()
        self.cfg = {"workers": 2, "admin": "127.0.0.1:%d" % self.admin,
                    "regions": {"main": {"backends": [self.b.addr]}}}

    def listener(self, name):
        n = NotifySocket(name)
        self.addCleanup(n.close)
        return n

    def proxy(self, name, ready=False):
        p = start_with(self.cfg, name, ready)
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def test_ready_reload_stopping(self):
        n = self.listener(os.path.join(self.dir, "notify"))
        p = self.proxy(n.name)
        n.expect(r"READY=1", p.pid)
        # Ready means serving: both listeners answer at once, no polling.
        self.assertTrue(port_open(p.port), "data port closed at READY=1")
        self.assertEqual(http(self.admin, "/healthz")[0], 200, "admin down at READY=1")
        self.assertTrue(n.idle(), "more than one READY=1 at start")

        # A good reload, from the control thread: RELOADING=1 with a
        # monotonic stamp of about now, then READY=1.
        before = time.monotonic_ns() // 1000
        p.send_signal(signal.SIGHUP)
        text = n.expect(r"RELOADING=1\nMONOTONIC_USEC=\d+", p.pid)
        stamp = int(text.split("=")[-1])
        self.assertTrue(before <= stamp <= time.monotonic_ns() // 1000, (before, stamp))
        n.expect(r"READY=1", p.pid)
        self.assertTrue(wait_until(lambda: "event=reload result=ok" in p.stderr(), 5))

        # A bad file changes nothing and the manager still hears READY=1.
        with open(p.config_path, "a") as f:
            f.write("no_such_key: 1\n")
        p.send_signal(signal.SIGHUP)
        n.expect(r"RELOADING=1\nMONOTONIC_USEC=\d+", p.pid)
        n.expect(r"READY=1", p.pid)
        self.assertTrue(wait_until(lambda: "event=reload result=failed" in p.stderr(), 5))

        p.send_signal(signal.SIGTERM)
        n.expect(r"STOPPING=1", p.pid)
        self.assertEqual(p.wait(10), 0, p.stderr())
        self.assertTrue(n.idle(), "a datagram after STOPPING=1")

    def test_abstract_namespace(self):
        n = self.listener("@georoute-it-notify-%d-%d" % (os.getpid(), time.monotonic_ns()))
        p = self.proxy(n.name)
        n.expect(r"READY=1", p.pid)
        self.assertEqual(p.stop(timeout=10), 0, p.stderr())
        n.expect(r"STOPPING=1", p.pid)

    def test_nobody_listening_is_only_a_warning(self):
        p = self.proxy(os.path.join(self.dir, "nobody-here"), ready=True)
        self.assertTrue(wait_until(lambda: "event=notify_failed" in p.stderr(), 5), p.stderr())
        self.assertEqual(http(self.admin, "/healthz")[0], 200)
        self.assertEqual(p.stop(timeout=10), 0, p.stderr())


if __name__ == "__main__":
    unittest.main()
