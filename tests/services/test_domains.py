"""services/domains.py: single-domain reads by key, and the per-App cache of listed views."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from email_infrastructure.core.errors import NotFoundError
from email_infrastructure.services import domains as domain_service
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import API_OWNER, OwnershipConflictError, import_inventory
from email_infrastructure.storage.models import Domain
from email_infrastructure.storage.scoping import rows_for
from tests.services.conftest import WriteInventory


async def _grow(app: App, total: int) -> None:
    """Bulk-insert copies of acme-mail.test until the fleet holds `total` domains (no mailboxes)."""
    async with app.uow() as uow:
        model = await uow.session.scalar(select(Domain).where(Domain.name == "acme-mail.test"))
        assert model is not None
        have = len((await uow.session.scalars(select(Domain.id))).all())
        rows = [
            {
                "name": f"fleet-{i:05d}.test",
                "spec": model.spec,
                "managed_by": model.managed_by,
                "dns_provider": model.dns_provider,
                "server_id": model.server_id,
            }
            for i in range(have, total)
        ]
        if rows:
            await uow.session.execute(insert(Domain), rows_for(uow.session, rows))
        await uow.commit()


@contextmanager
def counted(app: App) -> Iterator[list[str]]:
    """The SQL statements sent while inside (a SQLAlchemy event listener on the App's engine)."""
    assert app._db is not None
    engine = app._db.engine.sync_engine
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_one_domain_is_read_with_the_same_statements_whatever_the_fleet_size(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    await _grow(app, 10)
    app.domain_views.invalidate()
    with counted(app) as small:
        view = await domain_service.show_domain(app, "acme-outreach.test")
    with counted(app) as small_cached:
        assert await domain_service.show_domain(app, "acme-outreach.test") is view
    await _grow(app, 1_200)  # past SQLAlchemy's batches of 500 ids: reading every domain would cost more statements
    app.domain_views.invalidate()
    with counted(app) as large:
        again = await domain_service.show_domain(app, "acme-outreach.test")
    with counted(app) as large_cached:
        assert await domain_service.show_domain(app, "acme-outreach.test") is again
    assert again == view
    assert len(small) == len(large) <= 6, large
    # the App's view is current: the one query that says so is all
    assert len(small_cached) == len(large_cached) == len(small) - 3, large_cached
    with counted(app) as other:
        await domain_service.show_domain(app, "fleet-01021.test")
    assert len(other) == len(large)


async def test_a_domain_read_by_key_is_the_one_of_the_whole_desired_state(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    await domain_service.add_domain(
        app, "new-brand.test", {"dkim_selector": "s2026"}, [{"first_name": "Dee", "last_name": "Ray"}]
    )
    for view in await domain_service.list_domains(app):
        assert await domain_service.show_domain(app, view.name) == view
    summary = await domain_service.domain_summary(app, "new-brand.test")
    assert summary.status == "unknown" and summary.view.mailboxes == ["dee.ray@new-brand.test"]


async def test_a_write_invalidates_the_apps_cached_view(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    await domain_service.page_domains(app)
    assert "acme-mail.test" in app.domain_views and "acme-outreach.test" in app.domain_views
    await domain_service.set_mailboxes(
        app, "acme-mail.test", add=[{"first_name": "Zed", "last_name": "Ox"}], force=True
    )
    assert "acme-mail.test" not in app.domain_views and "acme-outreach.test" in app.domain_views
    page = await domain_service.page_domains(app)
    assert "zed.ox@acme-mail.test" in next(v for v in page.domains if v.name == "acme-mail.test").mailboxes
    await domain_service.remove_domain(app, "acme-mail.test", force=True)
    assert "acme-mail.test" not in app.domain_views


async def test_two_apps_do_not_share_a_cache(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    other = App(app.settings)
    try:
        await domain_service.page_domains(app)
        assert len(app.domain_views) == 2 and len(other.domain_views) == 0
        first = (await domain_service.page_domains(app)).domains[0]
        second = (await domain_service.page_domains(other)).domains[0]
        assert first == second and first is not second  # computed by each App, kept by each
    finally:
        await other.close()


async def test_replace_changes_only_an_api_owned_domain(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    with pytest.raises(OwnershipConflictError, match="change it there"):
        await domain_service.replace_domain(app, "acme-mail.test", {"dkim_selector": "s2"})
    assert (await domain_service.show_domain(app, "acme-mail.test")).spec["dkim_selector"] != "s2"
    with pytest.raises(NotFoundError):
        await domain_service.replace_domain(app, "absent.test", {})
    await domain_service.add_domain(app, "new-brand.test")
    replaced = await domain_service.replace_domain(app, "new-brand.test", {"dkim_selector": "s2"}, source="api:k")
    assert replaced.spec["dkim_selector"] == "s2" and replaced.owner == API_OWNER


async def test_a_view_cached_by_one_app_is_not_served_after_another_changes_the_domain(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    await domain_service.add_domain(app, "new-brand.test")
    assert (await domain_service.show_domain(app, "new-brand.test")).spec["dkim_selector"] != "s9"
    other = App(app.settings)  # another process, say: this App's cache hears nothing of its writes
    try:
        await domain_service.replace_domain(other, "new-brand.test", {"dkim_selector": "s9", "mailbox_count": 0})
        await domain_service.set_mailboxes(other, "new-brand.test", add=[{"first_name": "Eve", "last_name": "Ng"}])
    finally:
        await other.close()
    seen = await domain_service.show_domain(app, "new-brand.test")
    assert seen.spec["dkim_selector"] == "s9" and seen.mailboxes == ["eve.ng@new-brand.test"]


async def test_a_domain_edit_sends_the_same_statements_whatever_the_fleet_size(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    await _grow(app, 10)
    sent: dict[int, list[int]] = {}
    for size in (10, 1_200):  # past SQLAlchemy's batches of 500 ids: reading every domain costs more statements
        await _grow(app, size)
        with counted(app) as added:
            await domain_service.add_domain(
                app, f"new-{size}.test", mailboxes=[{"first_name": "Dee", "last_name": "Ray"}]
            )
        with counted(app) as mailboxes:
            await domain_service.set_mailboxes(app, f"new-{size}.test", add=[{"first_name": "Eve", "last_name": "Ng"}])
        with counted(app) as removed:
            await domain_service.remove_domain(app, f"new-{size}.test")
        sent[size] = [len(added), len(mailboxes), len(removed)]
        # no statement reads the domains table without naming the domain
        for statement in [*added, *mailboxes, *removed]:
            assert not ("FROM domains" in statement and "WHERE" not in statement), statement
    assert sent[10] == sent[1_200], sent
    # the other domains are untouched, and the rules still hold: another owner's domain is refused
    assert len(await domain_service.list_domains(app)) == 1_200
    with pytest.raises(OwnershipConflictError):
        await domain_service.add_domain(app, "acme-mail.test")


async def test_domain_edits_take_turns_on_sqlite_only(app: App, write_inventory: WriteInventory, backend: str) -> None:
    await import_inventory(app, write_inventory())
    turn = app.domain_views.write_turn()
    assert app.domain_views.write_turn() is turn  # one per App and event loop
    async with turn:
        adding = asyncio.create_task(domain_service.add_domain(app, "queued.test"))
        if backend == "sqlite":
            # a read (WAL: it never waits for a writer) goes by while the edit waits for its turn
            assert len((await domain_service.page_domains(app)).domains) == 2
            assert not adding.done()
        else:  # PostgreSQL: edits lock their own rows, they do not wait for each other here
            await adding
    assert (await adding).name == "queued.test"


@contextmanager
def begun(app: App) -> Iterator[list[object]]:
    """The transactions begun on the App's engine while inside."""
    assert app._db is not None
    engine = app._db.engine.sync_engine
    seen: list[object] = []

    def record(connection: object) -> None:
        seen.append(connection)

    event.listen(engine, "begin", record)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", record)


async def test_a_page_of_cached_views_is_one_statement_outside_a_transaction_on_sqlite(
    app: App, write_inventory: WriteInventory, backend: str
) -> None:
    from email_infrastructure.services.monitoring import record_results
    from email_infrastructure.storage.models import Server

    await import_inventory(app, write_inventory())
    await _grow(app, 120)
    await domain_service.add_domain(
        app,
        "fleet-00050a.test",
        mailboxes=[{"first_name": "Zoe", "last_name": "Q"}, {"first_name": "Al", "last_name": "B"}],
    )
    await record_results(app, [("fleet-00007.test", "spf", "warning", {}, "soft")])
    async with app.uow() as uow:
        provider, server = (
            await uow.session.execute(
                select(Domain.dns_provider, Server.name)
                .join(Server, Server.id == Domain.server_id)
                .where(Domain.name == "acme-mail.test")
            )
        ).one()
    filters: list[dict[str, Any]] = [
        {},
        {"offset": 45, "limit": 10},  # mailboxes on the page
        {"status": "warning"},
        {"status": "unknown", "offset": 100},
        {"provider": provider, "limit": 500},
        {"server": server, "offset": 3, "limit": 7},
    ]
    first = [await domain_service.page_domains(app, **f) for f in filters]  # views computed and cached
    with begun(app) as transactions:
        again = [await domain_service.page_domains(app, **f) for f in filters]
    assert again == first
    assert [p.total for p in first] == [121, 121, 1, 120, 121, 121]
    assert first[1].domains[6].mailboxes == ["al.b@fleet-00050a.test", "zoe.q@fleet-00050a.test"]
    # SQLite: no BEGIN/ROLLBACK round trips for a page whose views are cached; PostgreSQL reads as before
    assert len(transactions) == (0 if backend == "sqlite" else len(filters))
    # a status change is seen at once (statuses are read with the page, never cached)
    await record_results(app, [("fleet-00007.test", "spf", "error", {}, "gone")])
    with begun(app) as transactions:
        page = await domain_service.page_domains(app, status="error")
    assert [v.name for v in page.domains] == ["fleet-00007.test"] and page.statuses == {"fleet-00007.test": "error"}
    assert len(transactions) == (0 if backend == "sqlite" else 1)
    # past the end the total needs a query of its own: the unit of work's read gives it
    with begun(app) as transactions:
        past = await domain_service.page_domains(app, offset=1_000)
    assert past.domains == [] and past.total == 121 and len(transactions) == 1
    # a changed view is computed again, in a unit of work
    await domain_service.set_mailboxes(
        app, "acme-mail.test", add=[{"first_name": "Eve", "last_name": "Ng"}], force=True
    )
    with begun(app) as transactions:
        page = await domain_service.page_domains(app, provider=provider, limit=500)
    assert "eve.ng@acme-mail.test" in next(v for v in page.domains if v.name == "acme-mail.test").mailboxes
    assert len(transactions) == 1


async def test_a_listing_served_from_cached_views_stays_in_its_workspace(
    app: App, write_inventory: WriteInventory
) -> None:
    from email_infrastructure.services.scope import acting_in
    from tests.services.conftest import two_domains

    await import_inventory(app, write_inventory())  # default: the quickstart's two domains
    with acting_in("beta"):
        await import_inventory(app, write_inventory(two_domains("beta-one.test", "beta-two.test"), name="beta.yaml"))
    for _ in range(2):  # the second listing of each is served from the App's cached views
        for workspace, names in (
            ("default", ["acme-mail.test", "acme-outreach.test"]),
            ("beta", ["beta-one.test", "beta-two.test"]),
        ):
            with acting_in(workspace):
                page = await domain_service.page_domains(app)
            assert ([d.name for d in page.domains], page.total) == (names, 2), workspace
