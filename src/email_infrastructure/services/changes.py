"""A change to one domain shown as the plan it causes before anything happens, then written and applied.

`preview` edits the desired state in memory (services/domain_edits.py, the rules of the CLI and the
API) and plans that domain alone: nothing is written, not even keys. `confirm` previews again, refuses
when the stored desired state (its `stamp`) or the plan (its checksum) moved since it was shown, then
writes the edit (services/domains.py, refused again inside the write's transaction if the state moved
in between), keeps the plan limited to that domain and starts applying it as a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import NOT_OPTIONS, from_rows, stored_inventory
from email_infrastructure.services.domain_edits import DomainEdit, edit_snapshot, stamp, target
from email_infrastructure.services.domains import DomainView, StaleEditError, write_edit
from email_infrastructure.services.jobs import JobView
from email_infrastructure.services.plans import (
    Plan,
    UnsafePlanError,
    normalise_checksum,
    plan,
    store_plan,
    submit_apply,
)
from email_infrastructure.services.queue import TaskQueue
from email_infrastructure.services.workspaces import check_domains_free
from email_infrastructure.storage.api_repositories import read_only


@dataclass(frozen=True)
class Preview:
    """The plan a change would cause, and what it would write to the desired state."""

    edit: DomainEdit
    #: the domain's name, normalised
    name: str
    #: what the change reads of the stored desired state: the confirmation must find the same
    stamp: str
    #: the plan of that domain alone; None when the providers hold nothing of a removed domain
    planned: Plan | None
    #: its JSON (docs/plan-format.md)
    plan: dict[str, Any] | None
    checksum: str
    #: the domain's settings after the change (before it, for a removal)
    spec: dict[str, Any]
    #: its mailbox addresses after the change (a count's generated ones included)
    mailboxes: list[str]
    #: mailbox addresses the change adds and removes
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def deletes(self) -> list[str]:
        """What applying deletes at the providers, as `step: resource`."""
        return [
            f"{s['key']}: {c['resource']}"
            for s in (self.plan or {}).get("steps", [])
            for c in s.get("changes") or []
            if c.get("action") == "delete"
        ]

    @property
    def failed(self) -> list[str]:
        """Steps that could not be planned, as `step: error`: such a change is not confirmed."""
        return [f"{s['key']}: {s['error']}" for s in (self.plan or {}).get("steps", []) if s.get("error")]

    @property
    def unsafe(self) -> list[str]:
        """Why applying would need --force (the dashboard never forces)."""
        return [str(u) for u in (self.plan or {}).get("unsafe") or []]


@dataclass(frozen=True)
class Confirmed:
    """A written change: the domain after it, and the apply job (None when there was nothing to apply)."""

    view: DomainView
    job: JobView | None
    plan_id: str | None


def _addresses(name: str, inventory: Any) -> list[str]:
    found = [d for d in inventory.domains if d.name == name]
    return [p.address(name) for p in personas(inventory.resolve(found[0]))] if found else []


def _settings(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in (*NOT_OPTIONS, "mailbox_count")}


async def preview(app: App, edit: DomainEdit) -> Preview:
    """The plan `edit` would cause, its domain alone; writes nothing (UserError and kin when a rule refuses)."""
    name = target(edit)
    async with app.uow() as uow:
        await read_only(uow.session)
        rows = await uow.desired.load(only=[name])
        # read-only beside it: the domains reporting to it, whose `_report._dmarc` records are in its zone
        # (the apply job plans the whole desired state: without them the checksums would differ)
        rows.domains += await uow.desired.reporters([name])
        snap = from_rows(rows)
        if edit.action == "add" and name not in snap.domains:  # another workspace's is refused unplanned
            await check_domains_free(uow, [name])
    shown = stamp(snap, name)
    before = _addresses(name, snap.inventory()) if name in snap.domains else []
    removed_spec = snap.domains[name].value if name in snap.domains else None
    edit_snapshot(snap, edit)
    inventory = snap.inventory()
    after = _addresses(name, inventory)
    # a removed domain's settings are what they were
    spec = snap.domains[name].value if name in snap.domains else dict(removed_spec or {})
    try:
        planned = await plan(app, inventory=inventory, only=[name], prune=edit.prunes)
    except UserError as exc:
        # a removed domain the providers hold nothing of is in no step: there is nothing to plan
        if edit.action == "remove" and "not in the desired state" in str(exc):
            return Preview(edit, name, shown, None, None, "", _settings(spec), before, removed=before)
        raise
    return Preview(
        edit,
        name,
        shown,
        planned,
        planned.to_json(),
        planned.checksum,
        _settings(spec),
        after if edit.action != "remove" else before,
        added=[a for a in after if a not in before],
        removed=[b for b in before if b not in after],
    )


def _typed(text: str | None) -> str:
    return (text or "").strip().lower().rstrip(".")


async def confirm(
    app: App,
    queue: TaskQueue,
    edit: DomainEdit,
    *,
    stamp: str,
    checksum: str,
    key_name: str,
    source: str,
    confirmed: str | None = None,
) -> Confirmed:
    """Write a previewed change and start applying its plan; StaleEditError (nothing written) when the
    desired state or the plan changed since the preview, UnsafePlanError when it needs --force.

    A removal needs `confirmed`, the domain's name typed again: that consent lets its plan delete every
    record of that zone (what the CLI's `apply --force` allows); it never takes over another owner's domain.
    """
    removal = edit.action == "remove"
    if removal and _typed(confirmed) != target(edit):
        raise UserError(f"type {target(edit)} to confirm its removal")
    again = await preview(app, edit)
    if again.stamp != stamp:
        raise StaleEditError(
            f"the desired state of {again.name} changed since this change was previewed: preview it again"
        )
    if again.checksum != (normalise_checksum(checksum) if checksum else ""):
        raise StaleEditError(
            f"the plan of {again.name} changed since it was shown (the providers changed): preview it again"
        )
    if again.failed:
        raise UserError(
            f"{again.name}: a step of its plan could not be planned ({'; '.join(again.failed)}): nothing written"
        )
    if again.unsafe and not removal:
        raise UnsafePlanError("refusing to apply: " + "; ".join(again.unsafe) + " (the CLI's --force can)")
    view = await write_edit(app, edit, source=source, expected=stamp)
    if again.planned is None:
        return Confirmed(view, None, None)
    # the previewed plan is the one the written state gives: kept limited to its domain, applied so
    stored = await store_plan(
        app, again.planned, key_name=key_name, only=[again.name], prune=edit.prunes, force=removal
    )
    job = await submit_apply(app, queue, stored.id, key_name=key_name)
    return Confirmed(view, job, stored.id)


@dataclass(frozen=True)
class NewDomainForm:
    """What a new domain starts from: the stored defaults, and the DNS providers and servers to choose from."""

    dns_providers: list[str]
    servers: list[str]
    #: the stored defaults (JSON form; unset options absent)
    defaults: dict[str, Any]
    #: how many mailboxes a domain that lists nobody gets
    mailboxes_per_domain: int


async def new_domain_form(app: App) -> NewDomainForm:
    """The stored defaults a new domain is prefilled with (read without loading any domain)."""
    inventory = await stored_inventory(app, only=[])
    if inventory is None:
        return NewDomainForm([], [], {}, 3)
    defaults = inventory.defaults
    return NewDomainForm(
        sorted(inventory.providers.dns),
        [s.name for s in inventory.servers],
        defaults.model_dump(mode="json", exclude_none=True),
        defaults.mailboxes_per_domain,
    )


def parse_personas(text: str) -> list[dict[str, str]]:
    """People given one per line as `First Last` (the CLI's `--mailbox`); a line without both is refused."""
    people = []
    for line in text.splitlines():
        first, _, last = line.strip().partition(" ")
        if not first:
            continue
        if not last.strip():
            raise UserError(f"{line.strip()!r}: give a mailbox as 'First Last', one per line")
        people.append({"first_name": first, "last_name": last.strip()})
    return people


__all__ = ["Confirmed", "NewDomainForm", "Preview", "confirm", "new_domain_form", "parse_personas", "preview"]
