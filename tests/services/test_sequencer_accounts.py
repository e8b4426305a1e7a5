"""What each sequencer holds of our mailboxes (services/sequencer_accounts.py): one listing per sequencer
against the desired state's (mailbox, sequencer) pairs — present with health and differing settings, or
missing — through the faithful Instantly and Smartlead fakes. Nothing is written anywhere."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.sequencer_accounts import accounts_view
from email_infrastructure.storage.db import Database
from tests.fakes.instantly import FakeInstantly
from tests.fakes.smartlead import FakeSmartlead
from tests.sequencers.conftest import emailbison, instantly, reachinbox, smartlead
from tests.services.conftest import QUICKSTART, WriteInventory

__all__ = ["emailbison", "instantly", "reachinbox", "smartlead"]  # the fakes' fixtures, used here


def _inventory(inst: FakeInstantly, sl: FakeSmartlead) -> str:
    return (
        QUICKSTART.replace(
            "\nservers:",
            "\n  sequencers:\n"
            f'    inst: {{type: instantly, token: env:INST_KEY, api_url: "{inst.url}"}}\n'
            f'    sl: {{type: smartlead, token: env:SL_KEY, api_url: "{sl.url}"}}\n'
            "\nservers:",
            1,
        )
        .replace("  redirect: https://www.acme.test\n", "  redirect: https://www.acme.test\n  sequencers: [inst]\n", 1)
        .replace(
            "    mta_sts: {enabled: true, mode: testing}\n",
            "    mta_sts: {enabled: true, mode: testing}\n    sequencers: [{name: sl, daily_limit: 40}]\n",
            1,
        )
    )


@pytest.fixture
async def stored(
    settings: Settings,
    database: Database,
    write_inventory: WriteInventory,
    instantly: FakeInstantly,
    smartlead: FakeSmartlead,
    monkeypatch: pytest.MonkeyPatch,
) -> App:
    monkeypatch.setenv("INST_KEY", instantly.token)
    monkeypatch.setenv("SL_KEY", smartlead.token)
    instantly.limits = smartlead.limits = ()
    app = App(settings.model_copy(update={"database_url": database.url}))
    await import_inventory(app, write_inventory(_inventory(instantly, smartlead)))
    return app


async def test_each_wanted_account_is_present_or_missing_with_its_health_and_differences(
    stored: App, instantly: FakeInstantly, smartlead: FakeSmartlead
) -> None:
    # the quickstart's tracking CNAME (platform instantly: host `inst`) is each account's tracking domain
    instantly.add_account("ann.lee@acme-outreach.test", daily_limit=30, tracking_domain_name="inst.acme-outreach.test")
    instantly.add_account(
        "bob.stone@acme-outreach.test", daily_limit=50, tracking_domain_name="inst.acme-outreach.test"
    )
    instantly.set_status("bob.stone@acme-outreach.test", -1)
    instantly.add_account("someone@else.test")  # not ours: counted, never listed as ours
    smartlead.add_account("cara.diaz@acme-mail.test", message_per_day=40, custom_tracking_domain="inst.acme-mail.test")
    try:
        view = await accounts_view(stored)
    finally:
        await stored.close()
    rows = {(r.address, r.sequencer): r for r in view.rows}
    assert sorted(rows) == [
        ("ann.lee@acme-outreach.test", "inst"),
        ("bob.stone@acme-outreach.test", "inst"),
        ("cara.diaz@acme-mail.test", "sl"),
    ]
    ann, bob, cara = rows.values()
    assert ann.state == "present" and ann.differs == {} and ann.health is not None and ann.health.state == "ok"
    assert bob.differs == {"daily_limit": (50, 30)}  # the domain's daily_send_limit (quickstart default 30)
    assert bob.health is not None and bob.health.state == "error"
    assert cara.state == "present" and cara.remote_id is not None and cara.differs == {}
    summary = {s.name: s for s in view.sequencers}
    assert (summary["inst"].accounts, summary["inst"].wanted, summary["inst"].present) == (3, 2, 2)
    assert summary["inst"].unhealthy == 1 and view.failing
    # one listing per sequencer, nothing written
    assert {c.method for c in instantly.log} == {c.method for c in smartlead.log} == {"GET"}
    assert not any("password" in str(r.to_json()) for r in view.rows)


async def test_a_missing_account_and_an_unreadable_sequencer_are_said(
    stored: App, instantly: FakeInstantly, smartlead: FakeSmartlead, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SL_KEY", "wrong-key")
    try:
        view = await accounts_view(stored)
        only = await accounts_view(stored, sequencer="inst", domains=["acme-outreach.test"])
        with pytest.raises(UserError, match="no sequencer 'nope'"):
            await accounts_view(stored, sequencer="nope")
        with pytest.raises(UserError, match=r"not in the desired state: other\.test"):
            await accounts_view(stored, domains=["other.test"])
    finally:
        await stored.close()
    summary = {s.name: s for s in view.sequencers}
    assert summary["inst"].missing == 2 and summary["inst"].error is None
    assert summary["sl"].error is not None and "wrong-key" not in summary["sl"].error
    assert [r.state for r in view.rows if r.sequencer == "sl"] == ["unknown"]
    assert [s.name for s in only.sequencers] == ["inst"] and len(only.rows) == 2
