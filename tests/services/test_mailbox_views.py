"""The mailbox read model (services/mailbox_views.py): mailboxes with their domain, their server (their
own, else the defaults') and their login state, filtered and paged in SQL; one mailbox by address."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.mailbox_views import mailbox_detail, mailbox_list
from email_infrastructure.services.monitoring import record_results
from tests.services.conftest import QUICKSTART, WriteInventory

#: the quickstart with a second server and a domain of its own on it
FLEET = QUICKSTART.replace(
    "    ipv4: 127.0.0.10\n",
    "    ipv4: 127.0.0.10\n  - name: mx2\n    hostname: mail.second.test\n    ipv4: 127.0.0.11\n",
).replace(
    "domains:\n",
    "domains:\n  - name: second.test\n    server: mx2\n    mailboxes:\n"
    "      - {first_name: Dee, last_name: Ray}\n      - {first_name: Eve, last_name: Ash, local_part: eve_x}\n",
)


@pytest.fixture
async def fleet(app: App, write_inventory: WriteInventory) -> App:
    """Five mailboxes on two servers; eve_x@second.test's login failed, ann.lee's passed."""
    await import_inventory(app, write_inventory(FLEET))
    await record_results(
        app,
        [
            ("eve_x@second.test", "mailbox", "error", {"status": "error", "findings": []}, "refused"),
            ("ann.lee@acme-outreach.test", "mailbox", "ok", {"status": "ok", "findings": []}, "ok"),
        ],
    )
    return app


async def test_every_mailbox_with_its_server_own_or_default(fleet: App) -> None:
    view = await mailbox_list(fleet)
    found = {m.address: (m.domain, m.server, m.status) for m in view.items}
    assert found == {
        "cara.diaz@acme-mail.test": ("acme-mail.test", "mx1", "none"),
        "ann.lee@acme-outreach.test": ("acme-outreach.test", "mx1", "ok"),
        "bob.stone@acme-outreach.test": ("acme-outreach.test", "mx1", "none"),
        "dee.ray@second.test": ("second.test", "mx2", "none"),
        "eve_x@second.test": ("second.test", "mx2", "error"),
    }
    assert view.matching == 5 and view.servers == ["mx1", "mx2"]
    assert view.domains == ["acme-mail.test", "acme-outreach.test", "second.test"]


async def test_pages_and_filters_are_counted_in_sql(fleet: App) -> None:
    page = await mailbox_list(fleet, limit=2, offset=2)
    assert [m.address for m in page.items] == ["bob.stone@acme-outreach.test", "dee.ray@second.test"]
    assert page.matching == 5
    assert [m.address for m in (await mailbox_list(fleet, server="mx2", status="none")).items] == [
        "dee.ray@second.test"
    ]
    # `_` is a character, not a LIKE wildcard
    assert [m.address for m in (await mailbox_list(fleet, search="e_x")).items] == ["eve_x@second.test"]
    assert (await mailbox_list(fleet, search="ee_x")).matching == 0
    assert (await mailbox_list(fleet, domain="SECOND.test.")).matching == 2


async def test_bad_filters_are_refused(fleet: App) -> None:
    with pytest.raises(UserError, match="unknown status"):
        await mailbox_list(fleet, status="purple")
    with pytest.raises(UserError):
        await mailbox_list(fleet, limit=0)


async def test_one_mailbox_by_address(fleet: App) -> None:
    detail = await mailbox_detail(fleet, "Eve_X@second.test")
    assert detail.mailbox.address == "eve_x@second.test" and detail.mailbox.hostname == "mail.second.test"
    assert [(c.check, c.status, c.recent) for c in detail.checks] == [("mailbox", "error", ["error"])]
    for missing in ("nobody@second.test", "second.test", "eve_x@acme-mail.test"):
        with pytest.raises(NotFoundError):
            await mailbox_detail(fleet, missing)
