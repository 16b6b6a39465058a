"""Writes the small MaxMind-format databases the GeoIP tests read, with PyPI's
mmdb-writer (scripts/test installs it into the test venv): one in GeoLite2-Country's
shape, one in GeoLite2-ASN's, one in IPinfo Lite's (country and ASN in one record,
the ASN as "AS64511"). Only loopback test addresses, documentation ASNs (RFC 5398)
and made-up names are in them.

Usage: python3 make_mmdb.py OUT_DIR [moved]
("moved": a later edition in which 127.1.0.92 has moved to DE and another AS)
"""

import sys

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPSet


def write(path, database_type, records):
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type)
    for network, record in records:
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(path)


def main(out, moved):
    country, asn, org = ("DE", 64499, "Example Moved GmbH") if moved else (
        "NL", 64496, "Example Transit <b>B.V.</b>")
    write(f"{out}/country.mmdb", "GeoLite2-Country", [
        ("127.1.0.92/32", {"country": {"iso_code": country, "names": {"en": "Somewhere"}}}),
        ("127.1.0.3/32", {"country": {"iso_code": "FR"}}),
    ])
    write(f"{out}/asn.mmdb", "GeoLite2-ASN", [
        ("127.1.0.92/32", {
            "autonomous_system_number": MmdbU32(asn),
            "autonomous_system_organization": org,
        }),
        ("127.1.0.3/32", {
            "autonomous_system_number": MmdbU32(64500),
            "autonomous_system_organization": "Example Fleet",
        }),
    ])
    write(f"{out}/ipinfo.mmdb", "ipinfo_lite.mmdb", [
        ("127.1.0.93/32", {"country_code": "JP", "asn": "AS64511", "as_name": "Example Japan"}),
    ])


if __name__ == "__main__":
    main(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "moved")
