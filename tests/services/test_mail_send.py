"""send-test end to end: a zone on the real PowerDNS, submission to the real Postfix (AUTH via the
fixture's Dovecot), delivery to an aiosmtpd receiver on loopback, then SPF, DKIM and DMARC of the
received message against the published DNS."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.secret_names import password_key
from email_infrastructure.monitoring.resolver import Resolver
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.mailbox_check import CheckOptions, LoginStatus
from email_infrastructure.services.mailbox_send import VerifyOptions, send_test
from email_infrastructure.services.message_auth import AuthStatus, verify_message
from tests.fixtures.mailserver import LOCAL_SUFFIX, MailServer
from tests.fixtures.pdns import PowerDns
from tests.fixtures.receiver import Received, Receiver
from tests.services.conftest import WriteInventory

PASSWORD = "Send-test-pw.1"
TO = "inbox@receiver.test"


@pytest.fixture
async def resolver(pdns: PowerDns) -> AsyncIterator[Resolver]:
    """The project's resolver asking the PowerDNS fixture."""
    instance = Resolver([(pdns.address, pdns.dns_port)], timeout=2)
    yield instance
    await instance.close()


def inventory(pdns: PowerDns, zone: str, inbox: str = "") -> str:
    # the server's name is the fixture's certificate name; 127.0.0.1 is where Postfix relays from
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
servers:
  - {{name: mx1, hostname: mail.acme-outreach.test, ipv4: 127.0.0.1}}
defaults:
  dns_provider: pdns
  server: mx1
  dmarc: {{policy: reject, rua: ["mailto:dmarc@{zone}"]}}
domains:
  - name: {zone}
    mailboxes:
      - {{first_name: Ann, last_name: Lee}}
""" + (
        f"""\
  - name: {inbox}
    mailboxes:
      - {{first_name: Bob, last_name: Stone}}
"""
        if inbox
        else ""
    )


async def sent_and_received(
    app: App,
    write_inventory: WriteInventory,
    pdns: PowerDns,
    mailserver: MailServer,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, Received]:
    """Apply a fresh zone, confirm Ann's password, send-test to the receiver; (zone, what arrived)."""
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    zone = f"s{uuid.uuid4().hex[:10]}.test"
    applied = await plans.apply(app, source=write_inventory(inventory(pdns, zone)))
    assert not applied.failed, [o.error for o in applied.failed]
    sender = f"ann.lee@{zone}"
    mailserver.set_user(sender, PASSWORD)
    async with app.uow() as uow:
        await uow.secrets().put(*password_key(sender), PASSWORD)
        await uow.commit()
    options = CheckOptions(address="127.0.0.1", submission_port=mailserver.submission_port, ca_file=mailserver.ca_file)
    result = await send_test(app, sender, TO, options=options)
    assert result.status is LoginStatus.PASS, result.answer
    assert result.signed_with == f"dkim._domainkey.{zone}"
    assert PASSWORD not in json.dumps(result.to_json())
    got = await asyncio.to_thread(receiver.messages.get, True, 30)
    while got.mail_from != sender:  # a bounce another test left in the queue
        got = await asyncio.to_thread(receiver.messages.get, True, 30)
    assert got.rcpt_to == [TO]
    return zone, got


async def test_a_sent_message_arrives_with_spf_dkim_and_dmarc_passing(
    app: App,
    write_inventory: WriteInventory,
    pdns: PowerDns,
    mailserver: MailServer,
    receiver: Receiver,
    resolver: Resolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zone, got = await sent_and_received(app, write_inventory, pdns, mailserver, receiver, monkeypatch)
    assert got.ip == "127.0.0.1"
    found = await verify_message(got.raw, ip=got.ip, mail_from=got.mail_from, helo=got.helo, resolver=resolver)
    assert found.status is AuthStatus.PASS, found.to_json()
    assert (found.spf.result, found.spf.domain) == ("pass", zone)
    assert [(d.result, d.domain) for d in found.dkim] == [("pass", zone)]
    assert found.dmarc.result == "pass" and "p=reject" in found.dmarc.detail
    assert "spf" in found.dmarc.detail and f"dkim d={zone}" in found.dmarc.detail


async def test_a_tampered_body_fails_dkim_and_a_foreign_ip_then_fails_dmarc(
    app: App,
    write_inventory: WriteInventory,
    pdns: PowerDns,
    mailserver: MailServer,
    receiver: Receiver,
    resolver: Resolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, got = await sent_and_received(app, write_inventory, pdns, mailserver, receiver, monkeypatch)
    tampered = got.raw.replace(b"A test message", b"A changed message")
    assert tampered != got.raw
    found = await verify_message(tampered, ip=got.ip, mail_from=got.mail_from, helo=got.helo, resolver=resolver)
    assert [d.result for d in found.dkim] == ["fail"]
    # SPF alone still aligns: DMARC passes, the whole verification does not
    assert (found.spf.result, found.dmarc.result, found.status) == ("pass", "pass", AuthStatus.FAIL)
    foreign = await verify_message(tampered, ip="192.0.2.1", mail_from=got.mail_from, helo=got.helo, resolver=resolver)
    assert (foreign.spf.result, foreign.dmarc.result) == ("fail", "fail")
    assert "p=reject" in foreign.dmarc.detail


async def test_an_unknown_mailbox_is_a_usage_error(
    app: App, write_inventory: WriteInventory, pdns: PowerDns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    zone = f"s{uuid.uuid4().hex[:10]}.test"
    await plans.apply(app, source=write_inventory(inventory(pdns, zone)))
    with pytest.raises(UserError, match="not a mailbox"):
        await send_test(app, f"nobody@{zone}", TO)
    with pytest.raises(UserError, match="not confirmed"):
        await send_test(app, f"ann.lee@{zone}", TO)
    with pytest.raises(UserError, match="not an email address"):
        await send_test(app, f"ann.lee@{zone}", "x@y.test\r\nBcc: z@y.test")


async def test_verify_fetches_the_copy_from_a_seed_mailbox_and_checks_it(
    app: App,
    write_inventory: WriteInventory,
    pdns: PowerDns,
    mailserver: MailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    token = uuid.uuid4().hex[:10]
    zone, inbox = f"s{token}.test", f"r{token}.{LOCAL_SUFFIX}"  # the fixture's Postfix delivers the latter
    applied = await plans.apply(app, source=write_inventory(inventory(pdns, zone, inbox)))
    assert not applied.failed, [o.error for o in applied.failed]
    sender, seed = f"ann.lee@{zone}", f"bob.stone@{inbox}"
    mailserver.set_users(dict.fromkeys((sender, seed), PASSWORD))
    async with app.uow() as uow:
        for address in (sender, seed):
            await uow.secrets().put(*password_key(address), PASSWORD)
        await uow.commit()
    options = CheckOptions(
        address="127.0.0.1",
        submission_port=mailserver.submission_port,
        imaps_port=mailserver.imaps_port,
        ca_file=mailserver.ca_file,
    )
    verify = VerifyOptions([f"{pdns.address}:{pdns.dns_port}"], wait=30)
    result = await send_test(app, sender, seed, options=options, verify=verify)
    assert result.outcome is LoginStatus.PASS, result.to_json()
    assert result.verification is not None
    assert (result.verification.spf.result, result.verification.dmarc.result) == ("pass", "pass")
    assert [d.result for d in result.verification.dkim] == ["pass"]
    assert "from 127.0.0.1" in result.received and f"MAIL FROM <{sender}>" in result.received
    assert PASSWORD not in json.dumps(result.to_json())
