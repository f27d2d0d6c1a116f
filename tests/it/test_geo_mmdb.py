#!/usr/bin/env python3
"""geo/ against mmdblookup and the source JSON of MaxMind's test databases.

For every network in the source JSON of the Country, City and ASN test
databases (tests/fixtures/maxmind), the first and last address (and,
for IPv4, the IPv4-mapped form of the first) are looked up with
build/tests/tools/geolookup (georoute's geo/ module) and with mmdblookup
(Debian mmdb-bin, libmaxminddb's own tool, asked once per network, or per
probe for City) and must agree field by field; for Country and ASN every
probe must also agree with the JSON record the network was built from. When tests/fixtures/fetch-ip-location-db.sh has installed the
npm ip-location-db database, well-known CN, HK and US addresses must
classify right with the flat preset.

Standalone: python3 tests/it/test_geo_mmdb.py (from anywhere). Environment:
GEOROUTE_BUILD (default: build in the repository). Needs `make tools`. Ends with the line
"N passed, N failed[, N skipped]" and exits non-zero on failure.
"""

import concurrent.futures
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GEOROUTE_BUILD") or os.path.join(TOP, "build")
MAXMIND = os.path.join(TOP, "tests", "fixtures", "maxmind")
GEOLOOKUP = os.path.join(BUILD, "tests", "tools", "geolookup")
NPM_DB = os.path.join(
    BUILD, "npm", "node_modules", "@ip-location-db", "geo-whois-asn-country-mmdb",
    "geo-whois-asn-country.mmdb")
AS_ORG_MAX = 64  # bytes of geo_result.as_org, NUL included
V4_IN_V6 = ipaddress.ip_network("::/96")


# ---------------------------------------------------------------- mmdblookup

_SCALAR = re.compile(r"^(.*) <([a-z0-9_]+)>$")


def parse_mmdblookup(text):
    """Turns mmdblookup's annotated dump into Python values (None = not found)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].startswith("Could not find"):
        return None
    pos = 0

    def value():
        nonlocal pos
        ln = lines[pos]
        pos += 1
        if ln == "{":
            out = {}
            while lines[pos] != "}":
                key = lines[pos]
                assert key.startswith('"') and key.endswith('":'), key
                pos += 1
                out[key[1:-2]] = value()
            pos += 1
            return out
        if ln == "[":
            out = []
            while lines[pos] != "]":
                out.append(value())
            pos += 1
            return out
        m = _SCALAR.match(ln)
        assert m, ln
        lit, typ = m.groups()
        if typ == "utf8_string":
            return lit[1:-1]
        if typ in ("double", "float"):
            return float(lit)
        if typ == "boolean":
            return lit == "true"
        if typ.startswith("uint") or typ.startswith("int"):
            return int(lit)
        return lit

    return value()


def mmdblookup(db, ip):
    p = subprocess.run(["mmdblookup", "--file", db, "--ip", ip],
                       capture_output=True, text=True, check=False)
    if p.returncode == 6 or "Could not find" in p.stdout + p.stderr:
        return None
    if p.returncode != 0:
        raise RuntimeError("mmdblookup %s %s: rc %d %s" % (db, ip, p.returncode, p.stderr))
    return parse_mmdblookup(p.stdout)


def mmdblookup_many(db, ips):
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        return dict(zip(ips, ex.map(lambda ip: mmdblookup(db, ip), ips)))


# ----------------------------------------------------------------- geolookup

def geolookup(db, ips, schema="maxmind"):
    """Runs geolookup on ips (via stdin); returns {ip: {field: value}}."""
    p = subprocess.run([GEOLOOKUP, "--schema", schema, db], input="\n".join(ips) + "\n",
                       capture_output=True, text=True, check=False)
    if p.returncode not in (0, 2):
        raise RuntimeError("geolookup failed: rc %d %s" % (p.returncode, p.stderr))
    out = {}
    for line in p.stdout.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split("\t"))
        out[fields["ip"]] = fields
    return out


# --------------------------------------------------- what geo/ should report

def _get(rec, *path):
    for k in path:
        if isinstance(rec, dict) and k in rec:
            rec = rec[k]
        elif isinstance(rec, list) and isinstance(k, int) and -len(rec) <= k < len(rec):
            rec = rec[k]
        else:
            return None
    return rec


def _code(v, lo, hi, alnum):
    ok = isinstance(v, str) and lo <= len(v) <= hi and v.isascii() and \
        (v.isalnum() if alnum else v.isalpha())
    return v.upper() if ok else "-"


def _cut_utf8(s, size):
    b = s.encode()
    if len(b) < size:
        return s
    n = size - 1
    while n > 0 and (b[n] & 0xC0) == 0x80:
        n -= 1
    return b[:n].decode()


def expected(rec, schema):
    """The geolookup fields a record must give under a preset schema."""
    e = {"found": "0" if rec is None else "1", "country": "-", "subdivision": "-",
         "continent": "-", "asn": "0", "as_org": "-", "lat": "-", "lon": "-"}
    if rec is None:
        return e
    if schema == "maxmind":
        # Country only, never registered_country (issue 3).
        e["country"] = _code(_get(rec, "country", "iso_code"), 2, 2, False)
        e["subdivision"] = _code(_get(rec, "subdivisions", 0, "iso_code"), 1, 3, True)
        e["continent"] = _code(_get(rec, "continent", "code"), 2, 2, False)
        lat, lon = _get(rec, "location", "latitude"), _get(rec, "location", "longitude")
    elif schema == "flat":
        e["country"] = _code(rec.get("country_code"), 2, 2, False)
        lat, lon = rec.get("latitude"), rec.get("longitude")
    else:
        asn = rec.get("autonomous_system_number")
        e["asn"] = str(asn) if isinstance(asn, int) and 0 < asn <= 0xFFFFFFFF else "0"
        org = rec.get("autonomous_system_organization")
        e["as_org"] = (_cut_utf8(org, AS_ORG_MAX) or "-") if isinstance(org, str) else "-"
        lat = lon = None
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        e["lat"], e["lon"] = lat, lon
    return e


def differences(got, want):
    """Field names where a geolookup line and an expectation differ."""
    bad = []
    for k, v in want.items():
        g = got.get(k)
        if k in ("lat", "lon") and v != "-" and g not in (None, "-"):
            if abs(float(g) - float(v)) > 1e-5:
                bad.append(k)
        elif str(v) != g:
            bad.append(k)
    return bad


# ------------------------------------------------------------ probe addresses

def probes(network):
    """Addresses to try in a JSON network: first and last (+ IPv4-mapped first)."""
    net = ipaddress.ip_network(network, strict=False)
    if net.version == 6 and net.prefixlen >= 96 and net.subnet_of(V4_IN_V6):
        # MaxMind writes IPv4 as ::a.b.c.d/(96+len): look it up as IPv4.
        v4 = ipaddress.ip_network((int(net.network_address), net.prefixlen - 96))
        out = [str(v4.network_address), str(v4.broadcast_address)]
        out.append("::ffff:" + out[0])
        return list(dict.fromkeys(out))
    return list(dict.fromkeys([str(net.network_address), str(net.broadcast_address)]))


def unmapped(ip):
    """mmdblookup is asked about the IPv4 address behind ::ffff:a.b.c.d."""
    return ip[7:] if ip.startswith("::ffff:") else ip


def as_v6(ip):
    a = ipaddress.ip_address(ip)
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return ipaddress.IPv6Address(int(a)) if a.version == 4 else a


def json_record(entries, ip):
    """The record the writer left for ip: the last-inserted network containing it."""
    a = as_v6(ip)
    best = None
    for net, rec in entries:
        if a in net:
            best = rec
    return best


def load_json(name):
    with open(os.path.join(MAXMIND, "source-data", name), encoding="utf-8") as f:
        data = json.load(f)
    entries = []
    for item in data:
        for net, rec in item.items():
            n = ipaddress.ip_network(net, strict=False)
            if n.version == 4:
                n = ipaddress.ip_network((int(n.network_address), n.prefixlen + 96))
            entries.append((n, rec))
    return entries


# ---------------------------------------------------------------------- tests

def need_tools(tc):
    if not os.access(GEOLOOKUP, os.X_OK):
        tc.fail("%s missing: run `make tools`" % GEOLOOKUP)
    if shutil.which("mmdblookup") is None:
        tc.fail("mmdblookup missing (Debian package mmdb-bin)")


class MaxMindTestDatabases(unittest.TestCase):
    """geolookup == mmdblookup (== source JSON) on every listed network."""

    maxDiff = None

    def check(self, dbfile, jsonfile, schema, against_json):
        need_tools(self)
        db = os.path.join(MAXMIND, dbfile)
        entries = load_json(jsonfile)
        ips, mm_ips = [], []
        for net, _ in entries:
            p = probes(str(net))
            ips.extend(p)
            # mmdblookup costs a process per address (~10 ms): ask it about
            # the first address of each network, and every probe where there
            # is no JSON to check against.
            mm_ips.extend(p if not against_json else p[:1])
        ips = list(dict.fromkeys(ips))
        ours = geolookup(db, ips, schema)
        theirs = mmdblookup_many(db, [unmapped(ip) for ip in dict.fromkeys(mm_ips)])
        bad = []
        for ip in ips:
            got = ours.get(ip, {})
            if unmapped(ip) in theirs:
                diff = differences(got, expected(theirs[unmapped(ip)], schema))
                if diff:
                    bad.append("%s: %s vs mmdblookup (%s)" % (ip, diff, got))
            if against_json:
                diff = differences(got, expected(json_record(entries, ip), schema))
                if diff:
                    bad.append("%s: %s vs source JSON (%s)" % (ip, diff, got))
        self.assertEqual(bad[:20], [], "%d mismatches in %s" % (len(bad), dbfile))
        # The comparison must have had something to compare.
        self.assertGreater(sum(1 for r in ours.values() if r.get("found") == "1"),
                           len(entries) // 2)
        return ours

    def test_country_db(self):
        ours = self.check("GeoIP2-Country-Test.mmdb", "GeoIP2-Country-Test.json",
                          "maxmind", True)
        self.assertEqual(ours["175.16.199.0"]["country"], "CN")

    def test_city_db(self):
        ours = self.check("GeoIP2-City-Test.mmdb", "GeoIP2-City-Test.json", "maxmind", False)
        self.assertEqual(ours["175.16.199.0"]["subdivision"], "22")

    def test_asn_db(self):
        ours = self.check("GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN-Test.json",
                          "maxmind-asn", True)
        self.assertEqual(ours["1.0.0.0"]["asn"], "15169")

    def test_metadata(self):
        need_tools(self)
        p = subprocess.run([GEOLOOKUP, "--meta", os.path.join(MAXMIND, "GeoIP2-City-Test.mmdb")],
                           input="", capture_output=True, text=True, check=True)
        meta = dict(kv.split("=", 1) for kv in p.stdout.splitlines()[0].split("\t")[1:])
        self.assertEqual(meta, {"database_type": "GeoIP2-City", "build_epoch": "1770245369",
                                "ip_version": "6", "record_size": "28", "node_count": "1547"})


class RealWorldNpm(unittest.TestCase):
    """The ip-location-db country database from npm, flat preset."""

    WELL_KNOWN = {
        "1.2.4.8": "CN", "114.114.114.114": "CN", "223.5.5.5": "CN", "240e::1": "CN",
        "2400:3200::1": "CN", "8.8.8.8": "US", "9.9.9.9": "US", "17.0.0.1": "US",
        "2001:4860:4860::8888": "US", "202.45.84.58": "HK", "202.14.67.4": "HK",
        "218.188.0.1": "HK", "::ffff:8.8.8.8": "US", "::ffff:202.45.84.58": "HK",
    }

    def test_well_known_addresses(self):
        if not os.path.exists(NPM_DB):
            self.skipTest("npm database not installed: run tests/fixtures/fetch-ip-location-db.sh")
        need_tools(self)
        ours = geolookup(NPM_DB, list(self.WELL_KNOWN), "flat")
        for ip, cc in self.WELL_KNOWN.items():
            self.assertEqual(ours[ip]["country"], cc, ip)
            self.assertEqual(differences(ours[ip], expected(mmdblookup(NPM_DB, unmapped(ip)),
                                                            "flat")),
                             [], ip)
        # The npm file does not alias ::ffff:0:0/96: only unmapping finds these.
        self.assertIsNone(mmdblookup(NPM_DB, "::ffff:8.8.8.8"))


def main():
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
