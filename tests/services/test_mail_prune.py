"""`--prune`: what the desired state no longer has leaves the Mailcow server (the fake), and only what
we created; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from email_infrastructure.core.events import Event
from email_infrastructure.core.secret_names import password_key, pending_key
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from tests.fakes.mailcow import FakeMailcow
from tests.services.conftest import WriteInventory
from tests.services.test_mail_apply import DOMAIN, OTHER, mail_inventory


def only_first(url: str) -> str:
    """The inventory without its second domain."""
    text = mail_inventory(url)
    return text[: text.index(f"  - name: {OTHER}")]


def deletes(fake: FakeMailcow, since: int = 0) -> list[tuple[str, Any]]:
    """Every delete call after request number `since`, in order: (category, items)."""
    return [(path.rsplit("/", 1)[-1], data) for _, path, _, data in fake.requests[since:] if "/delete/" in path]


def step(planned: plans.Plan, key: str) -> Any:
    return next(s for s in planned.graph.steps if s.key == key)


def removals(planned: plans.Plan) -> list[str]:
    """The deletions of mail and DKIM steps (DNS records of a dropped zone go without --prune, as before)."""
    return [f"{s.key} {c.resource}" for s in planned.graph.ordered if s.component != "dns" for c in s.changes
            if c.action == "delete"]  # fmt: skip


async def vault(app: App, addresses: list[str]) -> set[tuple[str, str]]:
    async with app.uow() as uow:
        found = await uow.secrets().get_many([k for a in addresses for k in (password_key(a), pending_key(a))])
    return set(found)


async def test_a_dropped_domain_is_noted_without_prune_and_removed_in_order_with_it(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], events: list[Event]
) -> None:
    fake, url = mailcow
    assert not (await plans.apply(app, source=write_inventory(mail_inventory(url)))).failed
    theirs = sorted(u for u in fake.mailboxes if u.endswith(OTHER))
    assert len(theirs) == 3 and {password_key(u) for u in theirs} <= await vault(app, theirs)
    smaller = write_inventory(only_first(url))

    # without --prune: a note, no removal; apply leaves the server's mail as it is
    planned = await plans.plan(app, source=smaller)
    assert removals(planned) == []
    assert any("--prune removes it" in n for n in step(planned, f"mail.domain:{OTHER}").notes)
    before = fake.snapshot()
    assert not (await plans.apply(app, source=smaller)).failed
    assert fake.snapshot()["mailboxes"] == before["mailboxes"] and OTHER in fake.domains and OTHER in fake.dkim

    # with --prune: mailboxes, then the domain, then the DKIM key Mailcow would keep
    pruned = await plans.plan(app, prune=True)
    assert removals(pruned) == [
        f"dkim.key:{OTHER} dkim key dkim of {OTHER} at mc",
        f"mail.domain:{OTHER} mail domain {OTHER} at mc",
        *[f"mail.mailboxes:{OTHER} mailbox {u}" for u in theirs],
    ]
    assert step(pruned, f"mail.domain:{OTHER}").depends_on == [f"mail.mailboxes:{OTHER}"]
    since, writes = len(fake.requests), fake.writes
    assert fake.writes == writes  # the plan wrote nothing
    events.clear()
    applied = await plans.apply(app, prune=True)
    assert not applied.failed, [o.error for o in applied.failed]
    assert deletes(fake, since) == [*[("mailbox", [u]) for u in theirs], ("domain", [OTHER]), ("dkim", [OTHER])]
    assert OTHER not in fake.domains and OTHER not in fake.dkim
    assert not any(u.endswith(OTHER) for u in fake.mailboxes)
    assert len([u for u in fake.mailboxes if u.endswith(DOMAIN)]) == 2  # the desired domain is untouched
    assert await vault(app, theirs) == set()  # passwords forgotten once the mailboxes are gone
    topics = [e.topic for e in events if e.topic.startswith("mail.")]
    assert topics == ["mail.mailbox.deleted"] * 3 + ["mail.domain.deleted", "mail.dkim.deleted"]
    assert {e.correlation_id for e in events} == {applied.correlation_id}

    # nothing left to remove, and the domain is no longer ours: the next plan has no mail steps for it
    again = await plans.plan(app, prune=True)
    assert not again.has_changes, again.to_json()
    assert not any(s.key.endswith(OTHER) and s.component != "dns" for s in again.graph.steps)


async def test_a_mailbox_dropped_from_a_domain_goes_only_with_prune_and_only_if_ours(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], events: list[Event]
) -> None:
    fake, url = mailcow
    assert not (await plans.apply(app, source=write_inventory(mail_inventory(url)))).failed
    # someone made a mailbox by hand on our domain: never ours to delete
    fake._add_mailbox({"local_part": "intruder", "domain": DOMAIN, "password": "hand-made-1", "password2": "hand-made-1",
                       "quota": "100"})  # fmt: skip
    bob = f"bob.stone@{DOMAIN}"
    without_bob = mail_inventory(url).replace("      - {first_name: Bob, last_name: Stone}\n", "")
    source = write_inventory(without_bob)

    planned = await plans.plan(app, source=source)
    notes = step(planned, f"mail.mailboxes:{DOMAIN}").notes
    assert f"{bob} is on mc but not in the inventory (left alone; --prune deletes it)" in notes
    assert f"intruder@{DOMAIN} is on mc but not in the inventory and was not created by us (left alone)" in notes
    assert removals(planned) == []
    assert not (await plans.apply(app, source=source)).failed
    assert bob in fake.mailboxes

    events.clear()
    since = len(fake.requests)
    applied = await plans.apply(app, prune=True)
    assert not applied.failed, [o.error for o in applied.failed]
    assert deletes(fake, since) == [("mailbox", [bob])]
    assert bob not in fake.mailboxes and f"intruder@{DOMAIN}" in fake.mailboxes
    assert await vault(app, [bob]) == set()
    assert [e.payload["address"] for e in events if e.topic == "mail.mailbox.deleted"] == [bob]
    assert not (await plans.plan(app, prune=True)).has_changes


async def test_prune_never_touches_a_domain_we_did_not_create(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow
    # OTHER was on the server before us (we only adjust it); a third domain is not ours at all
    for name in (OTHER, "someone-else.test"):
        fake._add_domain({"domain": name, "mailboxes": "10", "defquota": "1024", "maxquota": "1024", "quota": "10240"})
    fake._add_mailbox({"local_part": "kim", "domain": "someone-else.test", "password": "their-pass-1",
                       "password2": "their-pass-1"})  # fmt: skip
    assert not (await plans.apply(app, source=write_inventory(mail_inventory(url)))).failed
    since = len(fake.requests)
    planned = await plans.plan(app, source=write_inventory(only_first(url)), prune=True)
    assert removals(planned) == []
    assert not any(s.key.startswith(("mail.", "dkim.")) and s.key.endswith(OTHER) for s in planned.graph.steps)
    applied = await plans.apply(app, source=write_inventory(only_first(url)), prune=True)
    assert not applied.failed, [o.error for o in applied.failed]
    assert deletes(fake, since) == []
    assert {OTHER, "someone-else.test"} <= set(fake.domains) and OTHER in fake.dkim
    assert "kim@someone-else.test" in fake.mailboxes


async def test_deleting_over_30_percent_of_ten_managed_mailboxes_needs_force(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow

    def inventory(count: int) -> str:
        return mail_inventory(url).replace(
            'mailbox_pattern: "{f}{last}"', f'mailbox_pattern: "{{f}}{{last}}"\n    mailbox_count: {count}'
        )

    assert not (await plans.apply(app, source=write_inventory(inventory(10)))).failed
    ten = sorted(u for u in fake.mailboxes if u.endswith(OTHER))
    assert len(ten) == 10
    # 3 of 10 (30 %) is not more than the share: allowed
    assert not (await plans.plan(app, source=write_inventory(inventory(7)), prune=True)).unsafe
    smaller = write_inventory(inventory(6))
    planned = await plans.plan(app, source=smaller, prune=True)
    assert planned.unsafe == [
        f"{OTHER}: would delete 4 of 10 managed mailboxes (more than 30%); re-run with --force if that is intended"
    ]
    writes = fake.writes
    with pytest.raises(plans.UnsafePlanError):
        await plans.apply(app, source=smaller, prune=True)
    assert fake.writes == writes and sorted(u for u in fake.mailboxes if u.endswith(OTHER)) == ten
    applied = await plans.apply(app, source=smaller, prune=True, force=True)
    assert not applied.failed, [o.error for o in applied.failed]
    kept = sorted(u for u in fake.mailboxes if u.endswith(OTHER))
    assert len(kept) == 6 and set(kept) < set(ten)
    assert await vault(app, sorted(set(ten) - set(kept))) == set()


async def test_the_migration_recovers_domains_we_created_before_ownership_was_recorded(database_url: str) -> None:
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from email_infrastructure.core.database import create_engine
    from email_infrastructure.storage import migrate

    await migrate.upgrade(database_url, "0005")
    events = sa.table(
        "events",
        *(sa.column(c, sa.String()) for c in ("id", "topic", "source", "correlation_id")),
        sa.column("payload", sa.JSON()),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
    )
    rows = [("mail.domain.created", "ours.test"), ("mail.domain.updated", "adjusted.test")]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for n, (topic, domain) in enumerate(rows):
                payload = {"domain": domain, "backend": "mc"}
                await conn.execute(
                    events.insert().values(
                        id=f"e{n}",
                        topic=topic,
                        source="mail",
                        correlation_id=None,
                        payload=payload,
                        occurred_at=datetime.now(UTC),
                    )
                )
        await migrate.upgrade(database_url)
        async with engine.connect() as conn:
            owned = (await conn.execute(sa.text("SELECT backend, domain FROM mail_owned_domains"))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in owned] == [("mc", "ours.test")]  # updated is not created: never ours
