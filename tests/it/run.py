#!/usr/bin/env python3
"""End-to-end test runner: discovers tests/it/test_*.py (unittest), runs
them one by one and prints

    ok     test_dataplane.KeepAlive.test_x
    FAIL   test_dataplane.KeepAlive.test_y
    skip   test_dataplane.KeepAlive.test_z (reason)

then the failure details and `N passed, N failed[, N skipped]`.
Exit status 1 on any failure.

Usage: tests/it/run.py [FILTER...]   (or IT_FILTER=a,b) - a test runs when
any filter is a substring of its name. IT_TEST_TIMEOUT (s, default 180)
bounds one test; a test over it ends the run as a failure.
"""

import os
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


class OneResult(unittest.TestResult):
    """Collects the outcome of one test (subtests fold into it)."""

    def __init__(self):
        super().__init__()
        self.outcome = "ok"
        self.details = []
        self.reason = ""

    def _fail(self, test, err, kind):
        self.outcome = "FAIL"
        self.details.append("%s: %s" % (kind, "".join(traceback.format_exception(*err))))

    def addFailure(self, test, err):
        self._fail(test, err, "failure")

    def addError(self, test, err):
        self._fail(test, err, "error")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.outcome = "FAIL"
            self.details.append("subtest %s: %s" % (subtest._subDescription(),
                                                    "".join(traceback.format_exception(*err))))

    def addSkip(self, test, reason):
        if self.outcome == "ok":
            self.outcome = "skip"
            self.reason = reason

    def addExpectedFailure(self, test, err):
        pass

    def addUnexpectedSuccess(self, test):
        self.outcome = "FAIL"
        self.details.append("unexpected success")


def name_of(test):
    tid = test.id()
    return tid


def main(argv):
    filters = [a for a in argv if not a.startswith("-")]
    if not filters and os.environ.get("IT_FILTER"):
        filters = [f for f in os.environ["IT_FILTER"].split(",") if f]
    limit = float(os.environ.get("IT_TEST_TIMEOUT", "180"))

    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = [t for t in flatten(suite)]
    # import errors surface as _FailedTest: keep them, they are failures
    if filters:
        tests = [t for t in tests if any(f in name_of(t) for f in filters)]

    passed = failed = skipped = 0
    failures = []
    state = {"current": None, "start": 0.0, "done": False}
    lock = threading.Lock()

    def summary():
        line = "%d passed, %d failed" % (passed, failed)
        if skipped:
            line += ", %d skipped" % skipped
        return line

    def watchdog():
        while True:
            time.sleep(1)
            with lock:
                if state["done"]:
                    return
                cur, start = state["current"], state["start"]
            if cur and time.monotonic() - start > limit:
                print("FAIL   %s (over %.0fs: run aborted)" % (cur, limit), flush=True)
                for name, det in failures:
                    print("\n==== %s\n%s" % (name, det))
                # the hung test counts as failed; the rest did not run
                print("%d passed, %d failed%s" % (passed, failed + 1,
                      ", %d skipped" % skipped if skipped else ""), flush=True)
                os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()
    t0 = time.monotonic()
    for t in tests:
        name = name_of(t)
        with lock:
            state["current"], state["start"] = name, time.monotonic()
        res = OneResult()
        t.run(res)
        if res.outcome == "ok":
            passed += 1
            print("ok     %s" % name, flush=True)
        elif res.outcome == "skip":
            skipped += 1
            print("skip   %s (%s)" % (name, res.reason), flush=True)
        else:
            failed += 1
            failures.append((name, "\n".join(res.details)))
            print("FAIL   %s" % name, flush=True)
    with lock:
        state["done"] = True

    for name, det in failures:
        print("\n==== %s\n%s" % (name, det.rstrip()))
    if failures:
        print()
    print("(it: %.0fs)" % (time.monotonic() - t0))
    print(summary(), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
