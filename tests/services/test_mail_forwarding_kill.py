"""kill -9 while forwards and catch-alls are created, changed and pruned on Mailcow: every alias change
is logged exactly once and the re-run converges (the same holding fake as test_mail_kill.py)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import EventIntent, EventRecord
from tests.services.conftest import WriteInventory
from tests.services.test_mail_kill import Hold, HoldingMailcow, _kill_at, mailcow

__all__ = ["mailcow"]  # the holding fake's fixture, used here

# one domain: its alias changes run one after the other, so each kill lands where it is aimed
DOMAINS = ["fwd0-outreach.test"]
FORWARDED = ("info", "sales", "support")


def inventory(url: str, target: str = "crm@agency.test", *, sales: bool = True) -> str:
    """A domain with one mailbox, a catch-all to an outside address and (with `sales`) three forwards."""
    forwards = ", ".join(f"{local}: [{target}, boss@agency.test]" for local in FORWARDED)
    forward = f"    addresses: {{{forwards}}}\n" if sales else ""
    domains = "".join(f"  - name: {d}\n" for d in DOMAINS)
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
  mailboxes_per_domain: 1
  dmarc: {{policy: none}}
  forwarding:
    catch_all: ops@agency.test
{forward}domains:
{domains}"""


#: (route, nth write of that route in the run, carried out before the kill)
CREATE_KILLS = [("add/alias", 3, True), ("add/alias", 2, False)]
CHANGE_KILLS = [("edit/alias", 1, True), ("delete/alias", 1, False), ("delete/alias", 1, True)]


async def test_kills_while_aliases_change_lose_no_event_and_log_none_twice(
    app: App, write_inventory: WriteInventory, mailcow: tuple[HoldingMailcow, str]
) -> None:
    fake, url = mailcow
    source = write_inventory(inventory(url))
    for route, nth, carried_out in CREATE_KILLS:
        await _kill_at(app, fake, source, Hold(route, nth, carried_out))
    assert not (await plans.apply(app, source=source)).failed
    assert not (await plans.plan(app)).has_changes

    # a changed target of the catch-all, the forwards dropped: an update, then deletions with --prune
    source = write_inventory(inventory(url, "crm@other.test", sales=False).replace("ops@", "desk@"))
    for route, nth, carried_out in CHANGE_KILLS:
        await _kill_at(app, fake, source, Hold(route, nth, carried_out), "--prune")
    applied = await plans.apply(app, source=source, prune=True)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert not (await plans.plan(app, prune=True)).has_changes

    found = {a["address"]: a["goto"] for a in fake.aliases.values() if a["address"] != a["goto"]}
    assert {a: g for a, g in found.items() if a.startswith("@")} == {f"@{d}": "desk@agency.test" for d in DOMAINS}
    assert not any(a.split("@")[0] in FORWARDED for a in found)
    async with app.uow() as uow:
        events = (await uow.session.scalars(select(EventRecord).where(EventRecord.topic.like("mail.alias.%")))).all()
        intents = (await uow.session.scalars(select(EventIntent))).all()
    logged = Counter((e.topic, str(e.payload["address"]), str(e.payload["goto"])) for e in events)
    assert {k: n for k, n in logged.items() if n != 1} == {}  # nothing logged twice
    topics = Counter((topic, address) for topic, address, _ in logged)
    for d in DOMAINS:
        assert topics[("mail.alias.created", f"@{d}")] == 1 and topics[("mail.alias.updated", f"@{d}")] == 1
        for local in FORWARDED:
            assert topics[("mail.alias.created", f"{local}@{d}")] == topics[("mail.alias.deleted", f"{local}@{d}")] == 1
    assert intents == []  # every intent settled
