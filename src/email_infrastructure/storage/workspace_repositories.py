"""The `workspaces` table, and what each workspace holds (read across workspaces on purpose)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.storage.models import (
    ApiKey,
    Base,
    CheckState,
    Domain,
    Mailbox,
    Server,
    Workspace,
    WorkspaceScoped,
)
from email_infrastructure.storage.scoping import across_workspaces

#: what `workspace list/show` counts, by label
_COUNTED: dict[str, type[WorkspaceScoped]] = {"domains": Domain, "mailboxes": Mailbox, "servers": Server}


class Workspaces:
    """Workspaces by name; their contents counted (the rows of every workspace, on purpose)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_name(self, name: str) -> Workspace | None:
        """One workspace by name."""
        query = select(Workspace).where(Workspace.name == name)
        return await self._session.scalar(query, execution_options=across_workspaces())

    async def by_id(self, workspace_id: int) -> Workspace | None:
        """One workspace by id."""
        query = select(Workspace).where(Workspace.id == workspace_id)
        return await self._session.scalar(query, execution_options=across_workspaces())

    async def all(self) -> Sequence[Workspace]:
        """Every workspace by name."""
        query = select(Workspace).order_by(Workspace.name)
        return (await self._session.scalars(query, execution_options=across_workspaces())).all()

    async def add(self, name: str) -> Workspace:
        """Create a workspace (the caller checked the name is free)."""
        row = Workspace(name=name)
        self._session.add(row)
        await self._session.flush()
        return row

    async def counts(self, workspace_ids: Sequence[int] | None = None) -> dict[int, dict[str, int]]:
        """Domains, mailboxes, servers, failing checks and API keys per workspace id."""
        counted: dict[int, dict[str, int]] = {}
        models: dict[str, type[WorkspaceScoped] | type[ApiKey]] = {**_COUNTED, "api_keys": ApiKey}
        for label, model in models.items():
            query = select(model.workspace_id, func.count()).group_by(model.workspace_id)
            if model is ApiKey:
                query = query.where(ApiKey.revoked_at.is_(None))
            if workspace_ids is not None:
                query = query.where(model.workspace_id.in_(list(workspace_ids)))
            for workspace_id, count in (
                await self._session.execute(query, execution_options=across_workspaces())
            ).all():
                if workspace_id is not None:
                    counted.setdefault(workspace_id, {})[label] = int(count)
        failing = select(CheckState.workspace_id, func.count()).where(CheckState.status == "error")
        query = failing.group_by(CheckState.workspace_id)
        for workspace_id, count in (await self._session.execute(query, execution_options=across_workspaces())).all():
            counted.setdefault(workspace_id, {})["failing_checks"] = int(count)
        return counted

    async def holders(self, domain_names: Sequence[str]) -> dict[str, int]:
        """The workspace of each of these domain names that some workspace holds (names are unique)."""
        found: dict[str, int] = {}
        names = sorted(set(domain_names))
        for start in range(0, len(names), 500):
            query = select(Domain.name, Domain.workspace_id).where(Domain.name.in_(names[start : start + 500]))
            rows = (await self._session.execute(query, execution_options=across_workspaces())).all()
            found.update({str(name): int(workspace_id) for name, workspace_id in rows})
        return found

    async def remove(self, row: Workspace) -> None:
        """Delete a workspace; its remaining rows go with it (the foreign keys cascade, and are deleted
        here too for SQLite databases opened without foreign key enforcement)."""
        for table in reversed(Base.metadata.sorted_tables):
            if "workspace_id" in table.c and table.name != "workspaces":
                await self._session.execute(table.delete().where(table.c.workspace_id == row.id))
        await self._session.delete(row)
