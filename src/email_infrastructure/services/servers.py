"""Servers of the desired state without a file (the API's path): add, list, remove."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ServerSpec
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import (
    API_OWNER,
    Owned,
    OwnershipConflictError,
    from_rows,
    load_snapshot,
    write_snapshot,
)


async def list_servers(app: App) -> list[tuple[ServerSpec, str]]:
    """Every server with its owner."""
    snap = await load_snapshot(app)
    inventory = snap.inventory()
    return [(s, snap.servers[s.name].owner) for s in inventory.servers]


async def add_server(app: App, spec: dict[str, Any], *, owner: str = API_OWNER, force: bool = False) -> ServerSpec:
    """Add (or with `force` replace) a server: an existing one by its addresses, or one to create."""
    try:
        server = ServerSpec.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"server: {'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}") from None
    async with app.uow() as uow:
        rows = await uow.desired.load()
        snap = from_rows(rows)
        existing = snap.servers.get(server.name)
        if existing is not None and not force:
            raise OwnershipConflictError(f"server {server.name} exists (owner {existing.owner}); --force replaces it")
        provider = server.provider
        if provider and ("vps", provider) not in snap.providers:
            raise UserError(f"server {server.name}: VPS provider {provider!r} is not in the desired state")
        snap.servers[server.name] = Owned(server.model_dump(mode="json", exclude_none=True), owner)
        snap.inventory()
        await write_snapshot(uow, rows, snap)
        uow.emit(events.SERVER_CREATED, events.DesiredServerPayload(server=server.name, owner=owner), source=owner)
        await uow.commit()
    return server


async def remove_server(app: App, name: str, *, owner: str = API_OWNER, force: bool = False) -> None:
    """Drop a server no domain uses any more."""
    async with app.uow() as uow:
        rows = await uow.desired.load()
        snap = from_rows(rows)
        existing = snap.servers.get(name)
        if existing is None:
            raise UserError(f"server {name!r} is not in the desired state")
        if existing.owner != owner and not force:
            raise OwnershipConflictError(f"server {name} is owned by {existing.owner}: remove it there, or --force")
        users = sorted(d for d, item in snap.domains.items() if item.value.get("server") == name)
        if users:
            raise UserError(f"server {name} is used by {', '.join(users[:5])}: move those domains first")
        del snap.servers[name]
        await write_snapshot(uow, rows, snap)
        uow.emit(events.SERVER_REMOVED, events.DesiredServerPayload(server=name, owner=existing.owner), source=owner)
        await uow.commit()
