"""The records a domain needs, as the desired state (or a file) and the vault say. Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, UserError
from email_infrastructure.core.inventory import Inventory, LoadedInventory, ResolvedDomain
from email_infrastructure.core.pending import mask_pending
from email_infrastructure.core.rsa_keys import public_key_b64
from email_infrastructure.core.secret_names import dkim_key
from email_infrastructure.dns.desired import DesiredZone, desired_zones
from email_infrastructure.services.app import App
from email_infrastructure.services.audit import domain_names
from email_infrastructure.services.context import AppContext
from email_infrastructure.services.desired import desired_inventory
from email_infrastructure.services.domains import domain_inventory
from email_infrastructure.services.plans import plan


async def _server_key(inventory: Inventory, domain: ResolvedDomain) -> str | None:
    """The mail server's DKIM public key of a domain with a mail backend (a read), if it has one."""
    from email_infrastructure.mailcow.registry import build_backend

    backend_name = domain.server.mail_backend if domain.server else None
    spec = inventory.providers.mail.get(backend_name or "")
    if spec is None:
        return None
    backend = build_backend(str(backend_name), spec)
    try:
        key = await backend.read_dkim(domain.name)
    finally:
        await backend.close()
    return key.public_key if key is not None and key.selector == domain.dkim_selector else None


async def desired_records(
    app: App, domain: str, source: LoadedInventory | None = None, *, inventory: Inventory | None = None
) -> DesiredZone:
    """The desired zone of `domain`; a DKIM key not generated yet is noted, not made.

    `inventory` is a desired state already read (e.g. the domain's alone, `services.domains.domain_inventory`).
    """
    (name,) = domain_names([domain])
    if inventory is None:
        inventory = source.inventory if source is not None else await desired_inventory(app)
    resolved = next((d for d in inventory.resolved_domains() if d.name == name), None)
    if resolved is None:
        where = source.path if source is not None else "the desired state"
        raise UserError(f"{name} is not a domain of {where}")
    public = await _server_key(inventory, resolved)
    if public is None and not (resolved.server and resolved.server.mail_backend):
        stored = await AppContext(app).secrets([dkim_key(name, resolved.dkim_selector)])
        private = stored.get(dkim_key(name, resolved.dkim_selector))
        public = public_key_b64(private) if private else None
    zone = desired_zones(inventory, {name: public})[name]
    if zone.error:
        raise UserError(zone.error)
    if public is None:
        zone.notes.append(
            f"DKIM: the key for {resolved.dkim_selector}._domainkey.{name} is generated at the first apply"
            + (" (by the mail server)" if resolved.server and resolved.server.mail_backend else "")
        )
    return zone


__all__ = ["desired_records", "mask_pending"]


@dataclass(frozen=True)
class LiveDrift:
    """What a domain's DNS provider holds differently: the changes apply would make (old = live)."""

    changes: list[dict[str, Any]]
    #: why the provider could not be read (then `changes` is empty)
    error: str | None


async def live_drift(app: App, name: str, *, inventory: Inventory | None = None) -> LiveDrift:
    """Plan this domain alone (reads its DNS provider, writes nothing) and keep its zone's changes.

    The plan is of the domain's own desired state (`domain_inventory`, or `inventory` when the
    caller read it already), never the fleet's: a domain page of 10,000 domains must not load them all.
    """
    try:
        if inventory is None:
            inventory, _ = await domain_inventory(app, name)
        planned = await plan(app, only=[name], inventory=inventory)
    except EmailInfraError as exc:
        return LiveDrift([], str(exc))
    zones = [z for z in planned.zones if z.zone == name]
    error = next((z.error for z in zones if z.error), None)
    return LiveDrift([c.to_json() for z in zones for c in z.changes], error)
