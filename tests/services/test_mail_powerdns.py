"""End to end: the real PowerDNS publishes the DKIM key the (fake) Mailcow generated; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from tests.dns.test_powerdns import query, serial
from tests.fakes.mailcow import FakeMailcow
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import WriteInventory


def inventory(pdns: PowerDns, url: str, zone: str) -> str:
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
  mail:
    mc: {{type: mailcow, url: "{url}", api_key: env:MAILCOW_TEST_KEY, mailbox_quota_mib: 1024, timeout: 2}}
servers:
  - {{name: mx1, hostname: mail.{zone}, ipv4: 127.0.0.10, mail_backend: mc}}
defaults:
  dns_provider: pdns
  server: mx1
  dmarc: {{policy: none, rua: ["mailto:dmarc@{zone}"]}}
domains:
  - name: {zone}
    mailboxes:
      - {{first_name: Ann, last_name: Lee}}
"""


async def test_powerdns_answers_the_dkim_key_mailcow_generated_and_a_second_apply_is_a_no_op(
    app: App,
    write_inventory: WriteInventory,
    mailcow: tuple[FakeMailcow, str],
    pdns: PowerDns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = mailcow
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    zone = f"m{uuid.uuid4().hex[:10]}.test"
    source = write_inventory(inventory(pdns, url, zone))
    applied = await plans.apply(app, source=source)
    assert not applied.failed, [o.error for o in applied.failed]
    generated = fake.dkim[zone]["pubkey"]
    assert await query(pdns, f"dkim._domainkey.{zone}", "TXT") == [f"v=DKIM1; k=rsa; p={generated}"]
    assert await query(pdns, zone, "MX") == [f"10 mail.{zone}."]
    assert f"ann.lee@{zone}" in fake.mailboxes

    writes, soa = fake.writes, await serial(pdns, zone)
    again = await plans.apply(app)
    assert again.status == "unchanged", again.to_json()
    assert fake.writes == writes and await serial(pdns, zone) == soa
    assert fake.dkim[zone]["pubkey"] == generated
