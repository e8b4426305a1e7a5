"""`/api/v1/sequencers`: each sequencer's accounts of our mailboxes, as `sequencer show --format json` gives them
(the Smartlead fake: passwords in its reads never reach a response), and the sync (plan kept, applied as a job)."""

from __future__ import annotations

import pytest

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services import plans
from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import KNOWN_SECRETS, Api
from tests.api.test_plans import poll
from tests.fakes.instantly import FakeInstantly
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.smartlead import FakeSmartlead
from tests.reconcile.test_sequencer_step import DOMAINS, PER_DOMAIN, inventory
from tests.sequencers.conftest import instantly, smartlead
from tests.services.conftest import QUICKSTART, WriteInventory

__all__ = ["instantly", "smartlead"]  # fixtures, used here
PASSWORD = "Sm4rtlead-read-back-pw"


def _inventory(smartlead: FakeSmartlead) -> str:
    """The quickstart with its first domain's mailboxes going to the Smartlead fake (`sl`)."""
    return QUICKSTART.replace(
        "\nservers:",
        f'\n  sequencers:\n    sl: {{type: smartlead, token: env:SL_KEY, api_url: "{smartlead.url}"}}\n\nservers:',
        1,
    ).replace("  redirect: https://www.acme.test\n", "  redirect: https://www.acme.test\n  sequencers: [sl]\n", 1)


async def test_the_accounts_route_reports_presence_health_and_never_a_password(
    api: Api, write_inventory: WriteInventory, smartlead: FakeSmartlead, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SL_KEY", smartlead.token)
    smartlead.limits = ()
    await import_inventory(api.app, write_inventory(_inventory(smartlead)))
    ann = smartlead.add_account(
        "ann.lee@acme-outreach.test",
        password=PASSWORD,
        message_per_day=30,
        custom_tracking_domain="inst.acme-outreach.test",
    )
    smartlead.set_health(ann["id"], smtp=False, error="535 authentication failed")
    response = await api.client.get("/api/v1/sequencers/accounts", headers=api.auth())
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [(s["name"], s["wanted"], s["present"], s["missing"], s["unhealthy"]) for s in data["sequencers"]] == [
        ("sl", 3, 1, 2, 1)
    ]
    accounts = {a["address"]: a for a in data["accounts"]}
    assert accounts["ann.lee@acme-outreach.test"]["health"]["state"] == "error"
    assert "535" in accounts["ann.lee@acme-outreach.test"]["health"]["detail"]
    assert accounts["cara.diaz@acme-mail.test"]["state"] == "missing"
    assert PASSWORD not in response.text and smartlead.token not in response.text
    KNOWN_SECRETS.update({PASSWORD, smartlead.token})  # and in no response of any API test (test_zz_leaks.py)
    one = await api.client.get("/api/v1/sequencers/accounts", params={"domain": "acme-mail.test"}, headers=api.auth())
    assert [a["address"] for a in one.json()["data"]["accounts"]] == ["cara.diaz@acme-mail.test"]
    unknown = await api.client.get("/api/v1/sequencers/accounts", params={"sequencer": "nope"}, headers=api.auth())
    assert unknown.status_code == 400 and "no sequencer 'nope'" in unknown.text


async def test_a_sequencer_check_run_through_the_api_is_the_accounts_last_check(
    api: Api, write_inventory: WriteInventory, smartlead: FakeSmartlead, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SL_KEY", smartlead.token)
    smartlead.limits = ()
    KNOWN_SECRETS.add(PASSWORD)  # the suite's leak scan (test_zz_leaks) searches every body for it too
    await import_inventory(api.app, write_inventory(_inventory(smartlead)))
    ann = smartlead.add_account("ann.lee@acme-outreach.test", password=PASSWORD)
    smartlead.set_health(ann["id"], imap=False, error="IMAP login refused")
    before = await api.client.get("/api/v1/sequencers/accounts", headers=api.auth())
    assert [a["last_check"] for a in before.json()["data"]["accounts"]] == [None, None, None]  # never checked

    run = await api.client.post(
        "/api/v1/monitoring/results",
        headers=api.auth("write"),
        json={"domain": "acme-outreach.test", "family": "sequencer"},
    )
    assert run.status_code == 200, run.text
    assert (run.json()["data"]["checks"], run.json()["data"]["subjects"]) == (["sequencer"], 2)
    states = await api.client.get("/api/v1/monitoring/results", params={"check": "sequencer"}, headers=api.auth())
    assert {s["subject"]: s["status"] for s in states.json()["data"]["items"]} == {
        "ann.lee@acme-outreach.test": "error",
        "bob.stone@acme-outreach.test": "warning",
    }
    after = await api.client.get("/api/v1/sequencers/accounts", headers=api.auth())
    last = {a["address"]: a["last_check"] for a in after.json()["data"]["accounts"]}
    assert last["ann.lee@acme-outreach.test"]["state"] == "error"
    assert last["ann.lee@acme-outreach.test"]["detail"] == "IMAP: IMAP login refused"
    assert last["bob.stone@acme-outreach.test"]["state"] == "missing"
    assert last["cara.diaz@acme-mail.test"] is None  # its domain was not checked
    history = await api.client.get(
        "/api/v1/monitoring/results/history",
        params={"subject": "ann.lee@acme-outreach.test", "check": "sequencer"},
        headers=api.auth(),
    )
    assert history.json()["data"]["items"][0]["findings"]["sequencers"][0]["connected"] is False
    for response in (before, run, states, after, history):
        assert PASSWORD not in response.text and smartlead.token not in response.text


async def test_a_sync_is_planned_with_read_scope_and_applied_as_a_job_with_write_scope(
    api: Api,
    write_inventory: WriteInventory,
    mailcow: tuple[FakeMailcow, str],
    instantly: FakeInstantly,
    smartlead: FakeSmartlead,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INST_KEY", instantly.token)
    monkeypatch.setenv("SL_KEY", smartlead.token)
    instantly.limits = smartlead.limits = ()
    source = write_inventory(inventory(mailcow[1], instantly, smartlead, domains=DOMAINS[:1]))
    assert not (await plans.apply(api.app, source=source, kinds=["mail.domain", "dkim.key", "mail.mailboxes"])).failed
    body = {"sequencer": "inst"}
    made = await api.client.post("/api/v1/sequencers/sync/plan", json=body, headers=api.auth("read"))
    assert made.status_code == 201, made.text
    plan = made.json()["data"]
    assert [s["key"] for s in plan["plan"]["steps"]] == [f"sequencer.accounts:{DOMAINS[0]}@inst"]
    assert plan["summary"]["create"] == PER_DOMAIN and instantly.accounts == {}
    refused = await api.client.post("/api/v1/sequencers/sync", json=body, headers=api.auth("read"))
    assert refused.status_code == 403
    started = await api.client.post("/api/v1/sequencers/sync", json=body, headers=api.auth("write"))
    assert started.status_code == 202, started.text
    done = await poll(api, started.json()["data"]["id"])
    assert done["status"] == "succeeded", done
    assert len(instantly.accounts) == PER_DOMAIN and smartlead.accounts == {}  # one sequencer's steps only
    async with api.app.uow() as uow:
        vault = await uow.secrets().get_many([password_key(a) for a in instantly.accounts])
    text = made.text + started.text + str(done)
    assert vault and not [p for p in vault.values() if p in text]
    KNOWN_SECRETS.update(vault.values())  # and in no response of any API test (test_zz_leaks.py)
    unknown = await api.client.post("/api/v1/sequencers/sync/plan", json={"sequencer": "nope"}, headers=api.auth())
    assert unknown.status_code == 400 and "no sequencer 'nope'" in unknown.text
