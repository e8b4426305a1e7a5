"""storage/scoping.py through units of work: a workspace reads, changes and deletes only its own rows."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, insert, select, update

from email_infrastructure.core.errors import NotFoundError, StorageError
from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.scope import EVERY, Scope, acting_in
from email_infrastructure.storage.models import CheckResultRecord, Domain, EventRecord, Mailbox
from email_infrastructure.storage.scoping import across_workspaces, rows_for


async def _seed(app: App) -> None:
    await workspaces.create(app, "acme")
    for name, domain in (("default", "mine.test"), ("acme", "theirs.test")):
        async with app.uow(Scope(name)) as uow:
            uow.desired.add(
                Domain(name=domain, spec={}, mailboxes=[Mailbox(local_part="a", first_name="A", last_name="B")])
            )
            await uow.commit()


async def test_a_workspace_sees_only_its_rows_whatever_the_statement(app: App) -> None:
    await _seed(app)
    async with app.uow() as uow:  # the settings' workspace: default
        s = uow.session
        assert (await s.scalars(select(Domain.name))).all() == ["mine.test"]
        assert await s.scalar(select(func.count()).select_from(Domain)) == 1
        assert await s.scalar(select(func.count(Mailbox.id))) == 1
        assert await uow.desired.domain("theirs.test") is None
        joined = (await s.execute(select(Mailbox.local_part, Domain.name).join(Domain))).all()
        assert joined == [("a", "mine.test")]
        # another workspace's row by primary key is not there either
        theirs = await s.scalar(
            select(Domain.id).where(Domain.name == "theirs.test"), execution_options=across_workspaces()
        )
        assert theirs is not None
        assert await s.get(Domain, theirs) is None
        assert (await s.execute(update(Domain).values(spec={"x": 1}))).rowcount == 1  # type: ignore[attr-defined]  # a CursorResult
        assert (await s.execute(delete(Mailbox))).rowcount == 1  # type: ignore[attr-defined]  # as above
        await uow.commit()
    async with app.uow(Scope("acme")) as uow:
        domain = await uow.desired.domain("theirs.test")
        assert domain is not None and domain.spec == {} and len(domain.mailboxes) == 1


async def test_new_rows_take_the_workspace_and_every_workspace_reads_all_but_writes_none(app: App) -> None:
    await _seed(app)
    async with app.uow(EVERY) as uow:
        assert sorted((await uow.session.scalars(select(Domain.name))).all()) == ["mine.test", "theirs.test"]
        uow.desired.add(Domain(name="nobody.test", spec={}))
        with pytest.raises(StorageError, match="without choosing a workspace"):
            await uow.desired.flush()
    with acting_in("acme"):
        async with app.uow() as uow:
            assert uow.workspace == "acme"
            rows = [{"subject": "theirs.test", "check": "spf", "status": "ok", "findings": {}}]
            with pytest.raises(StorageError, match="rows_for"):
                await uow.session.execute(insert(CheckResultRecord), rows)
            await uow.session.execute(insert(CheckResultRecord), rows_for(uow.session, rows))
            await uow.commit()
    async with app.uow(EVERY) as uow:
        stored = (await uow.session.execute(select(CheckResultRecord.workspace_id))).scalars().all()
        acme = await uow.workspaces.by_name("acme")
        assert acme is not None and stored == [acme.id]


async def test_events_of_a_workspace_and_install_wide_ones(app: App) -> None:
    await _seed(app)  # creating `acme` is an install-wide event (no workspace)
    async with app.uow(Scope("acme")) as uow:
        topics = [r.topic for r in await uow.events.recent()]
    assert "desired.workspace.created" not in topics
    async with app.uow(EVERY) as uow:
        rows = (
            await uow.session.scalars(select(EventRecord).where(EventRecord.topic == "desired.workspace.created"))
        ).all()
    assert [r.workspace_id for r in rows] == [None]


async def test_an_unknown_workspace_is_refused_unless_a_plan_reads_it_as_empty(app: App) -> None:
    await _seed(app)
    with pytest.raises(NotFoundError, match="workspace nowhere does not exist"):
        async with app.uow(Scope("nowhere")):
            pass
    async with app.uow(Scope("nowhere", missing_ok=True)) as uow:
        assert (await uow.session.scalars(select(Domain))).all() == []
        with pytest.raises(NotFoundError):
            await uow.commit()
