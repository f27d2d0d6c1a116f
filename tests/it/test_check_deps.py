"""tests/check-deps (issue 12): the include rules between proxy/'s folders
hold on the tree, and a planted violation of each kind makes it fail.

The check runs on a copy of the sources, so the working tree is never
touched.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import REPO

SCRIPT = os.path.join(REPO, "tests", "check-deps")

# (file to append to, line to append, a word the complaint must carry)
VIOLATIONS = [
    ("proxy/data/slab.h", '#include "proxy/control/router.h"', "data plane"),
    ("proxy/data/worker.c", '#include "proxy/admin/admin.h"', "data plane"),
    ("proxy/control/probe.c", '#include "proxy/data/upstream.h"', "control"),
    ("proxy/admin/admin.c", '#include "proxy/data/worker.h"', "admin"),
    ("proxy/state/fleet.h", "#include <uv.h>", "loop-free"),
    ("proxy/state/routes.c", '#include "proxy/control/router.h"', "cross-thread"),
    ("proxy/base/log.c", '#include "proxy/data/client.h"', "base/"),
    ("proxy/proto/http1.c", '#include "proxy/state/routes.h"', "codecs"),
    ("geo/zone.c", "#include <uv.h>", "loop-free"),
    ("conf/conf.h", '#include "proxy/base/px.h"', "loop-free"),
    ("proxy/data/exchange.c", "#include <ares.h>", "only proxy/control/dns.c"),
    ("proxy/control/router.c", "#include <llhttp.h>", "only proxy/proto/http1.c"),
    ("proxy/data/worker.c", "#include <openssl/ssl.h>", "only proxy/proto/tls.c"),
]


def copy_tree(dst):
    for d in ("proxy", "geo", "conf"):
        shutil.copytree(os.path.join(REPO, d), os.path.join(dst, d))


def check(root):
    return subprocess.run([SCRIPT, root], capture_output=True, text=True, timeout=60)


class CheckDeps(unittest.TestCase):
    def test_tree_is_clean(self):
        r = check(REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("check-deps: ok", r.stdout)

    def test_each_planted_violation_fails(self):
        for path, line, word in VIOLATIONS:
            with self.subTest(path=path, line=line), tempfile.TemporaryDirectory() as tmp:
                copy_tree(tmp)
                with open(os.path.join(tmp, path), "a") as f:
                    f.write("\n" + line + "\n")
                r = check(tmp)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(path, r.stdout)
                self.assertIn(word, r.stdout)


if __name__ == "__main__":
    unittest.main()


NAMES = os.path.join(REPO, "tests", "check-names")


class CheckNames(unittest.TestCase):
    """tests/check-names (issue 12): comments and docs name only what exists."""

    def run_on(self, root):
        return subprocess.run([NAMES, root], capture_output=True, text=True, timeout=60)

    def test_tree_is_clean(self):
        r = self.run_on(REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_stale_names_are_caught(self):
        with tempfile.TemporaryDirectory() as tmp:
            for d in ("proxy", "geo", "conf", "docs"):
                shutil.copytree(os.path.join(REPO, d), os.path.join(tmp, d))
            with open(os.path.join(tmp, "proxy", "base", "rng.h"), "a") as f:
                f.write("/* px_rng_gone() and decided_later() used to live here. */\n")
            with open(os.path.join(tmp, "docs", "ARCHITECTURE.md"), "a") as f:
                f.write("\nThe field `load_penalty_gone` says how loaded a region is.\n")
            r = self.run_on(tmp)
            self.assertEqual(r.returncode, 1, r.stdout)
            for name in ("px_rng_gone", "decided_later", "load_penalty_gone"):
                self.assertIn(name, r.stdout)
