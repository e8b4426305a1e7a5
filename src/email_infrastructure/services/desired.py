"""Desired state: import an inventory, edit domains, and read it back as an Inventory.

The database is the truth. An inventory file is one writer (owner `file:<absolute path>`), the
API and the CLI's `domain` verbs another (owner `api`). A domain stores every option explicitly
(its file's defaults merged in), so it means the same whoever reads it; the stored `defaults` are
what `domain add` starts from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from email_infrastructure.core.errors import ConflictError, UserError
from email_infrastructure.core.inventory import DomainSpec, Inventory, LoadedInventory
from email_infrastructure.core.inventory.schema import DOMAIN_OPTIONS
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.workspaces import check_domains_free
from email_infrastructure.services.workspaces import ensure as ensure_workspace
from email_infrastructure.storage.models import DesiredSetting, Domain, Provider, Server
from email_infrastructure.storage.repositories import DesiredRows, set_mailboxes

API_OWNER = "api"
SETTING_KEYS = ("defaults", "monitoring")


def file_owner(path: Path) -> str:
    """The owner name of what an inventory file declares."""
    return f"file:{path.resolve()}"


class OwnershipConflictError(ConflictError):
    """Another owner's resources would change; nothing was written."""


@dataclass
class Owned:
    """One desired-state item: its content and its owner."""

    value: dict[str, Any]
    owner: str


@dataclass
class Snapshot:
    """Desired state as plain data: what is stored, or what an import would store."""

    providers: dict[tuple[str, str], Owned] = field(default_factory=dict)
    servers: dict[str, Owned] = field(default_factory=dict)
    settings: dict[str, Owned] = field(default_factory=dict)
    #: domain → spec (mailboxes as {local: [first, last]} under "mailboxes")
    domains: dict[str, Owned] = field(default_factory=dict)
    #: fleet settings a file left out (its `settings` hold the defaults): it uses the stored ones
    undeclared: set[str] = field(default_factory=set)

    def inventory(self) -> Inventory:
        """The desired state as an Inventory, the shape every component reads."""
        providers: dict[str, dict[str, Any]] = {"dns": {}, "mail": {}, "vps": {}, "sequencers": {}, "registrars": {}}
        for (kind, name), item in sorted(self.providers.items()):
            providers.setdefault(kind, {})[name] = item.value
        domains = []
        for name, item in sorted(self.domains.items()):
            spec = {k: v for k, v in item.value.items() if k not in NOT_OPTIONS}
            domains.append({**spec, "name": name, "mailboxes": mailbox_specs(item.value)})
        try:
            return Inventory.model_validate(
                {
                    "version": 1,
                    "providers": providers,
                    "servers": [item.value for _, item in sorted(self.servers.items())],
                    "defaults": self.settings["defaults"].value if "defaults" in self.settings else {},
                    "domains": domains,
                    "monitoring": self.settings["monitoring"].value if "monitoring" in self.settings else {},
                }
            )
        except ValidationError as exc:
            raise UserError(f"the stored desired state is not valid: {exc.errors()[0]['msg']}") from None


#: a stored domain's mailboxes that name their own sequencers: {local part: [uses]} (the others take the domain's)
MAILBOX_SEQUENCERS = "mailbox_sequencers"
#: keys of a stored domain that are not domain options
NOT_OPTIONS = ("mailboxes", MAILBOX_SEQUENCERS)


def mailbox_specs(value: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored domain's mailboxes as the inventory lists them (with their own sequencers where they name any)."""
    own = value.get(MAILBOX_SEQUENCERS) or {}
    out = []
    for local, (first, last) in sorted(value.get("mailboxes", {}).items()):
        mailbox = {"first_name": first, "last_name": last, "local_part": local}
        out.append({**mailbox, "sequencers": own[local]} if local in own else mailbox)
    return out


def explicit_domain(inventory: Inventory, domain: DomainSpec) -> dict[str, Any]:
    """A domain's spec with every option its defaults give made explicit (JSON form)."""
    spec = domain.model_dump(mode="json", exclude={"mailboxes"})
    defaults = inventory.defaults.model_dump(mode="json")
    for option in DOMAIN_OPTIONS:
        if spec.get(option) is None:
            spec[option] = defaults.get(option)
    spec["mailboxes"] = {m.address_local_part: [m.first_name, m.last_name] for m in domain.mailboxes}
    own = {
        m.address_local_part: [u.model_dump(mode="json", exclude_none=True) for u in m.sequencers]
        for m in domain.mailboxes
        if m.sequencers is not None
    }
    if own:
        spec[MAILBOX_SEQUENCERS] = own
    return {k: v for k, v in spec.items() if v is not None and k != "name"}


def from_inventory(inventory: Inventory, owner: str) -> Snapshot:
    """What importing `inventory` declares, every item owned by `owner`."""
    snap = Snapshot()
    for kind in ("dns", "mail", "vps", "sequencers", "registrars"):
        for name, spec in getattr(inventory.providers, kind).items():
            snap.providers[(kind, name)] = Owned(spec.model_dump(mode="json"), owner)
    for server in inventory.servers:
        snap.servers[server.name] = Owned(server.model_dump(mode="json", exclude_none=True), owner)
    snap.settings["defaults"] = Owned(inventory.defaults.model_dump(mode="json", exclude_none=True), owner)
    snap.settings["monitoring"] = Owned(inventory.monitoring.model_dump(mode="json", exclude_none=True), owner)
    snap.undeclared = {key for key in SETTING_KEYS if key not in inventory.model_fields_set}
    for domain in inventory.domains:
        snap.domains[domain.name] = Owned(explicit_domain(inventory, domain), owner)
    return snap


def from_rows(rows: DesiredRows) -> Snapshot:
    """The stored desired state."""
    snap = Snapshot()
    for p in rows.providers:
        snap.providers[(p.kind, p.name)] = Owned({"type": p.type, **p.settings}, p.managed_by)
    for s in rows.servers:
        snap.servers[s.name] = Owned(dict(s.spec), s.managed_by)
    for key, row in rows.settings.items():
        snap.settings[key] = Owned(dict(row.value), row.managed_by)
    for d in rows.domains:
        mailboxes = {m.local_part: [m.first_name, m.last_name] for m in d.mailboxes}
        snap.domains[d.name] = Owned({**d.spec, "mailboxes": mailboxes}, d.managed_by)
    return snap


@dataclass
class ImportResult:
    """What an import changed (or, previewed, would change)."""

    owner: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when anything would be written."""
        return bool(self.added or self.updated or self.removed)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "owner": self.owner,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "notes": self.notes,
        }


def merge(current: Snapshot, incoming: Snapshot, owner: str, *, force: bool = False) -> tuple[Snapshot, ImportResult]:
    """The desired state after importing `incoming` as `owner`; raises on another owner's items.

    Until workspaces, one database holds every file's desired state, and no import changes
    another file's domains:
    - a domain belongs to one owner: another owner's domain is taken over only with `force`;
    - providers and servers may be declared by several files alike; one that differs from the
      stored one is another owner's (a conflict), and with `force` it is taken over only when no
      domain left to another owner uses it (its records would change);
    - `defaults` apply to the file's own domains only (a domain stores every option): another
      owner's stored `defaults` (what `domain add` starts from) are kept, with a note;
    - `monitoring` is the fleet's: a file that leaves it out uses the stored one; one that declares
      another conflicts, unless `force`.
    What `owner` declared before and no longer does is dropped, except providers and servers that
    a remaining domain still uses.
    """
    result = ImportResult(owner)
    conflicts: list[str] = []
    #: shared items another owner's domains use, which this file would change: never, even forced
    shared: list[str] = []
    merged = Snapshot(dict(current.providers), dict(current.servers), dict(current.settings), dict(current.domains))
    # the domains that stay another owner's: their servers and providers must not change under them
    kept = [d.value for n, d in current.domains.items() if d.owner != owner and not (force and n in incoming.domains)]
    servers_kept = {d.get("server") for d in kept}
    providers_kept = {("dns", d.get("dns_provider")) for d in kept}
    for name in servers_kept:
        server = current.servers.get(name or "")
        if server is not None:
            providers_kept |= {("vps", server.value.get("provider")), ("mail", server.value.get("mail_backend"))}
    tables: list[tuple[str, dict[Any, Owned], dict[Any, Owned], bool]] = [
        ("provider", merged.providers, incoming.providers, False),
        ("server", merged.servers, incoming.servers, False),
        ("settings", merged.settings, incoming.settings, False),
        ("domain", merged.domains, incoming.domains, True),
    ]
    for kind, table, wanted, exclusive in tables:
        for key, item in wanted.items():
            label = f"{kind} {_label(key)}"
            old = table.get(key)
            if old is None:
                table[key] = item
                result.added.append(label)
                continue
            same = old.value == item.value
            if old.owner != owner and kind == "settings" and not same:
                if key in incoming.undeclared:
                    continue  # the file leaves it out: it uses the stored one
                if key == "defaults":
                    result.notes.append(
                        f"the stored defaults stay {old.owner}'s (what `domain add` starts from);"
                        " this file's defaults apply to its own domains"
                    )
                    continue
            if old.owner != owner and not same and key in (servers_kept if kind == "server" else providers_kept):
                shared.append(f"{label} differs from the one {old.owner} stored for its domains")
                continue
            if old.owner != owner and (exclusive or not same) and not force:
                conflicts.append(f"{label} is owned by {old.owner}")
                continue
            if not same or (exclusive and old.owner != owner):
                table[key] = item
                result.updated.append(label)
    if conflicts or shared:
        advice = [
            *(["declare the same block as stored, or give yours another name"] if shared else []),
            *(["remove them from the file, or --force to take them over"] if conflicts else []),
        ]
        raise OwnershipConflictError(f"refusing to import: {'; '.join([*shared, *conflicts])} ({'; '.join(advice)})")
    for name in [n for n, d in merged.domains.items() if d.owner == owner and n not in incoming.domains]:
        del merged.domains[name]
        result.removed.append(f"domain {name}")
    used_servers = {d.value.get("server") for d in merged.domains.values()}
    used_providers = {("dns", d.value.get("dns_provider")) for d in merged.domains.values()}
    used_providers |= {("vps", s.value.get("provider")) for s in merged.servers.values()}
    used_providers |= {("mail", s.value.get("mail_backend")) for s in merged.servers.values()}
    for kind, table, wanted, _ in tables[:2]:
        for key in [k for k, v in table.items() if v.owner == owner and k not in wanted]:
            if key in (used_servers if kind == "server" else used_providers):
                result.notes.append(f"{kind} {_label(key)} is kept: a domain of another owner still uses it")
                continue
            del table[key]
            result.removed.append(f"{kind} {_label(key)}")
    merged.inventory()  # the result must be a valid desired state before anything is written
    return merged, result


def _label(key: Any) -> str:
    return "/".join(key) if isinstance(key, tuple) else str(key)


async def load_snapshot(app: App, incoming: Sequence[str] = (), *, only: Sequence[str] | None = None) -> Snapshot:
    """The stored desired state (with `only`, just those domains beside the fleet's small tables);
    empty when nothing has been stored yet (nothing is created).

    Domain names in `incoming` that this workspace does not hold must not be another workspace's.
    """
    if not app.has_state():
        return Snapshot()
    async with app.uow() as uow:
        snapshot = from_rows(await uow.desired.load(only=only))
        await check_domains_free(uow, [name for name in incoming if name not in snapshot.domains])
        return snapshot


async def desired_inventory(app: App) -> Inventory:
    """The stored desired state as an Inventory."""
    return (await load_snapshot(app)).inventory()


async def stored_inventory(app: App, only: Sequence[str] | None = None) -> Inventory | None:
    """The stored desired state (with `only`, just those domains: one indexed read); None if nothing is stored."""
    from email_infrastructure.storage.api_repositories import read_only

    if not app.has_state():
        return None
    async with app.uow() as uow:
        await read_only(uow.session)  # an audit never waits for (or blocks) an apply's write lock
        return from_rows(await uow.desired.load(only=only)).inventory()


async def preview_import(app: App, loaded: LoadedInventory, *, force: bool = False) -> tuple[Inventory, ImportResult]:
    """The desired state importing `loaded` would give, and what would change; writes nothing."""
    owner = file_owner(loaded.path)
    incoming = from_inventory(loaded.inventory, owner)
    merged, result = merge(await load_snapshot(app, list(incoming.domains)), incoming, owner, force=force)
    return merged.inventory(), result


async def import_inventory(app: App, loaded: LoadedInventory, *, force: bool = False) -> ImportResult:
    """Upsert what the file declares, drop what it declared before and no longer does."""
    owner = file_owner(loaded.path)
    await ensure_workspace(app)
    async with app.uow() as uow:
        rows = await uow.desired.load()
        merged, result = merge(from_rows(rows), from_inventory(loaded.inventory, owner), owner, force=force)
        await write_snapshot(uow, rows, merged)
        if result.changed:
            uow.emit(
                events.INVENTORY_IMPORTED,
                events.InventoryImportedPayload(
                    owner=owner, added=result.added, updated=result.updated, removed=result.removed, notes=result.notes
                ),
                source=owner,
            )
        await uow.commit()
    return result


async def write_snapshot(uow: Any, rows: DesiredRows, snap: Snapshot) -> None:
    """Make the stored rows equal `snap` (rows are updated in place, so ids are kept).

    Only the domains of `rows` are compared: rows loaded with `load(only=…)` and a snapshot of them
    write just those domains (an API edit), whatever the fleet's size.
    """
    desired = uow.desired
    providers = {(p.kind, p.name): p for p in rows.providers}
    for key, item in snap.providers.items():
        row = providers.pop(key, None) or Provider(kind=key[0], name=key[1])
        if row.id is None:
            desired.add(row)
        row.type = item.value["type"]
        row.settings = {k: v for k, v in item.value.items() if k != "type"}
        row.managed_by = item.owner
    for row in providers.values():
        await desired.remove(row)
    servers = {s.name: s for s in rows.servers}
    kept: list[Server] = []
    for name, item in snap.servers.items():
        srow = servers.pop(name, None) or Server(name=name)
        kept.append(srow)
        if srow.id is None:
            desired.add(srow)
        srow.hostname = item.value["hostname"]
        srow.provider = item.value.get("provider")
        srow.ipv4, srow.ipv6 = item.value.get("ipv4"), item.value.get("ipv6")
        srow.mail_backend = item.value.get("mail_backend")
        srow.spec, srow.managed_by = item.value, item.owner
    for srow in servers.values():
        await desired.remove(srow)
    await desired.flush()  # new servers get their ids
    server_ids = {s.name: s.id for s in kept}
    for setting_key, item in snap.settings.items():
        setting = rows.settings.get(setting_key)
        if setting is None:
            setting = DesiredSetting(key=setting_key)
            desired.add(setting)
        setting.value, setting.managed_by = item.value, item.owner
    domains = {d.name: d for d in rows.domains}
    await check_domains_free(uow, [name for name in snap.domains if name not in domains])
    for name, item in snap.domains.items():
        drow = domains.pop(name, None) or Domain(name=name, mailboxes=[])
        if drow.id is None:
            desired.add(drow)
        spec = {k: v for k, v in item.value.items() if k != "mailboxes"}
        drow.spec, drow.managed_by = spec, item.owner
        drow.dns_provider = spec.get("dns_provider")
        drow.server_id = server_ids.get(spec.get("server") or "")
        wanted = {local: (pair[0], pair[1]) for local, pair in item.value.get("mailboxes", {}).items()}
        set_mailboxes(drow, wanted, item.owner)
    for drow in domains.values():
        await desired.remove(drow)


__all__ = [
    "API_OWNER",
    "MAILBOX_SEQUENCERS",
    "NOT_OPTIONS",
    "SETTING_KEYS",
    "ImportResult",
    "OwnershipConflictError",
    "Snapshot",
    "desired_inventory",
    "explicit_domain",
    "file_owner",
    "import_inventory",
    "load_snapshot",
    "mailbox_specs",
    "merge",
    "preview_import",
    "stored_inventory",
]
