"""TLS listeners in `--check` and at start (issue 13): every problem with a
certificate or key is reported at FILE:LINE:COL of its `cert` or `key`
value, naming the file, all in one run; a group-readable key is only a
warning. Certificates are made here with the openssl CLI."""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import free_port, georoute_bin, georoute_only


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


@georoute_only("georoute's own config checks")
@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class TlsCheck(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="georoute-it-tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()
        d = self.dir
        # A CA, so that `openssl ca` can give a certificate any validity dates.
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
        openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=test ca", "-days", "30",
                "-out", "ca.pem", cwd=d)
        os.mkdir(os.path.join(d, "db"))
        open(os.path.join(d, "db", "index.txt"), "w").close()
        with open(os.path.join(d, "db", "serial"), "w") as f:
            f.write("01\n")
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = ca_default\n[ca_default]\ndatabase = db/index.txt\n"
                    "new_certs_dir = db\nserial = db/serial\ndefault_md = sha256\n"
                    "policy = any\ncopy_extensions = copy\n[any]\ncommonName = supplied\n")
        self.cert("good", "20200101000000Z", "20991231000000Z")
        self.cert("expired", "20200101000000Z", "20200102000000Z")
        self.cert("future", "20990101000000Z", "20991231000000Z")
        with open(os.path.join(d, "notpem.pem"), "w") as f:
            f.write("this is not a certificate\n")
        openssl("genrsa", "-out", "other.key", "2048", cwd=d)
        os.chmod(os.path.join(d, "other.key"), 0o600)

    def cert(self, name, start, end, mode=0o600):
        d = self.dir
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name + ".key",
                cwd=d)
        os.chmod(os.path.join(d, name + ".key"), mode)
        openssl("req", "-new", "-key", name + ".key", "-subj", "/CN=%s.example.com" % name,
                "-addext", "subjectAltName=DNS:%s.example.com" % name, "-out", name + ".csr",
                cwd=d)
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", name + ".csr", "-out", name + ".pem", "-startdate", start, "-enddate", end,
                "-notext", cwd=d)

    def p(self, name):
        """How a message names a file: relative paths start at the config's directory."""
        return os.path.join(self.dir, name)

    def write(self, certs):
        lines = ['listen:', '  - addr: "127.0.0.1:%d"' % self.port, '    tls:',
                 '      certificates:']
        lines += ['        - {cert: %s, key: %s}' % c for c in certs]
        lines += ['regions:', '  main:', '    backends: ["127.0.0.1:9"]', 'workers: 1',
                  'admin: {listen: off}']
        path = os.path.join(self.dir, "tls.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def georoute(self, *args):
        return subprocess.run([georoute_bin()] + list(args), capture_output=True, text=True,
                              timeout=20, cwd=self.dir)

    def test_good_certificate_passes(self):
        path = self.write([("good.pem", "good.key")])
        r = self.georoute("--check", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Nothing about TLS; the start-up warnings about this machine may appear.
        self.assertNotIn("listen[0].tls", r.stderr)

    def test_every_problem_in_one_run(self):
        os.chmod(os.path.join(self.dir, "good.key"), 0o644)
        path = self.write([
            ("missing.pem", "good.key"),   # line 5
            ("notpem.pem", "other.key"),   # line 6
            ("expired.pem", "expired.key"),  # line 7
            ("future.pem", "future.key"),  # line 8
            ("good.pem", "good.key"),      # line 9: world-readable key
            ("good.pem", "other.key"),     # line 10: key of another certificate
        ])
        for args in (["--check", "-c", path], ["-c", path]):
            r = self.georoute(*args)
            self.assertEqual(r.returncode, 1, r.stderr)
            e = r.stderr
            self.assertIn("tls.yaml:5:18: listen[0].tls.certificates[0].cert: cannot read "
                          "'" + self.p("missing.pem") + "': No such file or directory", e)
            self.assertIn("tls.yaml:6:18: listen[0].tls.certificates[1].cert: '" + self.p("notpem.pem") + "' "
                          "holds no PEM certificate", e)
            self.assertIn("tls.yaml:7:18: listen[0].tls.certificates[2].cert: certificate "
                          "'" + self.p("expired.pem") + "' expired on 2020-01-02 00:00:00 UTC", e)
            self.assertIn("tls.yaml:8:18: listen[0].tls.certificates[3].cert: certificate "
                          "'" + self.p("future.pem") + "' is not valid before 2099-01-01 00:00:00 UTC", e)
            self.assertIn("tls.yaml:9:33: listen[0].tls.certificates[4].key: '" + self.p("good.key") + "' is "
                          "readable by every user (mode 0644); chmod 600 it", e)
            self.assertIn("tls.yaml:10:33: listen[0].tls.certificates[5].key: key '" + self.p("other.key") + "' "
                          "does not match certificate '" + self.p("good.pem") + "'", e)
            self.assertIn("tls.yaml:5:36: listen[0].tls.certificates[0].key: '" + self.p("good.key") + "' is "
                          "readable by every user", e)

    def test_group_readable_key_is_a_warning(self):
        os.chmod(os.path.join(self.dir, "good.key"), 0o640)
        path = self.write([("good.pem", "good.key")])
        r = self.georoute("--check", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("tls.yaml:5:33: warning: listen[0].tls.certificates[0].key: '" + self.p("good.key") + "' "
                      "is readable by its group (mode 0640)", r.stderr)


if __name__ == "__main__":
    unittest.main()
