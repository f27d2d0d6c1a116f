"""X-Forwarded-Proto (D1 of the operations review; issue 13): a trusted
proxy's value is kept, so backends behind a TLS terminator see https;
anyone else's is replaced, so a client cannot claim https."""

import socket
import unittest

from backend import Backend
from harness import Conn, Proxy, georoute_only, request


@georoute_only("X-Forwarded-Proto handling is georoute's")
class ForwardedProto(unittest.TestCase):
    def setUp(self):
        self.b = Backend().start()
        self.addCleanup(self.b.stop)
        self.p = Proxy({"regions": {"main": {"backends": [self.b.addr]}},
                        "trusted_proxies": ["127.0.0.5"]}).start()
        self.addCleanup(self.p.__exit__, None, None, None)

    def seen(self, src, value):
        sock = socket.create_connection(("127.0.0.1", self.p.port), timeout=10,
                                        source_address=(src, 0))
        with Conn(self.p.port, sock=sock) as c:
            c.send(request("GET", "/", [("X-Forwarded-Proto", value)] if value else []))
            self.assertEqual(c.read_response(timeout=10).status, 200)
        head = self.b.heads[-1].decode("latin-1")
        lines = [l for l in head.split("\r\n") if l.lower().startswith("x-forwarded-proto:")]
        self.assertEqual(len(lines), 1, head)
        return lines[0].split(":", 1)[1].strip()

    def test_trusted_terminator_keeps_https(self):
        self.assertEqual(self.seen("127.0.0.5", "https"), "https")
        self.assertEqual(self.seen("127.0.0.5", "http"), "http")
        self.assertEqual(self.seen("127.0.0.5", None), "http")

    def test_untrusted_client_cannot_claim_https(self):
        self.assertEqual(self.seen("127.0.0.6", "https"), "http")
        self.assertEqual(self.seen("127.0.0.6", None), "http")


if __name__ == "__main__":
    unittest.main()
