"""Servers as declared and as their providers reported them: list, show, cloud-init, port 25."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import Inventory, LoadedInventory, ServerSpec
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.core.secret_names import API_KEY_NAME, PLACEHOLDER_KEY, api_key_owner
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import desired_inventory, preview_import
from email_infrastructure.storage.vps_repositories import PORT25_STATES
from email_infrastructure.vps.cloud_init import MailcowInstall, render
from email_infrastructure.vps.events import PORT25_RECORDED, Port25Payload
from email_infrastructure.vps.registry import PROVIDERS


def _port25_default(provider_type: str) -> str:
    """Outbound port 25 on a new account at a provider type, as its capabilities say."""
    cls = PROVIDERS.get(provider_type)
    return cls.capabilities.port25_default if cls is not None else "unknown"


@dataclass
class ServerView:
    """One server: what the desired state declares and what we recorded about it."""

    name: str
    hostname: str
    provider: str | None
    declared: dict[str, Any]
    created: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    port25: str = "unknown"
    port25_source: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form (no secret: the Mailcow API key stays in the vault)."""
        return {
            "name": self.name,
            "hostname": self.hostname,
            "provider": self.provider,
            "declared": self.declared,
            "created": self.created,
            "port25": {"state": self.port25, "source": self.port25_source},
            **self.facts,
        }


async def _inventory(app: App, source: LoadedInventory | None) -> Inventory:
    if source is None:
        return await desired_inventory(app)
    inventory, _ = await preview_import(app, source, force=True)
    return inventory


async def list_servers(app: App, source: LoadedInventory | None = None) -> list[ServerView]:
    """Every declared server (and every server we created that is no longer declared)."""
    return await server_views(app, await _inventory(app, source))


async def server_views(app: App, inventory: Inventory) -> list[ServerView]:
    """`list_servers` for an inventory already loaded: port 25 declared, else recorded, else the
    provider's default for new accounts."""
    rows = {}
    if app.has_state():
        async with app.uow() as uow:
            rows = {r.name: r for r in await uow.vps.all()}
    views: list[ServerView] = []
    for spec in inventory.servers:
        declared = spec.model_dump(mode="json", exclude_none=True, exclude={"name", "hostname", "provider"})
        view = ServerView(spec.name, spec.hostname, spec.provider, declared)
        if spec.provider is None:
            view.facts = {"ipv4": declared.get("ipv4"), "ipv6": declared.get("ipv6")}
        elif (vps := inventory.providers.vps.get(spec.provider)) is not None:
            view.port25, view.port25_source = _port25_default(vps.type), "provider-default"
        views.append(view)
    by_name = {v.name: v for v in views}
    for name, row in rows.items():
        if (seen := by_name.get(name)) is None:  # created by us, no longer declared
            seen = ServerView(name, row.provider_name, row.provider, {"declared": False})
            views.append(seen)
        seen.created = True
        seen.port25, seen.port25_source = row.port25, row.port25_source
        seen.facts = {
            "id": row.provider_id,
            "status": row.status,
            "ipv4": row.ipv4,
            "ipv6": row.ipv6,
            "server_type": row.server_type,
            "location": row.location,
            "image": row.image,
            "ptr": dict(row.ptr),
            "last_error": row.last_error,
            "created_at": row.created_at.isoformat(),
        }
    for spec in inventory.servers:
        if spec.port25 is not None:
            by_name[spec.name].port25, by_name[spec.name].port25_source = spec.port25, "declared"
    return views


async def show_server(app: App, name: str, source: LoadedInventory | None = None) -> ServerView:
    """One server by its inventory name."""
    for view in await list_servers(app, source):
        if view.name == name:
            return view
    raise UserError(f"no server named {name!r} in the desired state")


async def record_port25(app: App, name: str, state: str) -> None:
    """Record what a probe or the provider's support said about outbound port 25."""
    if state not in PORT25_STATES:
        raise UserError(f"port25 is one of {', '.join(PORT25_STATES)}")
    if not app.has_state():
        raise UserError(f"server {name!r} was not created by us (nothing is stored yet: {app.state_location})")
    async with app.uow() as uow:
        if not await uow.vps.set_port25(name, state, "recorded"):
            raise UserError(f"server {name!r} was not created by us (declare `port25:` on it in the inventory)")
        uow.emit(PORT25_RECORDED, Port25Payload(server=name, port25=state), source="vps")
        await uow.commit()


async def blocked_servers(app: App, inventory: Inventory) -> dict[str, str]:
    """Servers whose outbound port 25 is blocked: name → where that state came from."""
    return {v.name: v.port25_source for v in await server_views(app, inventory) if v.port25 == "blocked"}


async def cloud_init(app: App, name: str, source: LoadedInventory | None = None, *, show_secrets: bool = False) -> str:
    """The user data the server's creation sends (its Mailcow API key only with `show_secrets`)."""
    inventory = await _inventory(app, source)
    spec: ServerSpec | None = inventory.server(name)
    if spec is None:
        raise UserError(f"no server named {name!r} in the desired state")
    if spec.provider is None:
        raise UserError(f"server {name} is not created by a VPS provider: it has no cloud-init")
    key: str | None = None
    mail = inventory.providers.mail.get(spec.mail_backend) if spec.mail_backend else None
    if mail is not None and spec.api_allow_from:
        declared = mail.settings.get("api_key")
        if declared:
            key = resolve_secret(str(declared)) if show_secrets else PLACEHOLDER_KEY
        elif app.has_state() and app.has_vault_key():
            async with app.uow() as uow:
                key = await uow.secrets(create_key=False).get(api_key_owner(spec.mail_backend or ""), API_KEY_NAME)
        key = key or PLACEHOLDER_KEY
    install = MailcowInstall(spec.hostname, spec.timezone, key, [str(n) for n in spec.api_allow_from])
    return render(install, show_secrets=show_secrets)
