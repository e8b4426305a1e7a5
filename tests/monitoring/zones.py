"""Test zones that carry each defect the audit must find, for a real PowerDNS on loopback.

Every address is on loopback (127.0.0.0/8): the mail host is 127.0.0.10, the HTTPS/TLS test
servers listen on 127.0.0.1.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from email_infrastructure.core.rsa_keys import generate_keypair
from email_infrastructure.dns.records import txt_presentation
from tests.fixtures.pdns import PowerDns

KEY_2048 = generate_keypair(2048)[1]
KEY_1024 = generate_keypair(1024)[1]


def weak_key(bits: int = 768) -> str:
    """A syntactically valid RSA public key of `bits` bits (not usable for signing)."""
    n = random.getrandbits(bits) | (1 << (bits - 1)) | 1
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


Rec = tuple[str, str, list[str]]


def txt(*values: str) -> list[str]:
    return [txt_presentation(v) for v in values]


def mail_domain(
    zone: str,
    *,
    spf: str | None = "v=spf1 ip4:127.0.0.10 -all",
    dmarc: str | None = None,
    dkim: str | None = KEY_2048,
    mx: str | None = None,
) -> list[Rec]:
    records: list[Rec] = [
        (zone, "MX", [mx or f"10 mail.{zone}."]),
        (f"mail.{zone}", "A", ["127.0.0.10"]),
    ]
    if spf:
        records.append((zone, "TXT", txt(spf)))
    if dmarc is None:
        dmarc = f"v=DMARC1; p=reject; rua=mailto:dmarc@{zone}"
    if dmarc:
        records.append((f"_dmarc.{zone}", "TXT", txt(dmarc)))
    if dkim:
        records.append((f"dkim._domainkey.{zone}", "TXT", txt(f"v=DKIM1; k=rsa; p={dkim}")))
    return records


def defect_zones(mta_sts_ip: str = "127.0.0.1") -> dict[str, list[Rec]]:
    """zone → records."""
    includes = " ".join(f"include:l{n}.provider.test" for n in range(11))
    zones: dict[str, list[Rec]] = {
        "provider.test": [
            ("_spf.provider.test", "TXT", txt("v=spf1 ip4:127.0.1.0/24 -all")),
            ("nospf.provider.test", "TXT", txt("not an SPF record")),
            *[(f"l{n}.provider.test", "TXT", txt("v=spf1 -all")) for n in range(11)],
        ],
        "good.test": [
            *mail_domain("good.test", spf="v=spf1 ip4:127.0.0.10 include:_spf.provider.test -all"),
            ("_mta-sts.good.test", "TXT", txt("v=STSv1; id=20261128")),
            ("mta-sts.good.test", "A", [mta_sts_ip]),
            ("_smtp._tls.good.test", "TXT", txt("v=TLSRPTv1; rua=mailto:tls@good.test")),
        ],
        "nothing.test": [("nothing.test", "MX", ["10 mail.good.test."])],
        "twospf.test": [
            *mail_domain("twospf.test", spf=None, dmarc=""),
            ("twospf.test", "TXT", txt("v=spf1 ip4:127.0.0.10 -all", "v=spf1 -all")),
            ("_dmarc.twospf.test", "TXT", txt("v=DMARC1; p=none", "v=DMARC1; p=reject")),
        ],
        "manylookups.test": mail_domain("manylookups.test", spf=f"v=spf1 {includes} -all"),
        "voids.test": mail_domain(
            "voids.test",
            spf="v=spf1 a:nx1.voids.test a:nx2.voids.test a:nx3.voids.test ip4:127.0.0.10 -all",
        ),
        "plusall.test": mail_domain("plusall.test", spf="v=spf1 ip4:127.0.0.10 +all"),
        "neutral.test": mail_domain("neutral.test", spf="v=spf1 ptr ip4:127.0.0.10 ?all"),
        "loop.test": mail_domain("loop.test", spf="v=spf1 include:loop2.test -all"),
        # a record whose text looks like Rich markup: every value must print as written
        "markup.test": [("markup.test", "TXT", txt("v=spf1 [bold]x[/bold] -all"))],
        "loop2.test": [("loop2.test", "TXT", txt("v=spf1 include:loop.test -all"))],
        "uncovered.test": mail_domain("uncovered.test", spf="v=spf1 ip4:127.0.0.99 -all"),
        # each SPF problem the walk reports (issue 8: any of them crashed the audit's JSON)
        "badsyntax.test": mail_domain("badsyntax.test", spf="v=spf1 ip4:127.0.0.10 moo -all"),
        "inclmissing.test": mail_domain("inclmissing.test", spf="v=spf1 include:nospf.provider.test -all"),
        "manymx.test": [
            *mail_domain("manymx.test", spf="v=spf1 mx -all"),
            ("manymx.test", "MX", [f"{n} mx{n}.manymx.test." for n in range(10)]),  # 11 with mail.
        ],
        # macros (RFC 7208 §7): %{d2} is known statically, %{i} (the sender's IP) is not
        "macroinclude.test": [
            *mail_domain("macroinclude.test", spf="v=spf1 include:_spfh.%{d2} -all"),
            ("_spfh.macroinclude.test", "TXT", txt("v=spf1 ip4:127.0.0.10 -all")),
        ],
        "sendermacro.test": mail_domain("sendermacro.test", spf="v=spf1 exists:%{i}._spf.sendermacro.test -all"),
        "allfirst.test": mail_domain("allfirst.test", spf="v=spf1 all -all"),  # the first all wins: +all
        "ptronly.test": mail_domain("ptronly.test", spf="v=spf1 ptr -all"),
        "redirectall.test": mail_domain("redirectall.test", spf="v=spf1 -all redirect=_spf.provider.test"),
        "weakdkim.test": mail_domain("weakdkim.test", dkim=KEY_1024),
        "tinydkim.test": mail_domain("tinydkim.test", dkim=weak_key()),
        "baddkim.test": mail_domain("baddkim.test", dkim="bm90IGEga2V5IGF0IGFsbA=="),
        "badtag.test": mail_domain("badtag.test", dmarc="v=DMARC1; p=maybe; adkim=x; pct=50"),
        # RFC 7489 §6.4: tag names and keyword values are case-insensitive; "DMARC1" is exact
        "upper.test": mail_domain("upper.test", dmarc="V=DMARC1; P=REJECT; RUA=mailto:d@upper.test"),
        "lowerversion.test": mail_domain(
            "lowerversion.test", dmarc="v=dmarc1; p=reject; rua=mailto:d@lowerversion.test"
        ),
        "duptag.test": mail_domain("duptag.test", dmarc="v=DMARC1; p=reject; p=none; rua=mailto:d@duptag.test"),
        "policynone.test": mail_domain("policynone.test", dmarc="v=DMARC1; p=none; rua=mailto:d@policynone.test"),
        "extrua.test": mail_domain(
            "extrua.test",
            dmarc="v=DMARC1; p=reject; rua=mailto:r@reports.test,mailto:r@authorised.test",
        ),
        "reports.test": [("reports.test", "MX", ["10 mail.good.test."])],
        "authorised.test": [
            ("authorised.test", "MX", ["10 mail.good.test."]),
            ("extrua.test._report._dmarc.authorised.test", "TXT", txt("v=DMARC1")),
        ],
        "sub.parent.test": mail_domain("sub.parent.test", dmarc=""),
        "parent.test": [
            (
                "_dmarc.parent.test",
                "TXT",
                txt("v=DMARC1; p=quarantine; sp=reject; rua=mailto:d@parent.test"),
            )
        ],
        "nomx.test": [
            ("nomx.test", "TXT", txt("v=spf1 -all")),
            ("_dmarc.nomx.test", "TXT", txt("v=DMARC1; p=reject")),
        ],
        "nullmx.test": [
            ("nullmx.test", "MX", ["0 ."]),
            ("nullmx.test", "TXT", txt("v=spf1 -all")),
            ("_dmarc.nullmx.test", "TXT", txt("v=DMARC1; p=reject")),
        ],
        "cnamemx.test": [
            *mail_domain("cnamemx.test", mx="10 mx.cnamemx.test."),
            ("mx.cnamemx.test", "CNAME", ["mail.cnamemx.test."]),
        ],
        "badmtasts.test": [
            *mail_domain("badmtasts.test"),
            ("_mta-sts.badmtasts.test", "TXT", txt("v=STSv1; id=not-valid!")),
            ("_smtp._tls.badmtasts.test", "TXT", txt("v=TLSRPTv1; rua=ftp://x")),
            ("default._bimi.badmtasts.test", "TXT", txt("v=BIMI1; l=http://logo.png")),
        ],
        "0.0.127.in-addr.arpa": [
            ("10.0.0.127.in-addr.arpa", "PTR", ["mail.good.test."]),
            ("11.0.0.127.in-addr.arpa", "PTR", ["nowhere.good.test."]),
        ],
        # blocklists (served locally under their real names; queries never leave loopback)
        "zen.spamhaus.org": [
            ("2.0.0.127.zen.spamhaus.org", "A", ["127.0.0.2"]),
            ("20.0.0.127.zen.spamhaus.org", "A", ["127.0.0.4"]),
            (
                "20.0.0.127.zen.spamhaus.org",
                "TXT",
                txt("Listed by XBL, see https://check.spamhaus.org/query/ip/127.0.0.20"),
            ),
            ("21.0.0.127.zen.spamhaus.org", "A", ["127.255.255.254"]),
            ("22.0.0.127.zen.spamhaus.org", "A", ["127.0.0.10"]),
        ],
        "dbl.spamhaus.org": [
            ("dbltest.com.dbl.spamhaus.org", "A", ["127.0.1.2"]),
            ("listed.test.dbl.spamhaus.org", "A", ["127.0.1.2"]),
            ("confused.test.dbl.spamhaus.org", "A", ["127.0.1.255"]),
        ],
        "multi.uribl.com": [
            ("test.multi.uribl.com", "A", ["127.0.0.2"]),
            ("tracked.test.multi.uribl.com", "A", ["127.0.0.4"]),
            ("refused.test.multi.uribl.com", "A", ["127.0.0.1"]),
        ],
        "multi.surbl.org": [
            ("test.multi.surbl.org", "A", ["127.0.0.80"]),
            ("tracked.test.multi.surbl.org", "A", ["127.0.0.80"]),
        ],
        "dqskey123.zen.dq.spamhaus.net": [
            ("2.0.0.127.dqskey123.zen.dq.spamhaus.net", "A", ["127.0.0.2"]),
            ("10.0.0.127.dqskey123.zen.dq.spamhaus.net", "A", ["127.0.0.3"]),
        ],
        "bl.spamcop.net": [
            ("2.0.0.127.bl.spamcop.net", "A", ["127.0.0.2"]),
            ("20.0.0.127.bl.spamcop.net", "A", ["127.0.0.2"]),
        ],
        # a generic list (CBL-like, mirroring Spamhaus data) whose self-test passes but which
        # answers real queries with Spamhaus error codes (dnsbl.md §3, §4 "cbl.abuseat.org")
        "mirror.example-bl.test": [
            ("2.0.0.127.mirror.example-bl.test", "A", ["127.0.0.2"]),
            ("40.0.0.127.mirror.example-bl.test", "A", ["127.255.255.254"]),
            ("41.0.0.127.mirror.example-bl.test", "A", ["127.255.255.255"]),
        ],
        "everything.example-bl.test": [("*.everything.example-bl.test", "A", ["127.0.0.2"])],
        "public-resolver.example-bl.test": [("*.public-resolver.example-bl.test", "A", ["127.255.255.254"])],
    }
    return zones


def load_zones(pdns: PowerDns, zones: dict[str, list[Rec]]) -> None:
    """Create each zone with its rrsets through the PowerDNS API (replacing earlier copies)."""
    headers = {"X-API-Key": pdns.api_key}
    base = f"{pdns.api_url}/api/v1/servers/localhost/zones"
    with httpx.Client(headers=headers, timeout=30) as client:
        for zone, records in zones.items():
            client.delete(f"{base}/{zone}.")
            grouped: dict[tuple[str, str], list[str]] = {}
            for name, rtype, values in records:
                grouped.setdefault((name, rtype), []).extend(values)
            rrsets: list[dict[str, Any]] = [
                {
                    "name": f"{name}.",
                    "type": rtype,
                    "ttl": 300,
                    "changetype": "REPLACE",
                    "records": [{"content": v, "disabled": False} for v in values],
                }
                for (name, rtype), values in grouped.items()
            ]
            response = client.post(
                base,
                json={
                    "name": f"{zone}.",
                    "kind": "Native",
                    "nameservers": ["ns1.localhost."],
                    "rrsets": rrsets,
                },
            )
            response.raise_for_status()
