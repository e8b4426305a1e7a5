"""kill -9 during a 10-domain, 20-mailbox apply on Mailcow: every change is logged exactly once.

The fake holds one write's answer (after carrying it out, or before) while the test kills the
`email-infra apply` process: the worst moments, when the server has (or has not) made a change the
process never hears about. A handful of such kills in a row, then a run to the end.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import EventIntent, EventRecord, SecretRecord
from tests.fakes.http_server import FakeServer
from tests.fakes.mailcow import FakeMailcow, Response
from tests.fixtures.kills import kill_apply_when
from tests.services.conftest import WriteInventory

# the probe that found the lost events ran 10 x 20; kills land in the same places on a smaller fleet
DOMAINS = [f"kill{i}-outreach.test" for i in range(5)]
PER_DOMAIN = 10


@dataclass
class Hold:
    """Hold the answer to the `nth` POST to `route` (counted from when it is set)."""

    route: str
    nth: int
    #: carry the write out before holding (else it is never carried out: the process died first)
    carried_out: bool
    seen: int = 0


@dataclass
class HoldingMailcow(FakeMailcow):
    """The faithful fake, able to stop answering at one write until released."""

    hold: Hold | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _count_lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        hold = self.hold
        if hold is not None and method == "POST" and path.endswith(hold.route):
            with self._count_lock:
                hold.seen += 1
                mine = hold.seen == hold.nth
            if mine:
                answer = super().__call__(method, path, query, headers, body) if hold.carried_out else (503, {}, b"")
                self.held.set()
                self.release.wait(60)
                return answer
        return super().__call__(method, path, query, headers, body)


@pytest.fixture
def mailcow(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HoldingMailcow, str]]:
    fake = HoldingMailcow()
    monkeypatch.setenv("MAILCOW_TEST_KEY", fake.rw_key)
    with FakeServer(fake) as server:
        yield fake, server.url
    fake.release.set()


def inventory(url: str, names: list[str] = DOMAINS) -> str:
    domains = "\n".join(f"  - name: {d}" for d in names)
    return f"""
version: 1
providers:
  dns:
    local: {{type: zonefile, directory: zones, nameservers: [ns1.quickstart.test., ns2.quickstart.test.]}}
  mail:
    mc: {{type: mailcow, url: "{url}", api_key: env:MAILCOW_TEST_KEY, mailbox_quota_mib: 1024, timeout: 5}}
servers:
  - {{name: mx1, hostname: mail.{DOMAINS[0]}, ipv4: 127.0.0.10, mail_backend: mc}}
defaults:
  dns_provider: local
  server: mx1
  mailboxes_per_domain: {PER_DOMAIN}
  dmarc: {{policy: none}}
domains:
{domains}
"""


#: (route, nth write of that route in the run, carried out before the kill)
KILLS = [
    ("add/domain", 3, True),
    ("add/mailbox", 1, True),
    ("add/mailbox", 15, False),
    ("add/mailbox", 30, True),
]


async def _kill_at(app: App, fake: HoldingMailcow, source: Any, hold: Hold, *options: str) -> None:
    """Run `email-infra apply` until the fake holds the chosen write, then kill -9 it."""
    fake.held.clear()
    fake.release.clear()
    fake.hold = hold
    try:
        await kill_apply_when(app, source.path, fake.held, *options, what=str(hold))
    finally:
        fake.hold = None
        fake.release.set()


async def test_kills_during_a_mail_apply_lose_no_event_and_log_none_twice(
    app: App, write_inventory: WriteInventory, mailcow: tuple[HoldingMailcow, str]
) -> None:
    fake, url = mailcow
    source = write_inventory(inventory(url))
    for route, nth, carried_out in KILLS:
        await _kill_at(app, fake, source, Hold(route, nth, carried_out))

    applied = await plans.apply(app, source=source)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert not (await plans.plan(app)).has_changes

    addresses = sorted(fake.mailboxes)
    assert len(addresses) == len(DOMAINS) * PER_DOMAIN and sorted(fake.domains) == DOMAINS
    async with app.uow() as uow:
        events = (await uow.session.scalars(select(EventRecord).where(EventRecord.topic.like("mail.%")))).all()
        intents = (await uow.session.scalars(select(EventIntent))).all()
        secrets = (await uow.session.scalars(select(SecretRecord))).all()
        stored = await uow.secrets().get_many([password_key(a) for a in addresses])
    logged = Counter((e.topic, str(e.payload.get("address") or e.payload["domain"])) for e in events)
    assert {k: n for k, n in logged.items() if n != 1} == {}  # nothing logged twice
    assert {a for (t, a) in logged if t == "mail.mailbox.created"} == set(addresses)
    assert {d for (t, d) in logged if t == "mail.domain.created"} == set(DOMAINS)
    assert {d for (t, d) in logged if t == "mail.dkim.created"} == set(DOMAINS)
    assert not [e.topic for e in events if e.topic == "mail.mailbox.failed"]
    assert intents == []  # every intent settled
    # one stored secret per mailbox (no pending copy left), and it is the server's password
    mailbox_secrets = [s for s in secrets if s.name.startswith("mailbox-password")]
    assert sorted((s.owner, s.name) for s in mailbox_secrets) == sorted(password_key(a) for a in addresses)
    assert {k[0].removeprefix("domain:") + "/" + k[1]: v for k, v in stored.items()} == {
        a.split("@")[1] + "/" + password_key(a)[1]: p for a, p in fake.passwords().items()
    }


#: kills while `--prune` removes three domains: after Mailcow deleted the domain, before it deleted
#: a key, after it deleted a key (each answer lost with the process)
PRUNE_KILLS = [
    ("delete/domain", 1, True),
    ("delete/dkim", 1, False),
    ("delete/dkim", 1, True),
]


async def test_kills_during_a_prune_lose_no_event_and_log_none_twice(
    app: App, write_inventory: WriteInventory, mailcow: tuple[HoldingMailcow, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = mailcow
    monkeypatch.setattr(sys.modules[__name__], "PER_DOMAIN", 2)
    kept, removed = DOMAINS[:2], DOMAINS[2:]
    source = write_inventory(inventory(url))
    assert not (await plans.apply(app, source=source)).failed
    source = write_inventory(inventory(url, kept))
    for route, nth, carried_out in PRUNE_KILLS:
        await _kill_at(app, fake, source, Hold(route, nth, carried_out), "--prune")

    applied = await plans.apply(app, source=source, prune=True)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert not (await plans.plan(app, prune=True)).has_changes

    assert sorted(fake.domains) == kept and sorted(fake.dkim) == kept
    async with app.uow() as uow:
        events = (await uow.session.scalars(select(EventRecord).where(EventRecord.topic.like("mail.%.deleted")))).all()
        intents = (await uow.session.scalars(select(EventIntent))).all()
        owned = await uow.mail_ownership.domains()
    logged = Counter((e.topic, str(e.payload.get("address") or e.payload["domain"])) for e in events)
    assert {k: n for k, n in logged.items() if n != 1} == {}  # nothing logged twice
    assert {d for (t, d) in logged if t == "mail.domain.deleted"} == set(removed)
    assert {d for (t, d) in logged if t == "mail.dkim.deleted"} == set(removed)
    assert intents == []  # every intent settled
    assert {domain for _backend, domain in owned} == set(kept)
