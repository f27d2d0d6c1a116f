"""make install and uninstall (issue: packaging): every file lands where
PREFIX and DESTDIR say, with no @NAME@ placeholder left; the installed
binary accepts the installed example config (`--check`); the man page
lints clean; the logrotate snippet parses; `systemd-analyze verify`
accepts the unit when systemd-analyze can run here; a reinstall keeps an
edited config and uninstall removes everything else.

Two layouts: DESTDIR=<tmp> PREFIX=/usr, as a package build does (the tree
is not at its final place, so the config and unit are checked through
copies whose /usr paths point into DESTDIR), and PREFIX=<tmp>/usr with
no DESTDIR, where the installed files are checked untouched."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import REPO, run

BUILD = os.environ.get("GEOROUTE_BUILD") or os.path.join(REPO, "build")
# Relative when it can be, as make spells it, so that the dependency files
# the build wrote (which name build/...) still apply.
MAKE_BUILD = os.path.relpath(BUILD, REPO) if BUILD.startswith(REPO + os.sep) else BUILD

FILES = {  # path under the prefix's root -> mode
    "usr/sbin/georoute": 0o755,
    "usr/share/man/man8/georoute.8": 0o644,
    "usr/share/georoute/demo-geo.mmdb": 0o644,
    "usr/share/georoute/georoute.yaml.example": 0o644,
    "usr/etc/georoute/georoute.yaml": 0o644,
    "usr/lib/systemd/system/georoute.service": 0o644,
    "etc/logrotate.d/georoute": 0o644,
}


def make(*args):
    """`make ARGS` in the repository on the suite's build directory. The
    environment of an outer make (jobserver, command-line variables) is
    dropped: this is a make of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return run(["make", "--no-print-directory", "-C", REPO, "BUILD=" + MAKE_BUILD] + list(args),
               timeout=600, env=env)


def analyze_verify(unit, manpath):
    """(returncode, output) of systemd-analyze verify on UNIT, or None when
    systemd-analyze is missing or cannot verify even a trivial unit here."""
    if shutil.which("systemd-analyze") is None:
        return None
    env = dict(os.environ, MANPATH=manpath)
    d = tempfile.mkdtemp(prefix="georoute-verify-")
    try:
        probe = os.path.join(d, "georoute-probe.service")
        with open(probe, "w") as f:
            f.write("[Service]\nType=oneshot\nExecStart=/bin/true\n")
        r = run(["systemd-analyze", "verify", "--man=no", probe], timeout=60, env=env)
        if r.returncode != 0:
            return None
    finally:
        shutil.rmtree(d, ignore_errors=True)
    r = run(["systemd-analyze", "verify", unit], timeout=60, env=env)
    return r.returncode, (r.stdout + r.stderr).strip()


class Install(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-install-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def install(self, *args):
        r = make("install", *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def assert_tree(self, root):
        for rel, mode in FILES.items():
            p = os.path.join(root, rel)
            self.assertTrue(os.path.isfile(p), "%s not installed" % rel)
            self.assertEqual(os.stat(p).st_mode & 0o777, mode, rel)
        for rel in ("usr/share/man/man8/georoute.8", "usr/etc/georoute/georoute.yaml",
                    "usr/lib/systemd/system/georoute.service"):
            with open(os.path.join(root, rel)) as f:
                left = re.findall(r"@[A-Z]+@", f.read())
            self.assertEqual(left, [], "%s keeps placeholders" % rel)

    def check_config(self, binary, config):
        # cwd / as under systemd: relative paths would not resolve.
        r = run([binary, "--check", "-c", config], timeout=60, cwd="/")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration is valid", r.stdout)

    def lint_man(self, page):
        if shutil.which("mandoc"):
            r = run(["mandoc", "-T", "lint", "-W", "warning", page])
        elif shutil.which("groff"):
            r = run(["groff", "-mandoc", "-ww", "-z", page])
        else:
            return
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), page)

    def test_destdir_prefix_usr(self):
        dest = os.path.join(self.dir, "dest")
        self.install("DESTDIR=" + dest, "PREFIX=/usr")
        self.assert_tree(dest)
        binary = os.path.join(dest, "usr/sbin/georoute")
        self.assertEqual(run([binary, "--version"]).stdout,
                         run([os.path.join(BUILD, "georoute"), "--version"]).stdout)

        with open(os.path.join(dest, "usr/lib/systemd/system/georoute.service")) as f:
            unit = f.read()
        for line in ("Type=notify",
                     "ExecStart=/usr/sbin/georoute -c /usr/etc/georoute/georoute.yaml",
                     "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                     "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                     "ProtectHome=yes", "PrivateTmp=yes"):
            self.assertIn("\n" + line + "\n", unit)
        self.assertRegex(unit, r"\nLimitNOFILE=\d+\n")

        # The config names its database at the final path; checked through
        # a copy that looks for it in DESTDIR.
        conf = os.path.join(dest, "usr/etc/georoute/georoute.yaml")
        with open(conf) as f:
            text = f.read()
        self.assertIn("- path: /usr/share/georoute/demo-geo.mmdb\n", text)
        with open(os.path.join(dest, "usr/share/georoute/georoute.yaml.example")) as f:
            self.assertEqual(f.read(), text)
        moved = os.path.join(self.dir, "georoute.yaml")
        with open(moved, "w") as f:
            f.write(text.replace("/usr/share/georoute/", dest + "/usr/share/georoute/"))
        self.check_config(binary, moved)

        self.lint_man(os.path.join(dest, "usr/share/man/man8/georoute.8"))
        if shutil.which("logrotate"):
            r = run(["logrotate", "-d", "-s", os.path.join(self.dir, "lr.state"),
                     os.path.join(dest, "etc/logrotate.d/georoute")])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # The unit through a copy whose ExecStart names the DESTDIR binary.
        copy = os.path.join(self.dir, "georoute.service")
        with open(copy, "w") as f:
            f.write(unit.replace("ExecStart=/usr/sbin/georoute -c /usr/etc/georoute/",
                                 "ExecStart=%s -c %s/usr/etc/georoute/" % (binary, dest)))
        v = analyze_verify(copy, os.path.join(dest, "usr/share/man"))
        if v is not None:
            self.assertEqual(v, (0, ""), "systemd-analyze verify")

        # A reinstall keeps an edited config; uninstall removes the rest.
        with open(conf, "a") as f:
            f.write("# edited\n")
        self.assertIn("kept", self.install("DESTDIR=" + dest, "PREFIX=/usr").stdout)
        with open(conf) as f:
            self.assertTrue(f.read().endswith("# edited\n"))
        r = make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        left = sorted(os.path.relpath(os.path.join(d, n), dest)
                      for d, _, names in os.walk(dest) for n in names)
        self.assertEqual(left, ["usr/etc/georoute/georoute.yaml"])

    def test_prefix_without_destdir(self):
        root = os.path.join(self.dir, "root")
        usr = os.path.join(root, "usr")
        self.install("PREFIX=" + usr, "LOGROTATEDIR=" + os.path.join(root, "etc/logrotate.d"))
        self.assert_tree(root)
        binary = os.path.join(usr, "sbin/georoute")
        conf = os.path.join(usr, "etc/georoute/georoute.yaml")
        self.check_config(binary, conf)
        unit = os.path.join(usr, "lib/systemd/system/georoute.service")
        with open(unit) as f:
            self.assertIn("\nExecStart=%s -c %s\n" % (binary, conf), f.read())
        v = analyze_verify(unit, os.path.join(usr, "share/man"))
        if v is None:
            self.skipTest("systemd-analyze cannot verify units here")
        self.assertEqual(v, (0, ""), "systemd-analyze verify")
        r = make("uninstall", "PREFIX=" + usr,
                 "LOGROTATEDIR=" + os.path.join(root, "etc/logrotate.d"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([n for _, _, names in os.walk(root) for n in names], [])


class GeodbHelper(unittest.TestCase):
    """dist/fetch-geodb (make geodb) without touching the network: usage,
    a clear error when npm is missing, and no part of make test."""

    SCRIPT = os.path.join(REPO, "dist", "fetch-geodb")

    def test_usage(self):
        r = run(["/bin/sh", self.SCRIPT])
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)

    def test_no_npm_is_a_clear_error(self):
        d = tempfile.mkdtemp(prefix="georoute-geodb-")
        self.addCleanup(shutil.rmtree, d, True)
        # An empty PATH: no npm, and nothing else the script could call.
        r = run(["/bin/sh", self.SCRIPT, os.path.join(d, "db")], env={"PATH": d})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("npm is not installed", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "db")))

    def test_not_part_of_make_test(self):
        r = make("-n", "test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("fetch-geodb", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
