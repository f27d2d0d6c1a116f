#!/usr/bin/env python3
"""Start build/bench/linkemu and drive its control socket (stdlib only).

    from linkemu import LinkEmu          # sys.path += [REPO/bench]
    with LinkEmu(links={"cn": ("127.0.0.1:7001", "127.0.0.1:9001", 5),
                        "hk": ("127.0.0.1:0", "127.0.0.1:9002", {"up_ms": 60, "down_ms": 70}),
                        "us": ("127.0.0.1:7003", "127.0.0.1:9003")}) as emu:
        emu.addr("hk")                   # "127.0.0.1:41235" (port 0 = picked by linkemu)
        emu.set("cn", delay_ms=300)      # applies to bytes read from now on
        emu.set("*", jitter_pct=30)      # every link
        emu.get("cn")["up_ms"]           # 300
        emu.stats("cn")["accepted"]      # connections so far
    # leaving the block (or emu.stop()) sends SIGTERM to this linkemu only,
    # then SIGKILL after a timeout; stop() returns the exit code

A link is (LISTEN, TARGET), (LISTEN, TARGET, DELAY_MS) or
(LISTEN, TARGET, {KEY: VALUE}); keys as in `set`: delay_ms, up_ms, down_ms,
jitter_pct, rate_bps (BYTES per second), up_rate_bps, down_rate_bps,
handshake, per_conn (1: the caps apply to each connection, not the link). The control socket is on control= (default 127.0.0.1:0: a free
port chosen by linkemu, read from its "ready" line, in .control).

From a shell, against a running linkemu:
    python3 bench/linkemu.py -c 127.0.0.1:7000 set cn delay_ms=300
    python3 bench/linkemu.py -c 127.0.0.1:7000 stats

Binary: $LINKEMU_BIN, else $GEOROUTE_BUILD/bench/linkemu, else
build/bench/linkemu under the repository (`make tools` builds it).
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def linkemu_bin():
    b = os.environ.get("LINKEMU_BIN")
    if not b:
        build = os.environ.get("GEOROUTE_BUILD") or os.path.join(REPO, "build")
        b = os.path.join(build, "bench", "linkemu")
    return b if os.path.isabs(b) else os.path.join(REPO, b)


class LinkEmuError(Exception):
    pass


def _kv(settings):
    return ["%s=%s" % (k, int(v) if isinstance(v, bool) else v) for k, v in settings.items()]


def _parse_records(text):
    """'name=cn a=1 ; name=hk a=2' -> {'cn': {'name': 'cn', 'a': 1}, ...}"""
    out = {}
    for rec in text.split(" ; "):
        d = {}
        for w in rec.split():
            k, _, v = w.partition("=")
            d[k] = int(v) if v.isdigit() else v
        if "name" in d:
            out[d["name"]] = d
    return out


def command(control, line, timeout=5.0):
    """Sends one command line to a linkemu control address ("127.0.0.1:PORT")
    and returns its reply line (without the newline)."""
    host, _, port = control.rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
    return buf.decode().rstrip("\n")


class LinkEmu:
    """One linkemu process. A context manager; or call start() and stop()."""

    def __init__(self, links, binary=None, args=(), quit_after=None, seed=None,
                 verbose=False, start_timeout=10.0, control="127.0.0.1:0"):
        self.links = dict(links)
        self.control_arg = control
        self.binary = binary or linkemu_bin()
        self.args = list(args)
        self.quit_after = quit_after
        self.seed = seed
        self.verbose = verbose
        self.start_timeout = start_timeout
        self.proc = None
        self.control = None        # the bound control address, once started
        self.info = {}             # name -> the "link ..." line as a dict
        self.returncode = None
        self._err = tempfile.TemporaryFile()

    # -- lifecycle
    def argv(self):
        cmd = [self.binary, "--control", self.control_arg]
        for name, spec in self.links.items():
            listen, target = spec[0], spec[1]
            extra = spec[2] if len(spec) > 2 else None
            if isinstance(extra, dict):
                words = _kv(extra)
            elif extra is not None:
                words = ["delay_ms=%d" % extra]
            else:
                words = []
            cmd += ["--link", ",".join(["%s=%s=%s" % (name, listen, target)] + words)]
        if self.quit_after is not None:
            cmd += ["--quit-after", str(self.quit_after)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        if self.verbose:
            cmd.append("-v")
        return cmd + self.args

    def start(self):
        if not os.path.exists(self.binary):
            raise LinkEmuError("no linkemu at %s (make tools)" % self.binary)
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err)
        lines = []

        def read_ready():
            for raw in self.proc.stdout:
                line = raw.decode().rstrip("\n")
                lines.append(line)
                if line.startswith("ready "):
                    return

        t = threading.Thread(target=read_ready, daemon=True)
        t.start()
        t.join(self.start_timeout)
        if not lines or not lines[-1].startswith("ready "):
            self.kill()
            raise LinkEmuError("linkemu did not start (%s):\n%s" % (
                "exit %s" % self.returncode if self.returncode is not None else "timeout",
                self.stderr()))
        for line in lines:
            if line.startswith("link "):
                self.info.update(_parse_records(line[5:]))
        self.control = lines[-1].split("control=", 1)[1]
        return self

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signals this linkemu (its own PID only) and waits; SIGKILL if it
        has not exited after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.returncode = self.proc.poll()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.returncode

    def kill(self):
        if self.running():
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.returncode = self.proc.poll()

    def wait(self, timeout=10.0):
        """Waits for linkemu to exit by itself; the exit code or None."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stderr(self):
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")

    # -- addresses
    def addr(self, name):
        """The link's bound listen address, e.g. "127.0.0.1:41235"."""
        return self.info[name]["listen"]

    def port(self, name):
        return int(self.addr(name).rsplit(":", 1)[1])

    # -- control
    def command(self, line, timeout=5.0):
        """Sends one control line; returns the reply after "ok" (raises
        LinkEmuError on "err ...")."""
        reply = command(self.control, line, timeout)
        if reply == "ok" or reply.startswith("ok "):
            return reply[3:]
        raise LinkEmuError("linkemu: %s -> %s" % (line, reply or "(no reply)"))

    def set(self, name, **settings):
        """Changes a link's settings (name, listen port or "*"), e.g.
        set("cn", delay_ms=300) or set("hk", up_ms=250, jitter_pct=30)."""
        self.command(" ".join(["set", str(name)] + _kv(settings)))

    def get(self, name):
        """The link's current settings as a dict (ints where numeric)."""
        return _parse_records(self.command("get %s" % name))[self._name(name)]

    def stats(self, name=None):
        """Counters of one link as a dict, or of every link as {name: dict}."""
        recs = _parse_records(self.command("stats %s" % (name if name is not None else "*")))
        return recs[self._name(name)] if name is not None else recs

    def _name(self, name):
        """A link's name, from its name or its listen port."""
        name = str(name)
        if name not in self.info and name.isdigit():
            for n in self.info:
                if self.port(n) == int(name):
                    return n
        return name


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Send control commands to a running linkemu.")
    ap.add_argument("-c", "--control", required=True, help="control address, 127.0.0.1:PORT")
    ap.add_argument("words", nargs="+", help="a command, e.g. set cn delay_ms=300")
    a = ap.parse_args(argv)
    reply = command(a.control, " ".join(a.words))
    print(reply)
    return 0 if reply.startswith("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
