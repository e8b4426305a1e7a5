"""What creating and removing mailboxes share: which listed mailboxes are the domain's, the deletion
threshold, the passwords in the vault (a mailbox is ours when one of its two vault entries is
there), the deletion of one mailbox and the settling of the mailboxes step's intents.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence

from email_infrastructure.core.events import Event, Topic
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.secret_names import password_key, pending_key
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import Alias, MailBackend, Mailbox
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.mail.common import intend, intent_scope

PASSWORD_LENGTH = 24
_ALPHABET = string.ascii_letters + string.digits + "-_.!@#%+="
#: deleting more than this share of at least SAFETY_MIN_MAILBOXES managed mailboxes needs --force
SAFETY_MIN_MAILBOXES = 10
SAFETY_MAX_SHARE = 0.3


def new_password() -> str:
    """A strong random password (24 characters, about 140 bits)."""
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value):
            return value


def deletion_safety(domain: str, deletes: int, managed: int, what: str = "managed mailboxes") -> str | None:
    """Why deleting `deletes` of a domain's `managed` things needs --force (DNS's rule), or None."""
    if managed < SAFETY_MIN_MAILBOXES or deletes / managed <= SAFETY_MAX_SHARE:
        return None
    return (
        f"{domain}: would delete {deletes} of {managed} {what} "
        f"(more than {SAFETY_MAX_SHARE:.0%}); re-run with --force if that is intended"
    )


#: foreign mailboxes named in a plan note (the count says how many there are)
FOREIGN_SHOWN = 3


def own_mailboxes(domain: str, backend: str, listed: Sequence[Mailbox]) -> tuple[dict[str, Mailbox], str | None]:
    """The listed mailboxes that belong to `domain`, and a note about any others.

    A server that ignores the domain filter of `get/mailbox/all/<domain>` lists every domain's
    mailboxes: they are never the domain's to update or delete.
    """
    own = {m.address: m for m in listed if m.domain.lower() == domain.lower()}
    foreign = sorted(m.address for m in listed if m.address not in own)
    if not foreign:
        return own, None
    shown = ", ".join(foreign[:FOREIGN_SHOWN]) + (", …" if len(foreign) > FOREIGN_SHOWN else "")
    note = (
        f"{domain}: {backend} listed {len(foreign)} mailbox(es) of other domains for this domain ({shown}); "
        "ignored, never deleted (the server does not seem to filter mailboxes by domain)"
    )
    return own, note


async def emit_mailbox(
    ctx: ReconcileContext, topic: Topic[events.MailboxPayload], domain: str, address: str, backend: str
) -> None:
    """Log an event about one mailbox at once (a failure: there is no change to intend)."""
    async with ctx.uow() as uow:
        uow.emit(topic, events.MailboxPayload(domain=domain, address=address, backend=backend), "mail")
        await uow.commit()


async def delete_mailbox(ctx: ReconcileContext, backend: MailBackend, domain: str, address: str) -> None:
    """Intent, delete and read back, then forget its passwords as the intent is confirmed (a kill
    between: the next plan no longer sees the mailbox, confirms the intent and forgets them)."""
    payload = events.MailboxPayload(domain=domain, address=address, backend=backend.name)
    intent = await intend(ctx, mailboxes_scope(backend.name, domain), events.MAILBOX_DELETED, payload)
    await backend.remove_mailbox(address)
    async with ctx.uow() as uow:
        await uow.secrets().delete(*password_key(address))
        await uow.secrets().delete(*pending_key(address))
        await uow.confirm([intent])
        await uow.commit()


def mailbox_carried_out(
    event: Event, current: Mapping[str, Mailbox], aliases: Mapping[str, Alias], wanted: Mapping[str, Mailbox]
) -> bool:
    """Whether what the server shows now is the change an intent of the mailboxes step describes."""
    address = str(event.payload.get("address", ""))
    if event.topic == events.MAILBOX_CREATED.name:
        return address in current
    if event.topic == events.MAILBOX_UPDATED.name:
        return address in current and current[address] == wanted.get(address)
    if event.topic == events.MAILBOX_DELETED.name:
        return address not in current
    if event.topic in (events.ALIAS_CREATED.name, events.ALIAS_UPDATED.name):
        return address in aliases and aliases[address].goto == event.payload.get("goto")
    return False


async def settle_mailboxes(
    ctx: ReconcileContext, scope: str, settle: Mapping[str, bool], confirm: list[str], domain: str, backend: str
) -> list[str]:
    """In one transaction: an interrupted run's intents settled, the pending passwords of mailboxes
    that exist confirmed (the pending copy deleted), the passwords of mailboxes found deleted
    forgotten. A pending password without an intent (left by an earlier release) is adopted with
    its event. Returns the addresses whose pending password is missing."""
    missing: list[str] = []
    async with ctx.uow() as uow:
        pending = [e for e in await uow.intents.pending(scope) if e.id in settle]
        done = [e for e in pending if settle[e.id]]
        await uow.confirm(done)
        await uow.intents.remove(e.id for e in pending if not settle[e.id])
        for event in done:
            if event.topic == events.MAILBOX_DELETED.name:
                address = str(event.payload["address"])
                await uow.secrets().delete(*password_key(address))
                await uow.secrets().delete(*pending_key(address))
        logged = {str(e.payload.get("address")) for e in done if e.topic == events.MAILBOX_CREATED.name}
        store = uow.secrets()
        for address in confirm:
            password = await store.get(*pending_key(address))
            if password is None:
                missing.append(address)
                continue
            await store.put(*password_key(address), password)
            await store.delete(*pending_key(address))
            if address not in logged:
                payload = events.MailboxPayload(domain=domain, address=address, backend=backend)
                uow.emit(events.MAILBOX_CREATED, payload, "mail")
        await uow.commit()
    return missing


def mailboxes_scope(backend: str, domain: str) -> str:
    """Where the intents of a domain's mailboxes and aliases are kept (its removal uses the same)."""
    return intent_scope("mail.mailboxes", backend, domain)


def vault_pair(address: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Both vault entries of a mailbox: either one means we created it."""
    return password_key(address), pending_key(address)


def vault_keys(domains: list[ResolvedDomain]) -> list[tuple[str, str]]:
    """The vault entries the mailbox plans of `domains` look at (confirmed and pending passwords)."""
    out = []
    for domain in domains:
        for person in personas(domain):
            address = person.address(domain.name)
            out += [password_key(address), pending_key(address)]
    return out
