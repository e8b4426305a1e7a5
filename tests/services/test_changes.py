"""services/changes.py: a change to one domain previewed as its plan (nothing written), then confirmed:
written, planned for that domain alone, applied as a job; a stale preview and another owner's domain refused."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import ConflictError, NotFoundError, UserError
from email_infrastructure.services import jobs, workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.changes import confirm, preview
from email_infrastructure.services.desired import OwnershipConflictError, import_inventory, load_snapshot
from email_infrastructure.services.domain_edits import DomainEdit
from email_infrastructure.services.domains import StaleEditError, add_domain, show_domain, update_domain
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.plans import get_stored_plan
from email_infrastructure.services.scope import acting_in
from tests.services.conftest import WriteInventory

PEOPLE = [{"first_name": "Ann", "last_name": "Park"}, {"first_name": "Ben", "last_name": "Ruiz"}]


async def _state(app: App) -> dict[str, object]:
    snap = await load_snapshot(app)
    return {name: (item.value, item.owner) for name, item in snap.domains.items()}


async def _confirmed(app: App, edit: DomainEdit, confirmed: str | None = None) -> jobs.JobView:
    shown = await preview(app, edit)
    queue = InProcessQueue(app)
    done = await confirm(
        app, queue, edit, stamp=shown.stamp, checksum=shown.checksum, key_name="k", source="t", confirmed=confirmed
    )
    assert done.job is not None
    await queue.join()
    return await jobs.get_job(app, done.job.id)


async def test_a_preview_plans_the_new_domain_alone_and_writes_nothing(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    before = await _state(app)
    shown = await preview(app, DomainEdit("add", "New-Brand.test", mailboxes=PEOPLE, dmarc_policy="quarantine"))
    assert shown.name == "new-brand.test" and shown.plan is not None
    keys = {s["key"] for s in shown.plan["steps"]}
    assert keys == {"dkim.key:new-brand.test", "dns.zone:new-brand.test"}  # the quickstart's domains are not in it
    assert shown.added == ["ann.park@new-brand.test", "ben.ruiz@new-brand.test"]
    assert shown.spec["dmarc"]["policy"] == "quarantine" and shown.spec["server"] == "mx1"
    assert shown.spec["dmarc"]["rua"] == ["mailto:dmarc@acme-outreach.test"]  # the stored defaults' other settings
    assert await _state(app) == before
    assert not (app.settings.data_dir / "zones" / "new-brand.test.zone").exists()


async def test_a_confirmed_domain_is_written_applied_as_a_job_and_its_plan_kept_limited(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    edit = DomainEdit("add", "new-brand.test", mailboxes=PEOPLE)
    job = await _confirmed(app, edit)
    assert job.status == "succeeded", job.error
    view = await show_domain(app, "new-brand.test")
    assert view.owner == "api" and view.mailboxes == ["ann.park@new-brand.test", "ben.ruiz@new-brand.test"]
    stored = await get_stored_plan(app, str(job.params["plan"]))
    assert stored.only == ["new-brand.test"] and not stored.prune and not stored.force
    assert "v=DMARC1" in (app.settings.data_dir / "zones" / "new-brand.test.zone").read_text()
    assert not (app.settings.data_dir / "zones" / "acme-mail.test.zone").exists()  # the other domains untouched


async def test_a_stale_preview_is_refused_and_nothing_is_written(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    await add_domain(app, "new-brand.test", {"mailbox_count": 0})
    edit = DomainEdit("update", "new-brand.test", dmarc_policy="reject")
    shown = await preview(app, edit)
    await update_domain(app, "new-brand.test", {"redirect": "https://elsewhere.test"})  # someone else, meanwhile
    before = await _state(app)
    with pytest.raises(StaleEditError, match="changed since this change was previewed"):
        await confirm(
            app, InProcessQueue(app), edit, stamp=shown.stamp, checksum=shown.checksum, key_name="k", source="t"
        )
    assert await _state(app) == before
    fresh = await preview(app, edit)
    with pytest.raises(StaleEditError, match=r"the plan of new-brand\.test changed"):
        await confirm(app, InProcessQueue(app), edit, stamp=fresh.stamp, checksum="sha256:0", key_name="k", source="t")
    assert await _state(app) == before


async def test_a_file_owned_domain_is_refused_without_force(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    before = await _state(app)
    for edit in (
        DomainEdit("update", "acme-mail.test", dmarc_policy="reject"),
        DomainEdit("mailboxes", "acme-mail.test", mailboxes=PEOPLE[:1]),
        DomainEdit("remove", "acme-mail.test"),
        DomainEdit("add", "acme-mail.test"),
    ):
        with pytest.raises(OwnershipConflictError, match="owned by file:"):
            await preview(app, edit)
    assert await _state(app) == before


async def test_bad_input_is_refused_before_anything_is_planned(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    await add_domain(app, "new-brand.test", mailboxes=PEOPLE)
    before = await _state(app)
    with pytest.raises(UserError, match=r"not a valid|domain"):
        await preview(app, DomainEdit("add", "not a domain!"))
    with pytest.raises(UserError, match=r"ann\.park@new-brand\.test exists already"):
        await preview(app, DomainEdit("mailboxes", "new-brand.test", mailboxes=PEOPLE[:1]))
    with pytest.raises(UserError, match="has no mailbox"):
        await preview(app, DomainEdit("mailboxes", "new-brand.test", remove=["nobody"]))
    with pytest.raises(ConflictError, match="already"):
        await preview(app, DomainEdit("add", "new-brand.test"))
    with pytest.raises(NotFoundError):
        await preview(app, DomainEdit("remove", "absent.test"))
    with pytest.raises(UserError, match="redirect"):
        await preview(app, DomainEdit("update", "new-brand.test", {"redirect": "javascript:alert(1)"}))
    await workspaces.create(app, "acme")
    with acting_in("acme"), pytest.raises(ConflictError, match="another workspace"):
        await preview(app, DomainEdit("add", "new-brand.test"))
    assert await _state(app) == before


async def test_generated_mailboxes_are_named_by_the_pattern_and_kept_when_one_is_added(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    shown = await preview(app, DomainEdit("add", "gen.test", {"mailbox_pattern": "{f}{last}"}, count=2))
    assert len(shown.added) == 2 and all(a.endswith("@gen.test") and "." not in a.split("@")[0] for a in shown.added)
    await add_domain(app, "counted.test", {"mailbox_count": 3})  # generated, listed nowhere
    generated = (await preview(app, DomainEdit("mailboxes", "counted.test", count=1))).mailboxes
    assert len(generated) == 4
    more = await preview(app, DomainEdit("mailboxes", "counted.test", mailboxes=PEOPLE[:1]))
    assert more.added == ["ann.park@counted.test"] and more.removed == [] and len(more.mailboxes) == 4


async def test_removing_a_mailbox_and_a_domain_plans_the_deletions_with_prune(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    job = await _confirmed(app, DomainEdit("add", "new-brand.test", mailboxes=PEOPLE))
    assert job.status == "succeeded", job.error
    gone = await preview(app, DomainEdit("mailboxes", "new-brand.test", remove=["ben.ruiz@new-brand.test"]))
    assert gone.removed == ["ben.ruiz@new-brand.test"] and gone.edit.prunes
    removal = await preview(app, DomainEdit("remove", "new-brand.test"))
    assert removal.plan is not None and removal.deletes  # its records go
    assert all(d.startswith("dns.zone:new-brand.test") for d in removal.deletes)
    assert removal.unsafe  # every record of the zone goes: allowed by naming the domain, and only so
    edit = DomainEdit("remove", "new-brand.test")
    for typed in (None, "other.test"):
        with pytest.raises(UserError, match=r"type new-brand\.test to confirm"):
            await confirm(
                app,
                InProcessQueue(app),
                edit,
                stamp=removal.stamp,
                checksum=removal.checksum,
                key_name="k",
                source="t",
                confirmed=typed,
            )
    assert "new-brand.test" in await _state(app)
    job = await _confirmed(app, edit, confirmed="New-Brand.test")
    assert job.status == "succeeded", job.error
    assert "new-brand.test" not in await _state(app)
    stored = await get_stored_plan(app, str(job.params["plan"]))
    assert stored.only == ["new-brand.test"] and stored.prune and stored.force


async def test_a_never_applied_domain_is_removed_without_a_job(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    await add_domain(app, "never-applied.test")
    edit = DomainEdit("remove", "never-applied.test")
    shown = await preview(app, edit)
    assert shown.plan is None and shown.deletes == []
    queue = InProcessQueue(app)
    done = await confirm(
        app, queue, edit, stamp=shown.stamp, checksum="", key_name="k", source="t", confirmed="never-applied.test"
    )
    assert done.job is None and "never-applied.test" not in await _state(app)


async def test_a_change_whose_plan_fails_is_shown_but_never_written(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    before = await _state(app)
    edit = DomainEdit("add", "new-brand.test", {"tracking": {"platform": "no-such-platform"}})
    shown = await preview(app, edit)
    assert shown.failed and shown.failed[0].startswith("dns.zone:new-brand.test: ")
    with pytest.raises(UserError, match="could not be planned"):
        await confirm(
            app, InProcessQueue(app), edit, stamp=shown.stamp, checksum=shown.checksum, key_name="k", source="t"
        )
    assert await _state(app) == before


async def test_a_change_to_a_domain_that_receives_reports_keeps_their_authorisations(
    app: App, write_inventory: WriteInventory
) -> None:
    """`send.test` reports to `recv.test`: the record `send.test._report._dmarc.recv.test` lives in recv.test's
    zone and depends on send.test alone; a change planned for recv.test must keep it (RFC 7489 §7.1)."""
    from email_infrastructure.services.plans import apply

    await import_inventory(app, write_inventory())
    await add_domain(app, "recv.test")
    await add_domain(app, "send.test", {"dmarc": {"policy": "none", "rua": ["mailto:dmarc@recv.test"]}})
    applied = await apply(app)
    assert not applied.failed, [o.error for o in applied.failed]
    shown = await preview(app, DomainEdit("update", "recv.test", dmarc_policy="reject"))
    assert shown.plan is not None
    changes = [c for step in shown.plan["steps"] for c in step["changes"]]
    assert not [c for c in changes if "_report._dmarc" in c["resource"]], changes
    assert [c["action"] for c in changes if c["resource"].startswith("_dmarc.recv.test")] == ["update"], changes
    job = await _confirmed(app, DomainEdit("update", "recv.test", dmarc_policy="reject"))
    assert job.status == "succeeded", job.error
