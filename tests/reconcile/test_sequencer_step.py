"""`sequencer.accounts:<d>@<s>`: a domain's mailboxes pushed to sending platforms after `mail.mailboxes`, through
the faithful Mailcow, Instantly and Smartlead fakes — create, re-apply as a no-op, one update per changed
account, removal only with --prune, a password rotated in the vault given to the platform, faults converging,
and never a password in a plan, an event or a log line."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.reconcile.sequencer_step import SequencerAccountsStep
from email_infrastructure.sequencers.instantly import InstantlyProvider
from email_infrastructure.sequencers.smartlead import SmartleadProvider
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import EventIntent, EventRecord, SequencerAccountRecord
from tests.fakes.instantly import FakeInstantly
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reachinbox import FakeReachInbox
from tests.fakes.smartlead import FakeSmartlead
from tests.sequencers.conftest import instantly, reachinbox, smartlead
from tests.services.conftest import WriteInventory, write_inventory

__all__ = ["instantly", "reachinbox", "smartlead", "write_inventory"]  # fixtures, used here

DOMAINS = ["push1-outreach.test", "push2-outreach.test"]
PER_DOMAIN = 5


@pytest.fixture
def fakes(
    mailcow: tuple[FakeMailcow, str],
    instantly: FakeInstantly,
    smartlead: FakeSmartlead,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, FakeInstantly, FakeSmartlead]:
    monkeypatch.setenv("INST_KEY", instantly.token)
    monkeypatch.setenv("SL_KEY", smartlead.token)
    instantly.limits = smartlead.limits = ()  # their clocks stand still; the clients keep the budgets
    return mailcow[1], instantly, smartlead


def inventory(
    url: str,
    instantly: FakeInstantly,
    sl: FakeSmartlead,
    *,
    domains: list[str] = DOMAINS,
    per_domain: int = PER_DOMAIN,
    sl_limit: int = 40,
    extra: str = "",
    inst: str = "inst",
) -> str:
    listed = "\n".join(f"  - name: {d}" for d in domains)
    return f"""
version: 1
providers:
  dns:
    local: {{type: zonefile, directory: zones, nameservers: [ns1.quickstart.test., ns2.quickstart.test.]}}
  mail:
    mc: {{type: mailcow, url: "{url}", api_key: env:MAILCOW_TEST_KEY, mailbox_quota_mib: 1024, timeout: 5}}
  sequencers:
    inst: {{type: instantly, token: env:INST_KEY, api_url: "{instantly.url}"}}
    sl: {{type: smartlead, token: env:SL_KEY, api_url: "{sl.url}"}}
{extra}servers:
  - {{name: mx1, hostname: mail.push1-outreach.test, ipv4: 127.0.0.10, mail_backend: mc}}
defaults:
  dns_provider: local
  server: mx1
  daily_send_limit: 30
  mailboxes_per_domain: {per_domain}
  dmarc: {{policy: none}}
  sequencers: [{inst}, {{name: sl, daily_limit: {sl_limit}, warmup: true}}]
domains:
{listed}
"""


def sequencer_steps(plan: plans.Plan) -> dict[str, list[tuple[str, str]]]:
    """Changes of the sequencer steps, by key."""
    return {s.key: [(c.action, c.resource) for c in s.changes] for s in plan.graph.component("sequencers")}


async def _rows(app: App) -> list[SequencerAccountRecord]:
    async with app.uow() as uow:
        return list((await uow.session.scalars(select(SequencerAccountRecord))).all())


async def _events(app: App) -> list[EventRecord]:
    async with app.uow() as uow:
        return list(
            (await uow.session.scalars(select(EventRecord).where(EventRecord.topic.like("sequencer.account.%")))).all()
        )


async def test_a_fresh_apply_pushes_every_mailbox_and_a_second_apply_writes_nothing(
    app: App,
    write_inventory: WriteInventory,
    fakes: tuple[str, FakeInstantly, FakeSmartlead],
    mailcow: tuple[FakeMailcow, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, inst, sl = fakes
    source = write_inventory(inventory(url, inst, sl))
    caplog.set_level(logging.DEBUG)
    shown = await plans.plan(app, source=source)
    steps = sequencer_steps(shown)
    assert sorted(steps) == [f"sequencer.accounts:{d}@{s}" for d in DOMAINS for s in ("inst", "sl")]
    assert all(len(changes) == PER_DOMAIN and {a for a, _ in changes} == {"create"} for changes in steps.values())
    assert all(
        s.depends_on == [f"mail.mailboxes:{s.key.split(':')[1].split('@')[0]}"]
        for s in shown.graph.component("sequencers")
    )

    applied = await plans.apply(app, source=source)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]

    addresses = sorted(mailcow[0].mailboxes)
    assert len(addresses) == len(DOMAINS) * PER_DOMAIN
    assert sorted(inst.accounts) == addresses
    assert sorted(a["from_email"] for a in sl.accounts.values()) == addresses
    async with app.uow() as uow:
        vault = await uow.secrets().get_many([password_key(a) for a in addresses])
    for address in addresses:
        password = vault[password_key(address)]
        account = inst.accounts[address]
        assert account["_secret"]["smtp_password"] == password and account["_secret"]["imap_password"] == password
        assert account["_secret"]["smtp_host"] == "mail.push1-outreach.test"
        assert (account["_secret"]["smtp_port"], account["_secret"]["imap_port"]) == (587, 993)
        assert account["daily_limit"] == 30
    assert {a["message_per_day"] for a in sl.accounts.values()} == {40}
    rows = await _rows(app)
    assert sorted((r.sequencer, r.address) for r in rows) == sorted((s, a) for a in addresses for s in ("inst", "sl"))
    assert all(r.created_by_us and r.password_fp for r in rows)
    logged = Counter((e.topic, e.payload["address"], e.payload["sequencer"]) for e in await _events(app))
    assert set(logged.values()) == {1} and len(logged) == 2 * len(addresses)

    # the second apply: one listing per platform (1 page each), no write
    inst.log.clear()
    sl.log.clear()
    again = await plans.apply(app, source=source)
    assert not again.failed and sequencer_steps(again.plan) != {} and not any(sequencer_steps(again.plan).values())
    assert [c.method for c in inst.log] == ["GET"]
    assert {c.method for c in sl.log} == {"GET"}

    # never a password in the plan, the events or a log line
    secrets = set(vault.values())
    text = str(shown.to_json()) + str(again.to_json()) + caplog.text
    text += "".join(str(e.payload) for e in await _events(app))
    assert not [s for s in secrets if s in text]


async def test_a_changed_daily_limit_is_one_update_per_account(
    app: App, write_inventory: WriteInventory, fakes: tuple[str, FakeInstantly, FakeSmartlead]
) -> None:
    url, inst, sl = fakes
    assert not (await plans.apply(app, source=write_inventory(inventory(url, inst, sl)))).failed
    sl.log.clear()
    changed = write_inventory(inventory(url, inst, sl, sl_limit=45))
    shown = await plans.plan(app, source=changed)
    steps = sequencer_steps(shown)
    assert {k: len(v) for k, v in steps.items() if v} == {f"sequencer.accounts:{d}@sl": PER_DOMAIN for d in DOMAINS}
    update = next(s for s in shown.graph.component("sequencers") if s.changes).changes[0]
    assert (update.action, update.old, update.new) == ("update", {"daily_limit": 40}, {"daily_limit": 45})
    sl.log.clear()
    assert not (await plans.apply(app, source=changed)).failed
    writes = [c for c in sl.log if c.method == "POST"]
    assert len(writes) == len(DOMAINS) * PER_DOMAIN  # one settings save per account
    assert {a["message_per_day"] for a in sl.accounts.values()} == {45}
    updated = [e for e in await _events(app) if e.topic == "sequencer.account.updated"]
    assert len(updated) == len(DOMAINS) * PER_DOMAIN and updated[0].payload["fields"] == ["daily_limit"]
    assert not any(sequencer_steps(await plans.plan(app)).values())


async def test_a_removed_mailbox_is_removed_there_only_with_prune(
    app: App, write_inventory: WriteInventory, fakes: tuple[str, FakeInstantly, FakeSmartlead]
) -> None:
    url, inst, sl = fakes
    assert not (await plans.apply(app, source=write_inventory(inventory(url, inst, sl)))).failed
    inst.add_account("someone@push1-outreach.test")  # made in Instantly's UI: never ours to delete
    fewer = write_inventory(inventory(url, inst, sl, per_domain=PER_DOMAIN - 1))
    kept = await plans.plan(app, source=fewer)
    assert not any(sequencer_steps(kept).values())
    notes = [n for s in kept.graph.component("sequencers") for n in s.notes]
    assert sum("--prune deletes it" in n for n in notes) == 2 * len(DOMAINS)

    pruned = await plans.apply(app, source=fewer, prune=True)
    assert not pruned.failed, [(o.key, o.error) for o in pruned.failed]
    changed = {k: v for k, v in sequencer_steps(pruned.plan).items() if v}
    assert sorted(changed) == [f"sequencer.accounts:{d}@{s}" for d in DOMAINS for s in ("inst", "sl")]
    assert all(len(v) == 1 and v[0][0] == "delete" for v in changed.values())
    assert len(inst.accounts) == len(DOMAINS) * (PER_DOMAIN - 1) + 1 and "someone@push1-outreach.test" in inst.accounts
    assert len(sl.accounts) == len(DOMAINS) * (PER_DOMAIN - 1)
    assert len(await _rows(app)) == 2 * len(DOMAINS) * (PER_DOMAIN - 1)
    assert len([e for e in await _events(app) if e.topic == "sequencer.account.deleted"]) == 2 * len(DOMAINS)
    assert not any(sequencer_steps(await plans.plan(app, prune=True)).values())


async def test_a_password_rotated_in_the_vault_is_given_to_the_platform(
    app: App, write_inventory: WriteInventory, fakes: tuple[str, FakeInstantly, FakeSmartlead]
) -> None:
    url, inst, sl = fakes
    source = write_inventory(inventory(url, inst, sl, domains=DOMAINS[:1]))
    assert not (await plans.apply(app, source=source)).failed
    address = sorted(inst.accounts)[0]
    async with app.uow() as uow:
        await uow.secrets().put(*password_key(address), "Rotated-Passw0rd-9x")
        await uow.commit()
    shown = await plans.plan(app)
    steps = sequencer_steps(shown)
    assert {k: v for k, v in steps.items() if v} == {
        f"sequencer.accounts:{DOMAINS[0]}@{s}": [("update", f"account {address} password")] for s in ("inst", "sl")
    }
    assert "Rotated-Passw0rd-9x" not in str(shown.to_json())
    assert not (await plans.apply(app)).failed
    assert inst.accounts[address]["_secret"]["smtp_password"] == "Rotated-Passw0rd-9x"
    assert any(e.topic == "sequencer.account.password_changed" for e in await _events(app))
    assert not any(sequencer_steps(await plans.plan(app)).values())


async def test_an_account_already_on_the_platform_is_adopted_updated_and_never_deleted(
    app: App, write_inventory: WriteInventory, fakes: tuple[str, FakeInstantly, FakeSmartlead]
) -> None:
    url, inst, sl = fakes
    theirs = f"ann.lee@{DOMAINS[0]}"
    inst.add_account(theirs, daily_limit=99)
    text = inventory(url, inst, sl, domains=DOMAINS[:1]).replace(
        f"  - name: {DOMAINS[0]}", f"  - name: {DOMAINS[0]}\n    mailboxes: [{{first_name: Ann, last_name: Lee}}]"
    )
    shown = await plans.plan(app, source=write_inventory(text))
    step = sequencer_steps(shown)[f"sequencer.accounts:{DOMAINS[0]}@inst"]
    assert step == [("update", f"account {theirs}")]
    assert not (await plans.apply(app, source=write_inventory(text))).failed
    assert inst.accounts[theirs]["daily_limit"] == 30
    (row,) = [r for r in await _rows(app) if r.sequencer == "inst"]
    assert not row.created_by_us
    assert [e.topic for e in await _events(app) if e.payload["sequencer"] == "inst"] == [
        "sequencer.account.adopted",
        "sequencer.account.updated",
    ]
    gone = text.replace(
        "mailboxes: [{first_name: Ann, last_name: Lee}]", "mailboxes: [{first_name: Bo, last_name: Ek}]"
    )
    assert not (await plans.apply(app, source=write_inventory(gone), prune=True)).failed
    assert theirs in inst.accounts  # there before us: left alone, no longer tracked
    assert [r.address for r in await _rows(app) if r.sequencer == "inst"] == [f"bo.ek@{DOMAINS[0]}"]


async def test_injected_errors_and_throttling_converge_without_duplicates(
    app: App, write_inventory: WriteInventory, fakes: tuple[str, FakeInstantly, FakeSmartlead]
) -> None:
    url, inst, sl = fakes
    for fake in (inst, sl):
        fake.faults.error_rate, fake.faults.throttle_rate = 0.1, 0.1
        fake.faults.reseed(7)
    inst.faults.lose_next_creates = 2  # stored, the answer dropped: a look-up follows, never a second POST
    source = write_inventory(inventory(url, inst, sl))
    for _ in range(6):
        result = await plans.apply(app, source=source)
        if not result.failed and not (await plans.plan(app)).has_changes:
            break
    else:
        pytest.fail(f"did not converge: {[(o.key, o.error) for o in result.failed]}")
    for fake in (inst, sl):
        fake.faults.error_rate = fake.faults.throttle_rate = 0.0
    assert len(inst.accounts) == len(DOMAINS) * PER_DOMAIN
    assert len({a["from_email"] for a in sl.accounts.values()}) == len(sl.accounts) == len(DOMAINS) * PER_DOMAIN
    created = Counter(
        e.payload["address"] + "@" + e.payload["sequencer"] for e in await _events(app) if e.topic.endswith("created")
    )
    assert set(created.values()) == {1} and len(created) == 2 * len(DOMAINS) * PER_DOMAIN
    async with app.uow() as uow:
        assert (await uow.session.scalars(select(EventIntent))).all() == []


async def test_a_platform_without_a_create_api_is_pointed_at_the_export(
    app: App,
    write_inventory: WriteInventory,
    fakes: tuple[str, FakeInstantly, FakeSmartlead],
    reachinbox: FakeReachInbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, inst, sl = fakes
    monkeypatch.setenv("RI_KEY", reachinbox.token)
    text = inventory(
        url,
        inst,
        sl,
        domains=DOMAINS[:1],
        extra=f'    ri: {{type: reachinbox, token: env:RI_KEY, api_url: "{reachinbox.url}"}}\n',
    ).replace("sequencers: [inst, ", "sequencers: [ri, inst, ")
    shown = await plans.plan(app, source=write_inventory(text))
    step = next(s for s in shown.graph.component("sequencers") if s.key.endswith("@ri"))
    assert step.changes == [] and step.error is None
    assert len(step.notes) == PER_DOMAIN and "email-infra export --format reachinbox" in step.notes[0]


async def test_sync_plans_and_applies_the_sequencer_steps_only(
    app: App,
    write_inventory: WriteInventory,
    fakes: tuple[str, FakeInstantly, FakeSmartlead],
    mailcow: tuple[FakeMailcow, str],
) -> None:
    url, inst, sl = fakes
    assert not (await plans.apply(app, source=write_inventory(inventory(url, inst, sl)))).failed
    inst.accounts.clear()
    shown = await plans.plan(app, kinds=["sequencer.accounts@inst"])
    assert {s.key.split(":")[0] for s in shown.graph.steps} == {"sequencer.accounts"}
    assert {s.key.rsplit("@", 1)[1] for s in shown.graph.steps} == {"inst"}
    assert all(s.depends_on == [] for s in shown.graph.steps)
    applied = await plans.apply(app, kinds=["sequencer.accounts"])
    assert not applied.failed and {o.key.split(":")[0] for o in applied.outcomes} == {"sequencer.accounts"}
    assert len(inst.accounts) == len(DOMAINS) * PER_DOMAIN


class Killed(BaseException):
    """Stands for the process dying (no code catches it)."""


async def test_a_password_change_cut_short_is_given_again_and_logged_once(
    app: App,
    write_inventory: WriteInventory,
    fakes: tuple[str, FakeInstantly, FakeSmartlead],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, inst, sl = fakes
    source = write_inventory(inventory(url, inst, sl, domains=DOMAINS[:1], per_domain=1))
    assert not (await plans.apply(app, source=source)).failed
    (address,) = inst.accounts
    async with app.uow() as uow:
        await uow.secrets().put(*password_key(address), "Rotated-Passw0rd-9x")
        await uow.commit()
    real = SmartleadProvider.change_password

    async def dies_after(self: SmartleadProvider, account: Any, login: Any) -> Any:
        await real(self, account, login)
        raise Killed  # the platform took the password; the run never recorded it

    monkeypatch.setattr(SmartleadProvider, "change_password", dies_after)
    with pytest.raises(Killed):
        await plans.apply(app, kinds=["sequencer.accounts@sl"])
    monkeypatch.setattr(SmartleadProvider, "change_password", real)
    assert not (await plans.apply(app)).failed
    assert not any(sequencer_steps(await plans.plan(app)).values())
    changed = [e for e in await _events(app) if e.topic == "sequencer.account.password_changed"]
    assert sorted(e.payload["sequencer"] for e in changed) == ["inst", "sl"]
    async with app.uow() as uow:
        assert (await uow.session.scalars(select(EventIntent))).all() == []


async def test_warmup_at_instantly_is_one_job_per_step_and_a_plan_waits_for_it(
    app: App, write_inventory: WriteInventory, fakes: tuple[str, FakeInstantly, FakeSmartlead]
) -> None:
    url, inst, sl = fakes
    source = write_inventory(inventory(url, inst, sl, inst="{name: inst, warmup: true}"))
    assert not (await plans.apply(app, source=source)).failed
    # at most one job per domain's step (a step's flush may carry another's emails too), each account once
    assert 1 <= len(inst.calls("POST", "/warmup/enable")) <= len(DOMAINS)
    asked = [e for job in inst.jobs.values() for e in job["data"]["emails"]]
    assert sorted(asked) == sorted(inst.accounts)
    # Instantly has not run the jobs yet (the fake runs one when it is read): the plan waits, it does not ask again
    shown = await plans.plan(app)
    assert not any(sequencer_steps(shown).values())
    notes = [n for s in shown.graph.component("sequencers") for n in s.notes if "warmup was started" in n]
    assert len(notes) == len(DOMAINS) * PER_DOMAIN
    sent = len(inst.jobs)
    again = await plans.apply(app)
    assert not again.failed and len(inst.jobs) == sent  # not asked again


async def test_a_warmup_another_steps_flush_sent_before_the_account_was_stored_is_waited_for(
    app: App,
    write_inventory: WriteInventory,
    fakes: tuple[str, FakeInstantly, FakeSmartlead],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the second domain's step stores its first account only once a flush (the first domain's: it is held) has
    # sent its warmup: the flushing step's stamp finds no row yet, and the plan must still wait, not ask again
    url, inst, sl = fakes
    sent: set[str] = set()
    held: list[str] = []
    flushed = asyncio.Condition()
    original_flush, original_record = InstantlyProvider.flush, SequencerAccountsStep._record

    async def flush(self: InstantlyProvider) -> list[str]:
        async with flushed:  # not before the second domain's first account waits to be stored
            await asyncio.wait_for(flushed.wait_for(lambda: bool(held)), 30)
        started = await original_flush(self)
        async with flushed:
            sent.update(started)
            flushed.notify_all()
        return started

    async def record(self: SequencerAccountsStep, account: Any, intent: Any, **options: Any) -> None:
        if self.domain == DOMAINS[1] and self.sequencer == "inst" and not held:
            async with flushed:
                held.append(account.email)
                flushed.notify_all()
                await asyncio.wait_for(flushed.wait_for(lambda: account.email in sent), 30)
        await original_record(self, account, intent, **options)

    monkeypatch.setattr(InstantlyProvider, "flush", flush)
    monkeypatch.setattr(SequencerAccountsStep, "_record", record)
    source = write_inventory(inventory(url, inst, sl, inst="{name: inst, warmup: true}"))
    assert not (await plans.apply(app, source=source)).failed
    assert held and held[0] in sent  # the race happened: sent by the other step's flush before it was stored
    shown = await plans.plan(app)
    assert not any(sequencer_steps(shown).values())
