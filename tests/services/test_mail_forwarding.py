"""Forwarding addresses and a catch-all of a domain on Mailcow (the fake on loopback): planned and
applied with its mailboxes, one event per change, deleted only with --prune and only when we made
it; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.events import Event
from email_infrastructure.mailcow.mailcow_backend import ALIAS_MARK
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from tests.fakes.mailcow import FakeMailcow
from tests.services.conftest import WriteInventory
from tests.services.test_mail_apply import DOMAIN, mail_inventory

FORWARDING = f"""    forwarding:
      catch_all: ann.lee@{DOMAIN}
      addresses:
        sales: [bob.stone@{DOMAIN}, crm@agency.test]
        abuse: security@agency.test
"""


def with_forwarding(url: str, block: str = FORWARDING) -> str:
    """The mail inventory with a forwarding block on its first domain."""
    text = mail_inventory(url)
    anchor = "      - {first_name: Bob, last_name: Stone}\n"
    return text.replace(anchor, anchor + block, 1)


def aliases(fake: FakeMailcow) -> dict[str, dict[str, Any]]:
    """The domain's aliases at the fake (mailbox self-aliases left out), by address."""
    return {a["address"]: a for a in fake.aliases.values() if a["domain"] == DOMAIN and a["address"] != a["goto"]}


def alias_changes(planned: plans.Plan) -> list[tuple[str, str]]:
    mail = next(s for s in planned.graph.steps if s.key == f"mail.mailboxes:{DOMAIN}")
    return [(c.action, c.resource) for c in mail.changes if c.resource.startswith("alias ")]


def notes(planned: plans.Plan) -> list[str]:
    return next(s for s in planned.graph.steps if s.key == f"mail.mailboxes:{DOMAIN}").notes


def alias_events(events: list[Event]) -> list[tuple[str, str]]:
    return [
        (e.topic, str(e.payload["address"]))
        for e in events
        if e.topic.startswith("mail.alias.") and e.payload["domain"] == DOMAIN
    ]


async def test_forwards_and_catch_all_are_planned_applied_once_and_then_left_alone(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], events: list[Event]
) -> None:
    fake, url = mailcow
    source = write_inventory(with_forwarding(url))
    planned = await plans.plan(app, source=source)
    assert fake.writes == 0
    assert set(alias_changes(planned)) == {
        ("create", f"alias postmaster@{DOMAIN}"),
        ("create", f"alias abuse@{DOMAIN}"),
        ("create", f"alias dmarc@{DOMAIN}"),
        ("create", f"alias sales@{DOMAIN}"),
        ("create", f"alias @{DOMAIN}"),
    }

    applied = await plans.apply(app, source=source)
    assert not applied.failed, [o.error for o in applied.failed]
    found = aliases(fake)
    assert found[f"@{DOMAIN}"]["goto"] == f"ann.lee@{DOMAIN}"
    assert found[f"sales@{DOMAIN}"]["goto"] == f"bob.stone@{DOMAIN},crm@agency.test"
    assert found[f"abuse@{DOMAIN}"]["goto"] == "security@agency.test"  # a forward of a role address wins
    assert found[f"postmaster@{DOMAIN}"]["goto"] == f"ann.lee@{DOMAIN}"
    assert all(a["active"] == 1 and a["private_comment"] == ALIAS_MARK for a in found.values())
    assert sorted(alias_events(events)) == sorted(("mail.alias.created", a) for a in found)

    writes = fake.writes
    assert alias_changes(await plans.plan(app)) == []
    assert (await plans.apply(app)).status == "unchanged" and fake.writes == writes


async def test_a_changed_target_is_one_update(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], events: list[Event]
) -> None:
    fake, url = mailcow
    assert not (await plans.apply(app, source=write_inventory(with_forwarding(url)))).failed
    events.clear()
    changed = write_inventory(with_forwarding(url, FORWARDING.replace("crm@agency.test", "crm@other.test")))
    assert alias_changes(await plans.plan(app, source=changed)) == [("update", f"alias sales@{DOMAIN}")]
    assert not (await plans.apply(app, source=changed)).failed
    assert aliases(fake)[f"sales@{DOMAIN}"]["goto"] == f"bob.stone@{DOMAIN},crm@other.test"
    assert alias_events(events) == [("mail.alias.updated", f"sales@{DOMAIN}")]
    # the same targets in another order are no change
    reordered = FORWARDING.replace(f"[bob.stone@{DOMAIN}, crm@agency.test]", f"[crm@other.test, bob.stone@{DOMAIN}]")
    assert alias_changes(await plans.plan(app, source=write_inventory(with_forwarding(url, reordered)))) == []


async def test_a_dropped_forward_goes_only_with_prune_and_never_a_role_or_a_hand_made_alias(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], events: list[Event]
) -> None:
    fake, url = mailcow
    assert not (await plans.apply(app, source=write_inventory(with_forwarding(url)))).failed
    fake._add_alias({"address": f"byhand@{DOMAIN}", "goto": "x@agency.test", "active": "1"})
    events.clear()
    # the catch-all, sales@ and the forward of abuse@ dropped
    smaller = write_inventory(with_forwarding(url, ""))
    planned = await plans.plan(app, source=smaller)
    assert alias_changes(planned) == [("update", f"alias abuse@{DOMAIN}")]  # back to the first mailbox
    assert sorted(n for n in notes(planned) if n.startswith("alias ")) == [
        f"alias @{DOMAIN} is on mc but no longer declared (left alone; --prune deletes it)",
        f"alias sales@{DOMAIN} is on mc but no longer declared (left alone; --prune deletes it)",
    ]
    assert not (await plans.apply(app, source=smaller)).failed
    assert {f"@{DOMAIN}", f"sales@{DOMAIN}", f"byhand@{DOMAIN}"} <= set(aliases(fake))

    pruned = await plans.plan(app, prune=True)
    assert sorted(alias_changes(pruned)) == [("delete", f"alias @{DOMAIN}"), ("delete", f"alias sales@{DOMAIN}")]
    assert not (await plans.apply(app, prune=True)).failed
    assert set(aliases(fake)) == {f"postmaster@{DOMAIN}", f"abuse@{DOMAIN}", f"dmarc@{DOMAIN}", f"byhand@{DOMAIN}"}
    assert aliases(fake)[f"abuse@{DOMAIN}"]["goto"] == f"ann.lee@{DOMAIN}"
    assert sorted(alias_events(events)) == [
        ("mail.alias.deleted", f"@{DOMAIN}"),
        ("mail.alias.deleted", f"sales@{DOMAIN}"),
        ("mail.alias.updated", f"abuse@{DOMAIN}"),
    ]
    assert alias_changes(await plans.plan(app, prune=True)) == []


async def test_a_forward_over_a_generated_mailbox_is_the_steps_error(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow
    planned = await plans.plan(app, source=write_inventory(mail_inventory(url)))
    generated = next(s for s in planned.graph.steps if s.key == "mail.mailboxes:acme-mail.test")
    local = next(c.resource for c in generated.changes if c.resource.startswith("mailbox ")).split(" ")[1]
    text = mail_inventory(url).replace(
        '    mailbox_pattern: "{f}{last}"\n',
        f'    mailbox_pattern: "{{f}}{{last}}"\n    forwarding: {{addresses: {{{local.split("@")[0]}: x@agency.test}}}}\n',
    )
    clash = await plans.plan(app, source=write_inventory(text))
    step = next(s for s in clash.graph.steps if s.key == "mail.mailboxes:acme-mail.test")
    assert step.error is not None and f"{local} is a mailbox" in step.error
    assert fake.writes == 0
