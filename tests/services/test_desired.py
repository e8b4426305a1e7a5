"""Desired state in the database: imports with owners, domain edits without a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.events import Event
from email_infrastructure.core.settings import Settings
from email_infrastructure.services import domains as domain_service
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import (
    API_OWNER,
    OwnershipConflictError,
    desired_inventory,
    file_owner,
    import_inventory,
    load_snapshot,
    preview_import,
)
from tests.services.conftest import QUICKSTART, WriteInventory


async def test_import_stores_what_the_file_declares_and_reimport_changes_nothing(
    app: App, write_inventory: WriteInventory
) -> None:
    loaded = write_inventory()
    first = await import_inventory(app, loaded)
    assert "domain acme-outreach.test" in first.added and "server mx1" in first.added
    inventory = await desired_inventory(app)
    assert [d.name for d in inventory.domains] == ["acme-mail.test", "acme-outreach.test"]
    outreach = next(d for d in inventory.resolved_domains() if d.name == "acme-outreach.test")
    # defaults of the file are stored with each domain
    assert outreach.server is not None and outreach.server.hostname == "mail.acme-outreach.test"
    assert outreach.redirect == "https://www.acme.test"
    assert [m.address_local_part for m in outreach.mailboxes] == ["ann.lee", "bob.stone"]
    snap = await load_snapshot(app)
    assert {item.owner for item in snap.domains.values()} == {file_owner(loaded.path)}
    again = await import_inventory(app, loaded)
    assert not again.changed


async def test_a_domain_dropped_from_its_file_is_dropped_from_desired_state(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    smaller = QUICKSTART.split("  - name: acme-mail.test")[0]
    result = await import_inventory(app, write_inventory(smaller))
    assert result.removed == ["domain acme-mail.test"]
    assert [d.name for d in (await desired_inventory(app)).domains] == ["acme-outreach.test"]


async def test_file_owned_domains_refuse_other_owners(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory(name="team-a.yaml"))
    other = write_inventory(QUICKSTART.replace("policy: none", "policy: reject"), name="team-b.yaml")
    with pytest.raises(OwnershipConflictError, match="owned by file:") as caught:
        await import_inventory(app, other)
    assert "acme-outreach.test" in str(caught.value) and "acme-mail.test" in str(caught.value)
    inventory = await desired_inventory(app)
    assert {d.dmarc.policy for d in inventory.resolved_domains()} == {"none"}  # nothing was written
    with pytest.raises(OwnershipConflictError):
        await domain_service.remove_domain(app, "acme-mail.test")
    with pytest.raises(OwnershipConflictError):
        await domain_service.add_domain(app, "acme-mail.test", force=False)
    taken = await import_inventory(app, other, force=True)
    assert "domain acme-mail.test" in taken.updated
    snap = await load_snapshot(app)
    assert snap.domains["acme-mail.test"].owner == file_owner(other.path)


async def test_domain_add_takes_the_stored_defaults_and_plan_shows_the_new_zone_without_a_file(
    app: App, write_inventory: WriteInventory, events: list[Event]
) -> None:
    await import_inventory(app, write_inventory())
    view = await domain_service.add_domain(
        app, "new-brand.test", {"dkim_selector": "s2026"}, [{"first_name": "Dee", "last_name": "Ray"}]
    )
    assert view.owner == API_OWNER
    assert (view.spec["server"], view.spec["dns_provider"], view.spec["dkim_selector"]) == ("mx1", "local", "s2026")
    assert view.spec["dmarc"]["rua"] == ["mailto:dmarc@acme-outreach.test"]
    assert view.mailboxes == ["dee.ray@new-brand.test"]
    assert any(e.topic == "desired.domain.created" for e in events)
    result = await plans.plan(app, only=["new-brand.test"])
    (zone,) = result.zones
    assert zone.zone == "new-brand.test" and not zone.zone_exists
    names = {(c.record.name, c.record.type) for c in zone.changes}
    assert ("s2026._domainkey.new-brand.test", "TXT") in names
    assert ("new-brand.test", "MX") in names
    assert [s.key for s in result.graph.steps if s.component == "dkim"] == ["dkim.key:new-brand.test"]
    listed = [v.name for v in await domain_service.list_domains(app)]
    assert listed == ["acme-mail.test", "acme-outreach.test", "new-brand.test"]
    removed = await domain_service.remove_domain(app, "new-brand.test")
    assert removed.name == "new-brand.test"
    with pytest.raises(UserError, match="not a domain"):
        await domain_service.show_domain(app, "new-brand.test")


async def test_domain_add_refuses_bad_input_and_changes_nothing(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    before = await load_snapshot(app)
    with pytest.raises(UserError, match="server 'nope'"):
        await domain_service.add_domain(app, "x.test", {"server": "nope"})
    with pytest.raises(UserError, match="unknown domain options"):
        await domain_service.add_domain(app, "x.test", {"colour": "blue"})
    with pytest.raises(UserError):
        await domain_service.add_domain(app, "not a domain")
    with pytest.raises(UserError, match="rua"):
        await domain_service.add_domain(app, "x.test", {"dmarc": {"rua": ["dmarc@x.test"]}})
    assert await load_snapshot(app) == before


async def test_preview_of_an_import_writes_nothing_on_a_fresh_data_dir(
    settings: Settings, write_inventory: WriteInventory
) -> None:
    app = App(settings)
    inventory, result = await preview_import(app, write_inventory())
    assert len(inventory.domains) == 2 and len(result.added) > 2
    planned = await plans.plan(app, source=write_inventory())
    assert planned.has_changes
    await app.close()
    assert not Path(settings.data_dir).exists()


async def test_mailboxes_and_servers_are_edited_without_a_file(app: App, write_inventory: WriteInventory) -> None:
    from email_infrastructure.services import servers as server_service

    await import_inventory(app, write_inventory())
    with pytest.raises(OwnershipConflictError):
        await domain_service.set_mailboxes(app, "acme-mail.test", add=[{"first_name": "Eve", "last_name": "Moss"}])
    view = await domain_service.set_mailboxes(
        app, "acme-mail.test", add=[{"first_name": "Eve", "last_name": "Moss"}], remove=["cara.diaz"], force=True
    )
    assert view.mailboxes == ["eve.moss@acme-mail.test"]
    with pytest.raises(UserError, match="exists already"):
        await domain_service.set_mailboxes(
            app, "acme-mail.test", add=[{"first_name": "Eve", "last_name": "Moss"}], force=True
        )

    added = await server_service.add_server(
        app, {"name": "mx2", "hostname": "mail2.acme-mail.test", "ipv4": "127.0.0.11"}
    )
    assert added.hostname == "mail2.acme-mail.test"
    assert {(s.name, owner) for s, owner in await server_service.list_servers(app)} >= {("mx2", API_OWNER)}
    with pytest.raises(UserError, match="VPS provider 'hetzner'"):
        await server_service.add_server(
            app, {"name": "mx3", "hostname": "m.a.test", "provider": "hetzner", "size": "cx22", "region": "nbg1"}
        )
    with pytest.raises(UserError, match="ipv4 or ipv6"):
        await server_service.add_server(app, {"name": "mx4", "hostname": "m.a.test"})
    with pytest.raises(UserError, match="used by"):
        await server_service.remove_server(app, "mx1", force=True)
    await domain_service.add_domain(app, "third.test", {"server": "mx2"})
    planned = await plans.plan(app, only=["third.test"])
    assert any(c.record.values == ("10 mail2.acme-mail.test",) for c in planned.zones[0].changes)
    await domain_service.remove_domain(app, "third.test")
    await server_service.remove_server(app, "mx2")
    assert "mx2" not in {s.name for s, _ in await server_service.list_servers(app)}
