"""A change to one domain of the desired state, as data, and its rules applied to a snapshot in memory.

`services/domains.py` writes an edit (the CLI's and the API's door) and `services/changes.py` plans
one before writing it (the dashboard's preview): both go through `edit_snapshot`, so the rules
(ownership, references, duplicate mailboxes, valid options) are the same whoever asks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from email_infrastructure.core.errors import ConflictError, NotFoundError, UserError
from email_infrastructure.core.events import Topic
from email_infrastructure.core.inventory import DomainSpec, Inventory, MailboxSpec
from email_infrastructure.core.inventory.forwarding import forwarding_problems
from email_infrastructure.core.inventory.schema import DOMAIN_OPTIONS
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.services import events
from email_infrastructure.services.desired import (
    API_OWNER,
    NOT_OPTIONS,
    Owned,
    OwnershipConflictError,
    Snapshot,
    explicit_domain,
    mailbox_specs,
)

#: add a domain, change its options, add or remove mailboxes, remove it
Action = Literal["add", "update", "mailboxes", "remove"]
#: options a domain may be given besides the ones it inherits from `defaults`
EXTRA_OPTIONS = ("purge", "mailbox_count")
#: the most mailboxes one request generates (the inventory's cap on `mailbox_count`)
MAX_GENERATED = 50


@dataclass(frozen=True)
class DomainEdit:
    """One change to one domain: what a face asks for, planned in memory or written."""

    action: Action
    name: str
    #: options overriding the stored defaults (add) or the domain's own (update)
    options: dict[str, Any] = field(default_factory=dict)
    #: personas to add: {first_name, last_name[, local_part]}
    mailboxes: list[dict[str, str]] = field(default_factory=list)
    #: generated mailboxes to add, named by `pattern` (else the domain's `mailbox_pattern`)
    count: int = 0
    pattern: str | None = None
    #: mailboxes to remove, by address or local part
    remove: list[str] = field(default_factory=list)
    #: only the policy of the DMARC settings (the stored defaults' on add, the domain's on update)
    dmarc_policy: str | None = None
    owner: str = API_OWNER
    #: act on another owner's domain (the CLI's --force; the dashboard never sets it)
    force: bool = False

    @property
    def prunes(self) -> bool:
        """True when applying it deletes at the providers what it removes (mailboxes, the domain)."""
        return self.action == "remove" or bool(self.remove)


@dataclass(frozen=True)
class Edited:
    """What `edit_snapshot` did: the domain's name, the event to emit and who it belongs to."""

    name: str
    topic: Topic[events.DesiredDomainPayload]
    #: the owner the event names
    event_owner: str
    #: the domain's owner after the edit (before it, for a removal)
    owner: str


def target(edit: DomainEdit) -> str:
    """The edited domain's name, normalised: invalid is a UserError on add, a NotFoundError otherwise."""
    try:
        return normalise_domain(edit.name)
    except ValueError as exc:
        if edit.action == "add":
            raise UserError(str(exc)) from None
        raise NotFoundError(f"{edit.name!r} is not a domain of the desired state ({exc})") from None


def stamp(snap: Snapshot, name: str) -> str:
    """A checksum of what an edit of `name` reads (providers, servers, settings, that domain): a
    preview shown with one stamp is written only while the stored state still gives it."""
    parts = {
        "providers": sorted((list(k), v.value, v.owner) for k, v in snap.providers.items()),
        "servers": sorted((k, v.value, v.owner) for k, v in snap.servers.items()),
        "settings": sorted((k, v.value, v.owner) for k, v in snap.settings.items()),
        "domain": [snap.domains[name].value, snap.domains[name].owner] if name in snap.domains else None,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def edit_snapshot(snap: Snapshot, edit: DomainEdit) -> Edited:
    """Apply `edit` to `snap` in place (nothing is written); raises with nothing changed when a rule refuses."""
    name = target(edit)
    if edit.action == "add":
        return _add(snap, name, edit)
    existing = snap.domains.get(name)
    if existing is None:
        raise NotFoundError(f"{name} is not a domain of the desired state")
    if existing.owner != edit.owner and not edit.force:
        raise OwnershipConflictError(
            f"{name} is owned by {existing.owner}: change it there", cli_hint="--force changes it here"
        )
    if edit.action == "remove":
        del snap.domains[name]
        return Edited(name, events.DOMAIN_REMOVED, existing.owner, existing.owner)
    if edit.action == "mailboxes":
        # once edited, the list is the truth: a count never brings back mailboxes removed from it
        value = {**existing.value, "mailboxes": _mailboxes(snap.inventory(), name, existing, edit), "mailbox_count": 0}
        snap.domains[name] = Owned(value, existing.owner)
        _check_forwarding(snap, name)
        return Edited(name, events.MAILBOXES_UPDATED, edit.owner, existing.owner)
    inventory = snap.inventory()
    spec = {k: v for k, v in existing.value.items() if k not in NOT_OPTIONS}
    options = _with_policy(dict(edit.options), spec.get("dmarc"), edit.dmarc_policy)
    _known(options)
    value = explicit_domain(inventory, _validated(name, {**spec, **options}, mailbox_specs(existing.value)))
    _check_references(inventory, name, value)
    snap.domains[name] = Owned(value, existing.owner)
    _check_forwarding(snap, name)  # the result must be a valid desired state before anything is written
    return Edited(name, events.DOMAIN_UPDATED, edit.owner, existing.owner)


def _add(snap: Snapshot, name: str, edit: DomainEdit) -> Edited:
    _known(edit.options)
    existing = snap.domains.get(name)
    if existing is not None and not edit.force:
        if existing.owner != edit.owner:
            raise OwnershipConflictError(f"{name} is owned by {existing.owner}", cli_hint="--force takes it over")
        raise ConflictError(f"{name} is a domain of the desired state already", cli_hint="--force replaces it")
    inventory = snap.inventory()
    stored = inventory.defaults.dmarc
    options = _with_policy(dict(edit.options), stored.model_dump(mode="json") if stored else None, edit.dmarc_policy)
    value = explicit_domain(inventory, _validated(name, options, edit.mailboxes))
    _check_references(inventory, name, value)
    if edit.count:
        value["mailboxes"] = _generated(inventory, name, value, edit.count, edit.pattern)
    snap.domains[name] = Owned(value, edit.owner)
    _check_forwarding(snap, name)
    topic = events.DOMAIN_UPDATED if existing else events.DOMAIN_CREATED
    return Edited(name, topic, edit.owner, edit.owner)


def _known(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(DOMAIN_OPTIONS) - set(EXTRA_OPTIONS))
    if unknown:
        raise UserError(f"unknown domain options: {', '.join(unknown)} (known: {', '.join(DOMAIN_OPTIONS)})")


def _with_policy(options: dict[str, Any], dmarc: dict[str, Any] | None, policy: str | None) -> dict[str, Any]:
    """`options` with the DMARC policy changed and every other DMARC setting kept."""
    given = options.get("dmarc")
    if policy is None or (given is not None and not isinstance(given, dict)):
        return options  # no policy to set, or a `dmarc` that is no mapping: validation says what is wrong
    return {**options, "dmarc": {**(given or dmarc or {}), "policy": policy}}


def _validated(name: str, options: dict[str, Any], mailboxes: list[dict[str, str]]) -> DomainSpec:
    try:
        return DomainSpec.model_validate({"name": name, **options, "mailboxes": mailboxes})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UserError(f"{name}: {where}: {err['msg']}") from None


def _check_references(inventory: Inventory, name: str, spec: dict[str, Any]) -> None:
    dns = spec.get("dns_provider")
    if dns and dns not in inventory.providers.dns:
        known = ", ".join(sorted(inventory.providers.dns)) or "none"
        raise UserError(f"{name}: DNS provider {dns!r} is not in the desired state (known: {known})")
    server = spec.get("server")
    if server and inventory.server(server) is None:
        known = ", ".join(s.name for s in inventory.servers) or "none"
        raise UserError(f"{name}: server {server!r} is not in the desired state (known: {known})")
    if not dns:
        raise UserError(f"{name}: no DNS provider: give one, or set defaults.dns_provider through an inventory")
    for use in spec.get("sequencers") or []:
        used = use if isinstance(use, str) else use.get("name")
        if used not in inventory.providers.sequencers:
            known = ", ".join(sorted(inventory.providers.sequencers)) or "none"
            raise UserError(f"{name}: sequencer {used!r} is not in the desired state (known: {known})")
    registrar = spec.get("registrar")
    if registrar and registrar not in inventory.providers.registrars:
        known = ", ".join(sorted(inventory.providers.registrars)) or "none"
        raise UserError(f"{name}: registrar {registrar!r} is not in the desired state (known: {known})")


def _check_forwarding(snap: Snapshot, name: str) -> None:
    """The edited state is valid, and the domain's forwards clash with none of its mailboxes (listed or
    generated), forward to nothing of their own domain that receives nothing, and make no loop."""
    inventory = snap.inventory()
    resolved = inventory.resolve(next(d for d in inventory.domains if d.name == name))
    problems = forwarding_problems(resolved, [p.local_part for p in personas(resolved)])
    if problems:
        raise UserError("; ".join(f"{name}: forwarding.{'.'.join(path)}: {message}" for path, message in problems))


def _mailboxes(inventory: Inventory, name: str, existing: Owned, edit: DomainEdit) -> dict[str, list[str]]:
    """The domain's listed mailboxes after the edit. A domain that lists nobody has generated ones (a
    count): they are listed first, so that adding a person keeps them instead of replacing them."""
    resolved = inventory.resolve(next(d for d in inventory.domains if d.name == name))
    mailboxes = {p.local_part: [p.first_name, p.last_name] for p in personas(resolved)}
    for address in edit.remove:
        if mailboxes.pop(address.split("@", 1)[0].strip().lower(), None) is None:
            raise UserError(f"{name} has no mailbox {address!r}")
    for raw in edit.mailboxes:
        try:
            persona = MailboxSpec.model_validate(raw)
        except ValidationError as exc:
            raise UserError(f"{name}: mailbox: {exc.errors()[0]['msg']}") from None
        local = persona.address_local_part
        if local in mailboxes:
            raise UserError(f"{local}@{name} exists already")
        mailboxes[local] = [persona.first_name, persona.last_name]
    if edit.count:
        mailboxes = _generated(inventory, name, {**existing.value, "mailboxes": mailboxes}, edit.count, edit.pattern)
    return mailboxes


def _generated(
    inventory: Inventory, name: str, value: dict[str, Any], count: int, pattern: str | None
) -> dict[str, Any]:
    """The domain's listed mailboxes and `count` more from the built-in persona list, named by `pattern`
    (the domain's `mailbox_pattern` by default): the names a `mailbox_count` would give, skipping taken ones."""
    listed: dict[str, Any] = dict(value.get("mailboxes", {}))
    if not 1 <= count <= MAX_GENERATED or len(listed) + count > MAX_GENERATED:
        raise UserError(f"{name}: a domain has at most {MAX_GENERATED} mailboxes ({len(listed)} listed, {count} asked)")
    options = {k: v for k, v in value.items() if k not in (*NOT_OPTIONS, "mailbox_count")}
    if pattern:
        options["mailbox_pattern"] = pattern
    spec = _validated(name, {**options, "mailbox_count": min(MAX_GENERATED, count + len(listed))}, [])
    for extra in range(len(listed) + 1):  # each taken name costs one more candidate
        spec = spec.model_copy(update={"mailbox_count": count + extra})
        fresh = [p for p in personas(inventory.resolve(spec)) if p.local_part not in listed]
        if len(fresh) >= count:
            return {**listed, **{p.local_part: [p.first_name, p.last_name] for p in fresh[:count]}}
    raise UserError(f"{name}: not enough distinct names for {count} more mailboxes")  # pragma: no cover


__all__ = ["Action", "DomainEdit", "Edited", "edit_snapshot", "stamp", "target"]
