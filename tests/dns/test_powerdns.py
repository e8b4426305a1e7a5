"""The PowerDNS provider against a real pdns_server, verified with real DNS queries."""

from __future__ import annotations

import uuid

import dns.asyncquery
import dns.message
import dns.rdatatype
import pytest

from email_infrastructure.dns.plan import Action
from tests.dns.conftest import Make
from tests.fixtures.pdns import PowerDns


def inventory(pdns: PowerDns, zone: str, extra: str = "") -> str:
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
servers:
  - {{name: mx1, hostname: mail.{zone}, ipv4: 127.0.0.10}}
defaults:
  dns_provider: pdns
  server: mx1
  dmarc: {{policy: none, rua: ["mailto:dmarc@{zone}"]}}
domains:
  - name: {zone}
{extra}"""


@pytest.fixture
def zone(pdns: PowerDns, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    return f"z{uuid.uuid4().hex[:10]}.test"


async def query(pdns: PowerDns, name: str, rtype: str) -> list[str]:
    response = await dns.asyncquery.udp(
        dns.message.make_query(name, rtype), pdns.address, port=pdns.dns_port, timeout=3
    )
    out = []
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rtype):
            for rdata in rrset:
                out.append(b"".join(rdata.strings).decode() if rtype == "TXT" else rdata.to_text())
    return out


async def serial(pdns: PowerDns, zone: str) -> int:
    return int((await query(pdns, zone, "SOA"))[0].split()[2])


async def test_apply_publishes_records_that_dns_answers(make_reconciler: Make, pdns: PowerDns, zone: str) -> None:
    service = await make_reconciler(inventory(pdns, zone))
    result = await service.apply()
    assert not result.failed, result.failed
    assert await query(pdns, zone, "TXT") == ["v=spf1 ip4:127.0.0.10 -all"]
    assert await query(pdns, f"_dmarc.{zone}", "TXT") == [f"v=DMARC1; p=none; rua=mailto:dmarc@{zone}"]
    dkim = await query(pdns, f"dkim._domainkey.{zone}", "TXT")
    keys = await service.dkim_keys()
    assert dkim == [f"v=DKIM1; k=rsa; p={keys[zone]}"]
    assert await query(pdns, zone, "MX") == [f"10 mail.{zone}."]
    assert await query(pdns, f"mail.{zone}", "A") == ["127.0.0.10"]
    # the 410-character DKIM value travels as two character-strings
    response = await dns.asyncquery.udp(
        dns.message.make_query(f"dkim._domainkey.{zone}", "TXT"),
        pdns.address,
        port=pdns.dns_port,
        timeout=3,
    )
    assert [len(s) for s in response.answer[0][0].strings] == [255, 155]


async def test_second_apply_writes_nothing(make_reconciler: Make, pdns: PowerDns, zone: str) -> None:
    await (await make_reconciler(inventory(pdns, zone))).apply()
    before = await serial(pdns, zone)
    service = await make_reconciler(inventory(pdns, zone))
    result = await service.apply()
    assert not result.plan.has_changes
    assert await serial(pdns, zone) == before  # every PATCH would bump it


async def test_unmanaged_records_stay_and_updates_replace(make_reconciler: Make, pdns: PowerDns, zone: str) -> None:
    pdns.create_zone(
        zone,
        [
            {
                "name": f"keep.{zone}.",
                "type": "A",
                "ttl": 300,
                "changetype": "REPLACE",
                "records": [{"content": "127.0.0.9", "disabled": False}],
            },
            {
                "name": f"_dmarc.{zone}.",
                "type": "TXT",
                "ttl": 300,
                "changetype": "REPLACE",
                "records": [{"content": '"v=DMARC1; p=reject"', "disabled": False}],
            },
        ],
    )
    result = await (await make_reconciler(inventory(pdns, zone))).apply()
    plan = result.plan.zones[0]
    assert plan.unmanaged == 1
    assert [c.record.name for c in plan.changes if c.action is Action.UPDATE] == [f"_dmarc.{zone}"]
    assert await query(pdns, f"keep.{zone}", "A") == ["127.0.0.9"]
    assert await query(pdns, f"_dmarc.{zone}", "TXT") == [f"v=DMARC1; p=none; rua=mailto:dmarc@{zone}"]


async def test_cname_over_unmanaged_data_is_refused_and_nothing_is_written(
    make_reconciler: Make, pdns: PowerDns, zone: str
) -> None:
    pdns.create_zone(
        zone,
        [
            {
                "name": f"inst.{zone}.",
                "type": "A",
                "ttl": 300,
                "changetype": "REPLACE",
                "records": [{"content": "127.0.0.9", "disabled": False}],
            },
        ],
    )
    before = await serial(pdns, zone)
    text = inventory(pdns, zone).replace("defaults:\n", "defaults:\n  tracking: {platform: instantly}\n")
    result = await (await make_reconciler(text)).apply()
    assert [o.key for o in result.failed] == [f"dns.zone:{zone}"]
    assert "inst." + zone in (result.failed[0].error or "")
    assert await serial(pdns, zone) == before
    assert await query(pdns, zone, "TXT") == []


async def test_wrong_api_key_is_an_auth_error(
    make_reconciler: Make, pdns: PowerDns, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PDNS_TEST_KEY", "wrong-key-123")
    result = await (await make_reconciler(inventory(pdns, zone))).apply()
    assert len(result.failed) == 1
    error = result.failed[0].error or ""
    assert "HTTP 401" in error
    assert "wrong-key-123" not in error
