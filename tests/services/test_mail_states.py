"""A mailbox's three states on Mailcow (`active` 1, 2, 0), `--prune` against a server that lists other
domains' mailboxes for a domain, and an export that has nothing to write (the fake on loopback), on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.export import export_credentials
from tests.fakes.mailcow import FakeMailcow
from tests.services.conftest import WriteInventory
from tests.services.test_mail_apply import DOMAIN, OTHER, mail_inventory
from tests.services.test_mail_prune import deletes, only_first, removals, step

ANN, BOB = f"ann.lee@{DOMAIN}", f"bob.stone@{DOMAIN}"


def mailbox_changes(planned: plans.Plan) -> list[tuple[str, str, object, object]]:
    return [
        (c.action, c.resource, c.old, c.new)
        for c in step(planned, f"mail.mailboxes:{DOMAIN}").changes
        if c.resource.startswith("mailbox ")
    ]


async def test_a_login_disabled_on_the_server_stays_disabled_and_an_inactive_mailbox_is_turned_on(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow
    source = write_inventory(mail_inventory(url))
    assert not (await plans.apply(app, source=source)).failed
    assert fake.mailboxes[ANN]["active"] == 1
    fake.mailboxes[ANN]["active"] = 2  # the operator disabled Ann's login; her replies still arrive
    fake.mailboxes[BOB]["active"] = 0

    planned = await plans.plan(app, source=source)
    changes = mailbox_changes(planned)
    assert [(a, r) for a, r, _, _ in changes] == [("update", f"mailbox {BOB}")]
    assert changes[0][2]["state"] == "inactive" and changes[0][3]["state"] == "active"  # type: ignore[index]  # the recorded calls are typed as objects; these are the fake's dicts
    notes = step(planned, f"mail.mailboxes:{DOMAIN}").notes
    assert any(n.startswith(f"{ANN}: login is disabled on mc (mail is still delivered); kept") for n in notes)
    assert not (await plans.apply(app, source=source)).failed
    assert (fake.mailboxes[ANN]["active"], fake.mailboxes[BOB]["active"]) == (2, 1)

    # another change to Ann's mailbox is made with her login still disabled
    busier = write_inventory(mail_inventory(url).replace("daily_send_limit: 30", "daily_send_limit: 40"))
    planned = await plans.plan(app, source=busier)
    ann = next(c for c in mailbox_changes(planned) if c[1] == f"mailbox {ANN}")
    assert ann[0] == "update" and ann[3] == {  # type: ignore[comparison-overlap]  # a tuple of the fake's call records, typed loosely
        "name": "Ann Lee", "quota_mib": 1024, "daily_limit": 40, "state": "login_disabled"
    }  # fmt: skip
    applied = await plans.apply(app, source=busier)
    assert not applied.failed, [o.error for o in applied.failed]
    assert fake.mailboxes[ANN]["active"] == 2 and fake.rl_mbox[ANN] == ("40", "d")
    assert not (await plans.plan(app, source=busier)).has_changes


async def test_prune_deletes_no_mailbox_a_server_lists_for_the_wrong_domain(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow
    assert not (await plans.apply(app, source=write_inventory(mail_inventory(url)))).failed
    theirs = sorted(u for u in fake.mailboxes if u.endswith(f"@{OTHER}"))
    fake.ignores_domain_filter = True  # get/mailbox/all/<domain> now lists every domain's mailboxes

    # a mailbox dropped from DOMAIN: only it goes; OTHER's mailboxes listed with DOMAIN's are noted
    without_bob = write_inventory(mail_inventory(url).replace("      - {first_name: Bob, last_name: Stone}\n", ""))
    planned = await plans.plan(app, source=without_bob, prune=True)
    assert removals(planned) == [f"mail.mailboxes:{DOMAIN} mailbox {BOB}"] and not planned.unsafe
    notes = step(planned, f"mail.mailboxes:{DOMAIN}").notes
    assert f"{DOMAIN}: mc listed 3 mailbox(es) of other domains for this domain ({', '.join(theirs)}); ignored, " \
        "never deleted (the server does not seem to filter mailboxes by domain)" in notes  # fmt: skip
    since = len(fake.requests)
    assert not (await plans.apply(app, source=without_bob, prune=True)).failed
    assert deletes(fake, since) == [("mailbox", [BOB])]

    # a dropped domain: its own mailboxes go, never the ones listed with them
    smaller = write_inventory(only_first(url).replace("      - {first_name: Bob, last_name: Stone}\n", ""))
    planned = await plans.plan(app, source=smaller, prune=True)
    assert sorted(removals(planned)) == sorted(
        [
            f"dkim.key:{OTHER} dkim key dkim of {OTHER} at mc",
            f"mail.domain:{OTHER} mail domain {OTHER} at mc",
            *[f"mail.mailboxes:{OTHER} mailbox {u}" for u in theirs],
        ]
    )
    assert not planned.unsafe
    assert any(f"mc listed 1 mailbox(es) of other domains for this domain ({ANN})" in n
               for n in step(planned, f"mail.mailboxes:{OTHER}").notes)  # fmt: skip
    since = len(fake.requests)
    applied = await plans.apply(app, source=smaller, prune=True)
    assert not applied.failed, [o.error for o in applied.failed]
    assert deletes(fake, since) == [*[("mailbox", [u]) for u in theirs], ("domain", [OTHER]), ("dkim", [OTHER])]
    assert ANN in fake.mailboxes


async def test_an_export_with_no_row_says_why_and_writes_no_file(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], tmp_path: Path
) -> None:
    fake, url = mailcow
    # a third domain on mx2, a server without a mail backend: its 3 mailboxes never exist
    third = "  - {name: plain-mail.test, server: mx2}\n"
    assert not (await plans.apply(app, source=write_inventory(mail_inventory(url, extra_domain=third)))).failed
    some = await export_credentials(app, "generic")
    assert some.rows == 5 and some.reason is None
    assert some.warnings == [
        "1 domain(s) have no mail backend, so their mailboxes are never created and not exported: plain-mail.test "
        "(`email-infra validate` names each)"
    ]

    fake.mailboxes.clear()  # gone from the server (by hand): nothing can be exported
    out = tmp_path / "accounts.csv"
    none = await export_credentials(app, "generic", out, only=[DOMAIN])
    assert none.rows == 0 and not out.exists() and none.text == ""
    assert none.reason == (
        "nothing to export: none of the 2 mailbox(es) of 1 domain(s) on a mail backend exists on its server with a "
        "confirmed password (2 skipped, each with why; run `email-infra apply`)"
    )
    assert none.skipped == {ANN: "not on the server (run apply)", BOB: "not on the server (run apply)"}
    with pytest.raises(UserError, match=r"plain-mail.test: its server mx2 has no mail_backend: its 3 mailbox"):
        await export_credentials(app, "generic", only=["plain-mail.test"])
