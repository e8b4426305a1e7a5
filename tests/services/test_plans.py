"""Plan and apply from the desired state in the database; DKIM keys that must never be replaced silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.events import Event
from email_infrastructure.core.secret_names import dkim_key
from email_infrastructure.core.settings import Settings
from email_infrastructure.services import dkim as dkim_service
from email_infrastructure.services import domains as domain_service
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.records import desired_records
from tests.services.conftest import QUICKSTART, WriteInventory


def zone_text(settings: Settings, zone: str) -> str:
    return (settings.data_dir / "zones" / f"{zone}.zone").read_text()


async def test_apply_from_a_file_then_plan_from_the_database_is_empty(
    app: App, write_inventory: WriteInventory, events: list[Event]
) -> None:
    applied = await plans.apply(app, source=write_inventory())
    assert not applied.failed and applied.status == "applied"
    assert {o.key for o in applied.outcomes} == {
        "dkim.key:acme-mail.test",
        "dkim.key:acme-outreach.test",
        "dns.zone:acme-mail.test",
        "dns.zone:acme-outreach.test",
    }
    stored = await plans.plan(app)  # no file: the desired state in the database
    assert not stored.has_changes, stored.to_json()
    # every event of the apply carries its run's correlation id, and is in the audit log once
    created = [e for e in events if e.topic == "dns.record.created"]
    assert len(created) == 25 and {e.correlation_id for e in created} == {applied.correlation_id}
    async with app.uow() as uow:
        logged = await uow.events.recent(limit=1000, correlation_id=applied.correlation_id)
    assert sorted(e.id for e in logged if e.topic == "dns.record.created") == sorted(e.id for e in created)


async def test_the_dkim_key_is_generated_at_apply_and_the_plan_says_so(
    app: App, write_inventory: WriteInventory
) -> None:
    planned = await plans.plan(app, source=write_inventory())
    step = next(s for s in planned.graph.steps if s.key == "dkim.key:acme-mail.test")
    assert step.to_json()["outputs"]["public_key"] == {"known_after_apply": True}
    dkim = next(c for c in planned.zones[0].changes if c.record.name.startswith("dkim._domainkey"))
    assert "(known after apply)" in dkim.record.values[0]
    applied = await plans.apply(app, source=write_inventory(), checksum=planned.checksum.removeprefix("sha256:"))
    assert not applied.failed
    zone = await desired_records(app, "acme-mail.test")
    published = next(r for r in zone.records if r.type == "TXT" and r.name.startswith("dkim._domainkey"))
    assert published.values[0].startswith("v=DKIM1; k=rsa; p=MII")
    assert published.values[0].split("p=")[1] in zone_text(app.settings, "acme-mail.test").replace('" "', "")


async def test_a_removed_domain_is_planned_as_deletions_under_the_safety_threshold(
    app: App, write_inventory: WriteInventory
) -> None:
    await plans.apply(app, source=write_inventory())
    await domain_service.remove_domain(app, "acme-mail.test", force=True)
    planned = await plans.plan(app)
    (gone,) = [z for z in planned.zones if z.zone == "acme-mail.test"]
    assert gone.changes and {c.action.value for c in gone.changes} == {"delete"}
    assert gone.managed >= 10
    assert any("acme-mail.test: would update or delete" in u for u in planned.unsafe)
    with pytest.raises(plans.UnsafePlanError, match=r"acme-mail\.test"):
        await plans.apply(app)
    assert "_dmarc" in zone_text(app.settings, "acme-mail.test")  # refused: nothing written
    forced = await plans.apply(app, force=True)
    assert not forced.failed
    assert "_dmarc" not in zone_text(app.settings, "acme-mail.test")
    assert not (await plans.plan(app)).has_changes


async def test_a_published_key_that_is_not_in_the_vault_is_never_replaced_silently(
    app: App, settings: Settings, write_inventory: WriteInventory, tmp_path: Path
) -> None:
    await plans.apply(app, source=write_inventory())
    before = zone_text(settings, "acme-outreach.test")
    # the same zones, a new empty database (DATABASE_URL switched, state moved…)
    fresh = App(settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'other.db'}"}))
    try:
        planned = await plans.plan(fresh, source=write_inventory())
        assert any("is not in our vault" in u for u in planned.unsafe)
        with pytest.raises(plans.UnsafePlanError, match="dkim import"):
            await plans.apply(fresh, source=write_inventory())
        assert zone_text(settings, "acme-outreach.test") == before
    finally:
        await fresh.close()


async def test_dkim_export_then_import_into_a_new_database_leaves_an_empty_plan(
    app: App, settings: Settings, write_inventory: WriteInventory, tmp_path: Path
) -> None:
    await plans.apply(app, source=write_inventory())
    bundle = tmp_path / "keys.json"
    exported = await dkim_service.export_keys(app, bundle, "correct horse battery staple")
    assert sorted(exported.domains) == ["acme-mail.test", "acme-outreach.test"]
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"
    text = bundle.read_text()
    async with app.uow() as uow:
        pems = (await uow.secrets().get_many([dkim_key(d, "dkim") for d in exported.domains])).values()
    # encrypted at rest in the file too: no line of any key's PEM appears in it
    assert "PRIVATE KEY" not in text
    assert not any(line in text for pem in pems for line in pem.splitlines()[1:-1])
    fresh_settings = settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'other.db'}", "data_dir": settings.data_dir}
    )
    fresh = App(fresh_settings)
    try:
        with pytest.raises(UserError, match="wrong passphrase"):
            await dkim_service.import_keys(fresh, bundle, "a wrong passphrase!")
        imported = await dkim_service.import_keys(fresh, bundle, "correct horse battery staple")
        assert sorted(imported.domains) == ["acme-mail.test", "acme-outreach.test"]
        planned = await plans.plan(fresh, source=write_inventory())
        assert not planned.has_changes, planned.to_json()
        assert not planned.unsafe
    finally:
        await fresh.close()


async def test_plan_targets_named_domains_and_refuses_unknown_ones(app: App, write_inventory: WriteInventory) -> None:
    planned = await plans.plan(app, source=write_inventory(), only=["acme-mail.test"])
    assert [z.zone for z in planned.zones] == ["acme-mail.test"]
    with pytest.raises(UserError, match=r"not in the desired state: nope\.test"):
        await plans.plan(app, source=write_inventory(QUICKSTART), only=["nope.test"])


async def test_the_streamed_json_is_the_document_to_json_gives_byte_for_byte(
    app: App, write_inventory: WriteInventory
) -> None:
    import json

    planned = await plans.plan(app, source=write_inventory())
    assert planned.imported is not None and planned.graph.steps
    assert "".join(planned.iter_json()) == json.dumps(planned.to_json(), indent=2, default=str) + "\n"
    await plans.apply(app, source=write_inventory())
    empty = await plans.plan(app, only=["acme-mail.test"])  # no import, no unsafe, no changes
    assert "".join(empty.iter_json()) == json.dumps(empty.to_json(), indent=2, default=str) + "\n"
    empty.graph.steps.clear()  # and with no step at all: `"steps": []`, as json.dumps writes it
    assert '"steps": []' in "".join(empty.iter_json())
    assert "".join(empty.iter_json()) == json.dumps(empty.to_json(), indent=2, default=str) + "\n"
