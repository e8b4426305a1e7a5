"""Plan and apply a domain on a Mailcow server (the fake on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from email_infrastructure.core.events import Event
from email_infrastructure.core.secret_names import password_key, pending_key
from email_infrastructure.core.settings import Settings
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import SecretRecord
from tests.fakes.mailcow import FakeMailcow
from tests.services.conftest import WriteInventory

DOMAIN = "acme-outreach.test"
OTHER = "acme-mail.test"


def mail_inventory(url: str, *, extra_domain: str = "") -> str:
    """Two domains on a Mailcow server: one lists its people, one gets the default 3."""
    return f"""
version: 1
providers:
  dns:
    local: {{type: zonefile, directory: zones, nameservers: [ns1.quickstart.test., ns2.quickstart.test.]}}
  mail:
    mc: {{type: mailcow, url: "{url}", api_key: env:MAILCOW_TEST_KEY, mailbox_quota_mib: 1024, timeout: 2}}
servers:
  - {{name: mx1, hostname: mail.acme-outreach.test, ipv4: 127.0.0.10, mail_backend: mc}}
  - {{name: mx2, hostname: mail.plain.test, ipv4: 127.0.0.11}}
defaults:
  dns_provider: local
  server: mx1
  daily_send_limit: 30
  dmarc: {{policy: none, rua: ["mailto:dmarc@{DOMAIN}"]}}
domains:
  - name: {DOMAIN}
    mailboxes:
      - {{first_name: Ann, last_name: Lee}}
      - {{first_name: Bob, last_name: Stone}}
  - name: {OTHER}
    mailbox_pattern: "{{f}}{{last}}"
{extra_domain}"""


class Killed(BaseException):
    """Stands for the process being killed (not an error any code catches)."""


def zone_text(settings: Settings, zone: str) -> str:
    return (settings.data_dir / "zones" / f"{zone}.zone").read_text().replace('" "', "")


async def test_apply_creates_domain_dkim_and_mailboxes_and_publishes_the_servers_key(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], events: list[Event]
) -> None:
    fake, url = mailcow
    source = write_inventory(mail_inventory(url))
    planned = await plans.plan(app, source=source)
    assert fake.writes == 0  # a plan writes nothing
    keys = {s.key for s in planned.graph.steps}
    assert {f"mail.domain:{DOMAIN}", f"dkim.key:{DOMAIN}", f"dns.zone:{DOMAIN}", f"mail.mailboxes:{DOMAIN}"} <= keys
    boxes = next(s for s in planned.graph.steps if s.key == f"mail.mailboxes:{DOMAIN}")
    created = [c for c in boxes.changes if c.action == "create" and c.resource.startswith("mailbox ")]
    assert [c.resource for c in created] == [f"mailbox ann.lee@{DOMAIN}", f"mailbox bob.stone@{DOMAIN}"]
    assert created[0].to_json()["new"]["password"] == {"known_after_apply": True}

    applied = await plans.apply(app, source=source)
    assert not applied.failed, [o.error for o in applied.failed]
    # the domain with quotas and a raised mailbox cap; the key the server generated is in DNS
    assert fake.domains[DOMAIN]["maxquota"] == 1024 and fake.domains[DOMAIN]["mailboxes"] == 10
    for zone in (DOMAIN, OTHER):
        assert fake.dkim[zone]["bits"] == 2048
        assert fake.dkim[zone]["pubkey"] in zone_text(app.settings, zone)
    # mailboxes: name sent, quota, the daily limit as the server's rate limit
    assert sorted(u for u in fake.mailboxes if u.endswith(DOMAIN)) == [f"ann.lee@{DOMAIN}", f"bob.stone@{DOMAIN}"]
    assert fake.mailboxes[f"ann.lee@{DOMAIN}"]["name"] == "Ann Lee"
    assert fake.mailboxes[f"ann.lee@{DOMAIN}"]["quota"] == 1024
    assert fake.rl_mbox[f"ann.lee@{DOMAIN}"] == ("30", "d")
    assert len([u for u in fake.mailboxes if u.endswith(OTHER)]) == 3  # defaults.mailboxes_per_domain
    # role aliases and the local DMARC address, active
    aliases = {a["address"]: a for a in fake.aliases.values() if a["address"] != a["goto"]}
    assert {f"postmaster@{DOMAIN}", f"abuse@{DOMAIN}", f"dmarc@{DOMAIN}", f"postmaster@{OTHER}"} <= set(aliases)
    assert all(a["active"] == 1 for a in aliases.values())
    # the vault holds exactly the passwords the server took
    async with app.uow() as uow:
        stored = await uow.secrets().get_many([password_key(u) for u in fake.mailboxes])
    assert {k[1]: v for k, v in stored.items()} == {
        password_key(u)[1]: p for u, p in fake.passwords().items() if u.endswith(DOMAIN)
    } | {password_key(u)[1]: p for u, p in fake.passwords().items() if u.endswith(OTHER)}
    # events, never a password
    topics = [e.topic for e in events]
    assert topics.count("mail.mailbox.created") == 5 and topics.count("mail.domain.created") == 2
    assert not any(p in repr(e.payload) for e in events for p in fake.passwords().values())
    assert not any(p in repr(applied.to_json()) for p in fake.passwords().values())

    writes = fake.writes
    again = await plans.plan(app)
    assert not again.has_changes, again.to_json()
    second = await plans.apply(app)
    assert second.status == "unchanged" and fake.writes == writes


async def test_one_rejected_mailbox_fails_alone_and_the_rest_go_on(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = mailcow
    source = write_inventory(mail_inventory(url))
    # someone made bob.stone@ an alias on the server: Mailcow answers is_alias for that mailbox
    fake._add_domain({"domain": DOMAIN, "mailboxes": "10", "defquota": "1024", "maxquota": "1024", "quota": "10240"})
    fake._add_alias({"address": f"bob.stone@{DOMAIN}", "goto": "x@example.net", "active": "1"})
    caplog.set_level(logging.DEBUG)
    applied = await plans.apply(app, source=source)
    (failed,) = applied.failed
    assert failed.key == f"mail.mailboxes:{DOMAIN}"
    assert failed.error is not None and f"bob.stone@{DOMAIN}" in failed.error and "is_alias" in failed.error
    assert f"ann.lee@{DOMAIN}" in fake.mailboxes and f"bob.stone@{DOMAIN}" not in fake.mailboxes
    assert len([u for u in fake.mailboxes if u.endswith(OTHER)]) == 3  # the other domain went on
    secrets_seen = list(fake.passwords().values())
    async with app.uow() as uow:
        pending = await uow.secrets().get(*pending_key(f"bob.stone@{DOMAIN}"))
    assert pending is not None
    secrets_seen.append(pending)
    text = caplog.text + repr(applied.to_json())
    assert not any(p in text for p in secrets_seen)


async def test_a_kill_after_the_api_call_loses_no_password_and_creates_no_duplicate(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from email_infrastructure.mailcow.mailcow_backend import MailcowBackend

    fake, url = mailcow
    source = write_inventory(mail_inventory(url))
    original = MailcowBackend.create_mailbox

    async def killed(self: MailcowBackend, wanted: object, password: str) -> None:
        await original(self, wanted, password)  # type: ignore[arg-type]  # the patched signature
        raise Killed  # the process dies before the read-back is confirmed

    monkeypatch.setattr(MailcowBackend, "create_mailbox", killed)
    with pytest.raises(Killed):
        await plans.apply(app, source=source, only=[DOMAIN])
    monkeypatch.setattr(MailcowBackend, "create_mailbox", original)
    (created,) = [u for u in fake.mailboxes if u.endswith(DOMAIN)]
    planned = await plans.plan(app, source=source, only=[DOMAIN])
    boxes = next(s for s in planned.graph.steps if s.key == f"mail.mailboxes:{DOMAIN}")
    assert any(c.resource == f"mailbox {created} password" for c in boxes.changes)
    applied = await plans.apply(app, source=source, only=[DOMAIN])
    assert not applied.failed, [o.error for o in applied.failed]
    assert sorted(u for u in fake.mailboxes if u.endswith(DOMAIN)) == [f"ann.lee@{DOMAIN}", f"bob.stone@{DOMAIN}"]
    async with app.uow() as uow:
        kept = await uow.secrets().get(*password_key(created))
        rows = await uow.events.recent(limit=100, topic_prefix="mail.mailbox.")
        stored = (await uow.session.scalars(select(SecretRecord).where(SecretRecord.owner == f"domain:{DOMAIN}"))).all()
    assert kept == fake.passwords()[created]
    assert not (await plans.plan(app, only=[DOMAIN])).has_changes
    # the mailbox the killed run made is logged once, on confirmation; each mailbox has one secret
    assert sorted((r.topic, r.payload["address"]) for r in rows) == [
        ("mail.mailbox.created", f"ann.lee@{DOMAIN}"),
        ("mail.mailbox.created", f"bob.stone@{DOMAIN}"),
    ]
    assert sorted(r.name for r in stored) == ["mailbox-password:ann.lee", "mailbox-password:bob.stone"]


async def test_a_confirmed_mailbox_has_exactly_one_stored_secret(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow
    applied = await plans.apply(app, source=write_inventory(mail_inventory(url)), only=[DOMAIN])
    assert not applied.failed, [o.error for o in applied.failed]
    async with app.uow() as uow:
        stored = (await uow.session.scalars(select(SecretRecord).where(SecretRecord.owner == f"domain:{DOMAIN}"))).all()
    assert sorted((r.owner, r.name) for r in stored) == sorted(password_key(u) for u in fake.mailboxes)


async def test_wrong_key_and_read_only_key_fail_the_mail_steps_clearly(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = mailcow
    monkeypatch.setenv("MAILCOW_TEST_KEY", "WRONG-KEY")
    planned = await plans.plan(app, source=write_inventory(mail_inventory(url)))
    errors = {s.key: s.error or "" for s in planned.failed}
    assert "authentication failed: the API key was refused" in errors[f"mail.domain:{DOMAIN}"]
    assert "WRONG-KEY" not in repr(errors)
    monkeypatch.setenv("MAILCOW_TEST_KEY", fake.ro_key)
    applied = await plans.apply(app, source=write_inventory(mail_inventory(url)))
    failed = {o.key: o for o in applied.failed}
    assert "read-only" in (failed[f"mail.domain:{DOMAIN}"].error or "")
    assert failed[f"dns.zone:{DOMAIN}"].status == "skipped" and fake.domains == {}


async def test_mailcow_down_fails_its_domains_only(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = "  - {name: plain.test, server: mx2}\n"  # no mail backend: a local DKIM key
    text = mail_inventory(f"http://127.0.0.1:{port}", extra_domain=extra)
    planned = await plans.plan(app, source=write_inventory(text))
    assert "unreachable" in (next(s for s in planned.failed if s.key == f"mail.domain:{DOMAIN}").error or "")
    assert not any(s.key.endswith("plain.test") for s in planned.failed)
    assert {"dkim.key:plain.test", "dns.zone:plain.test"} <= {s.key for s in planned.graph.steps}
    assert "mail.domain:plain.test" not in {s.key for s in planned.graph.steps}


async def test_records_of_a_mail_domain_show_the_servers_key_and_write_nothing(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    from email_infrastructure.services.records import desired_records

    fake, url = mailcow
    source = write_inventory(mail_inventory(url))
    before = await desired_records(app, DOMAIN, source)
    assert any("generated at the first apply (by the mail server)" in n for n in before.notes)
    assert fake.writes == 0
    await plans.apply(app, source=source)
    after = await desired_records(app, DOMAIN)
    dkim = next(r for r in after.records if r.name == f"dkim._domainkey.{DOMAIN}")
    assert fake.dkim[DOMAIN]["pubkey"] in dkim.values[0]


async def test_a_kill_after_add_domain_still_logs_the_domain_and_its_key_once(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from email_infrastructure.mailcow.mailcow_backend import MailcowBackend

    fake, url = mailcow
    source = write_inventory(mail_inventory(url))
    original = MailcowBackend.ensure_domain

    async def killed(self: MailcowBackend, *args: Any, **kwargs: Any) -> None:
        await original(self, *args, **kwargs)
        raise Killed  # the domain and its DKIM key exist; the run never hears of it

    monkeypatch.setattr(MailcowBackend, "ensure_domain", killed)
    with pytest.raises(Killed):
        await plans.apply(app, source=source, only=[DOMAIN])
    monkeypatch.setattr(MailcowBackend, "ensure_domain", original)
    assert DOMAIN in fake.domains and DOMAIN in fake.dkim
    applied = await plans.apply(app, source=source, only=[DOMAIN])
    assert not applied.failed, [o.error for o in applied.failed]
    async with app.uow() as uow:
        rows = await uow.events.recent(limit=100, topic_prefix="mail.")
    logged = sorted(r.topic for r in rows if r.payload.get("domain") == DOMAIN and "address" not in r.payload)
    assert logged == ["mail.dkim.created", "mail.domain.created"]
