"""The aliases of `mail.mailboxes:<d>`: role addresses, a local DMARC address, and the domain's
forwarding (forwarded local parts and the catch-all `@domain`).

An alias we create carries the backend's mark (Mailcow: its private comment); only a marked alias
that nothing asks for any more is deleted, and only with `prune` (else a note). The role addresses
are never deleted: dropping a forward of `abuse@` sends it back to the first mailbox. Each change
is one event, written as an intent before the call and confirmed after the read-back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.inventory.forwarding import ROLE_LOCAL_PARTS, forwards
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import Alias, MailBackend, Mailbox, goto_set
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import StepChange, StepPlan
from email_infrastructure.reconcile.mail.common import confirm, intend


def wanted_aliases(domain: ResolvedDomain, mailboxes: Sequence[Mailbox]) -> list[Alias]:
    """postmaster@, abuse@ and a local DMARC report address to the first mailbox (when there is
    one), then the forwards and the catch-all; a forward of the same address wins."""
    out: dict[str, Alias] = {}
    own = {m.address for m in mailboxes}
    if mailboxes:
        addresses = [f"{role}@{domain.name}" for role in ROLE_LOCAL_PARTS]
        for uri in domain.dmarc.rua:
            address = uri.removeprefix("mailto:").lower()
            if address.endswith(f"@{domain.name}") and address not in addresses:
                addresses.append(address)
        out = {a: Alias(a, mailboxes[0].address) for a in addresses if a not in own}
    for forward in forwards(domain):
        if forward.address not in own:  # a clash is the plan's error, never an alias over a mailbox
            out[forward.address] = Alias(forward.address, ",".join(forward.goto))
    return list(out.values())


def is_role(address: str, domain: str) -> bool:
    """True for the role addresses every mail domain keeps."""
    return address in {f"{role}@{domain}" for role in ROLE_LOCAL_PARTS}


def plan_aliases(
    plan: StepPlan, domain: str, backend: str, wanted: Sequence[Alias], current: Mapping[str, Alias], prune: bool
) -> None:
    """Creates and updates for `wanted`; the marked aliases nothing asks for: deletions with `prune`, else notes."""
    for alias in wanted:
        have = current.get(alias.address)
        resource = f"alias {alias.address}"
        if have is None:
            plan.changes.append(StepChange("create", resource, None, alias.to_json()))
        elif not have.same(alias):
            plan.changes.append(StepChange("update", resource, have.to_json(), alias.to_json()))
    asked = {a.address for a in wanted}
    for address, have in sorted(current.items()):
        if address in asked or not have.managed or is_role(address, domain) or not _of(address, domain):
            continue  # made by hand, a role address, or another domain's: never deleted
        if prune:
            plan.changes.append(StepChange("delete", f"alias {address}", have.to_json(), None))
        else:
            plan.notes.append(
                f"alias {address} is on {backend} but no longer declared (left alone; --prune deletes it)"
            )


def _of(address: str, domain: str) -> bool:
    return address == f"@{domain}" or address.endswith(f"@{domain}")


def alias_carried_out(event: Event, aliases: Mapping[str, Alias]) -> bool | None:
    """Whether an alias intent's change shows on the server now (None: not an alias intent)."""
    address = str(event.payload.get("address", ""))
    if event.topic == events.ALIAS_DELETED.name:
        return address not in aliases
    if event.topic in (events.ALIAS_CREATED.name, events.ALIAS_UPDATED.name):
        goto = goto_set(str(event.payload.get("goto", "")))
        return address in aliases and goto_set(aliases[address].goto) == goto
    return None


async def apply_alias(
    ctx: ReconcileContext,
    backend: MailBackend,
    scope: str,
    change: StepChange,
    wanted: Mapping[str, Alias],
    existing: Mapping[str, Alias],
) -> None:
    """One alias change: its intent, the call and its read-back, the intent confirmed."""
    address = change.resource.removeprefix("alias ")
    domain = address.split("@", 1)[1]
    if change.action == "delete":
        have = existing.get(address)
        if have is None:
            return  # gone since the plan: nothing to do, nothing to log
        payload = events.AliasPayload(domain=domain, address=address, goto=have.goto, backend=backend.name)
        intent = await intend(ctx, scope, events.ALIAS_DELETED, payload)
        await backend.remove_alias(have)
    else:
        alias = wanted[address]
        topic = events.ALIAS_CREATED if change.action == "create" else events.ALIAS_UPDATED
        payload = events.AliasPayload(domain=domain, address=address, goto=alias.goto, backend=backend.name)
        intent = await intend(ctx, scope, topic, payload)
        await backend.ensure_alias(alias, existing.get(address))
    await confirm(ctx, intent)
