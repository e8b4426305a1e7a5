"""Mail steps: the mail domain, the server's DKIM key, then mailboxes and aliases once DNS is there.

    mail.domain:<d>  →  dkim.key:<d> (the server's key)  →  dns.zone:<d>  →  mail.mailboxes:<d>

The DKIM step keeps the key `dkim.key:<d>` of the local DKIM step it replaces, so the DNS step
publishes the server's key unchanged. A mailbox's password is generated at apply, stored in the
vault as *pending* before the API call and *confirmed* after reading the mailbox back (the pending
copy is then deleted, so a mailbox has one stored password): a kill at any point loses no password
and a re-run creates no duplicate (the plan sees the mailbox and only confirms the pending password).
Plans never hold a password.

Every change is logged exactly once, as a VPS server's creation is: its event is written as an
*intent* (`event_intents`, one scope per step and domain) in the transaction before the API call
and confirmed into the audit log after the read-back. A run killed in between leaves the intent;
the next plan compares it with what the server shows now, and its apply confirms it (the change
was made) or drops it (the change is planned again, with a new intent). `add/domain` also makes
the domain's DKIM key, so the domain step writes the DKIM step's intent too.

With `prune`, what the desired state no longer has goes: a mailbox we created (its password is in
the vault) that the inventory no longer lists, and a mail domain we created (mail ownership) that
no domain wants any more, in reverse order:

    mail.mailboxes:<d>  →  mail.domain:<d>  →  dkim.key:<d> (Mailcow keeps a deleted domain's key)

Without `prune` these are plan notes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.core.events import Event, P, Topic
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.secret_names import password_key, pending_key
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import Alias, DkimKey, MailBackend, Mailbox, MailboxState, MailDomain
from email_infrastructure.mailcow.naming import Persona, personas, warnings
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import KNOWN_AFTER_APPLY, Outputs, Step, StepChange, StepPlan

KEY_BITS = 2048
#: Mailcow's Default domain template allows 10 mailboxes; we never ask for fewer
MIN_MAILBOX_CAP = 10
PASSWORD_LENGTH = 24
_ALPHABET = string.ascii_letters + string.digits + "-_.!@#%+="
#: role addresses every mail domain answers (RFC 2142)
ROLE_ALIASES = ("postmaster", "abuse")
#: deleting more than this share of at least SAFETY_MIN_MAILBOXES managed mailboxes needs --force
SAFETY_MIN_MAILBOXES = 10
SAFETY_MAX_SHARE = 0.3


def new_password() -> str:
    """A strong random password (24 characters, about 140 bits)."""
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value):
            return value


def _failed(step: str, exc: EmailInfraError) -> str:
    return str(exc) if step in str(exc) else f"{step}: {exc}"


def mailbox_safety(domain: str, deletes: int, managed: int) -> str | None:
    """Why deleting `deletes` of a domain's `managed` mailboxes needs --force (DNS's rule), or None."""
    if managed < SAFETY_MIN_MAILBOXES or deletes / managed <= SAFETY_MAX_SHARE:
        return None
    return (
        f"{domain}: would delete {deletes} of {managed} managed mailboxes "
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


def login_disabled_note(address: str, backend: str) -> str:
    """Why a mailbox whose login is disabled on the server stays so."""
    return (
        f"{address}: login is disabled on {backend} (mail is still delivered); kept as set there "
        "(enable the login on the server to send from it again)"
    )


def intent_scope(kind: str, backend: str, domain: str) -> str:
    """Where a mail step keeps the intents of its changes: `<kind>:<backend>:<domain>`."""
    return f"{kind}:{backend}:{domain}"


async def _emit_mailbox(
    ctx: ReconcileContext, topic: Topic[events.MailboxPayload], domain: str, address: str, backend: str
) -> None:
    async with ctx.uow() as uow:
        uow.emit(topic, events.MailboxPayload(domain=domain, address=address, backend=backend), "mail")
        await uow.commit()


async def _intend(ctx: ReconcileContext, scope: str, topic: Topic[P], payload: P) -> Event:
    """Write the event of a change before making it (committed at once)."""
    async with ctx.uow() as uow:
        intent: Event = uow.intend(scope, topic, payload, source="mail")
        await uow.commit()
    return intent


async def _confirm(ctx: ReconcileContext, intent: Event) -> None:
    """The change is made and read back: its intent goes into the audit log."""
    async with ctx.uow() as uow:
        await uow.confirm([intent])
        await uow.commit()


async def _settle(ctx: ReconcileContext, scope: str, settle: Mapping[str, bool]) -> None:
    """An interrupted run's intents: into the audit log if the change was made, else dropped."""
    async with ctx.uow() as uow:
        pending = [e for e in await uow.intents.pending(scope) if e.id in settle]
        await uow.confirm([e for e in pending if settle[e.id]])
        await uow.intents.remove(e.id for e in pending if not settle[e.id])
        await uow.commit()


async def _delete_mailbox(ctx: ReconcileContext, backend: MailBackend, domain: str, address: str) -> None:
    """Intent, delete and read back, then forget its passwords as the intent is confirmed (a kill
    between: the next plan no longer sees the mailbox, confirms the intent and forgets them)."""
    payload = events.MailboxPayload(domain=domain, address=address, backend=backend.name)
    intent = await _intend(ctx, intent_scope("mail.mailboxes", backend.name, domain), events.MAILBOX_DELETED, payload)
    await backend.remove_mailbox(address)
    async with ctx.uow() as uow:
        await uow.secrets().delete(*password_key(address))
        await uow.secrets().delete(*pending_key(address))
        await uow.confirm([intent])
        await uow.commit()


def _mailbox_carried_out(
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


async def _settle_mailboxes(
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


class MailDomainStep(Step):
    """`mail.domain:<d>`: the domain with its mailbox cap and quotas; outputs `domain`."""

    component = "mail"

    def __init__(
        self,
        ctx: ReconcileContext,
        domain: ResolvedDomain,
        backend: MailBackend,
        wanted: MailDomain,
        error: str = "",
        *,
        server_step: str | None = None,
        ready_timeout: float = 1800.0,
    ) -> None:
        self.ctx, self.domain, self.backend, self.wanted, self.error = ctx, domain, backend, wanted, error
        self.key = f"mail.domain:{domain.name}"
        self.scope = intent_scope("mail.domain", backend.name, domain.name)
        #: the step creating the server this domain lives on (its Mailcow answers once installed)
        self.server_step, self.ready_timeout = server_step, ready_timeout
        self.depends_on = (server_step,) if server_step else ()

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Read the domain; create or update it (a server still to be created has nothing yet)."""
        plan = self.new_plan()
        plan.outputs = {"domain": self.domain.name}
        if self.error:
            plan.error = self.error
            return plan
        resource = f"mail domain {self.domain.name} at {self.backend.name}"
        if self.server_step and upstream[self.server_step].outputs.get("pending"):
            plan.outputs["pending"] = True
            plan.changes.append(StepChange("create", resource, None, self.wanted.to_json()))
            return plan
        try:
            current = await self.backend.read_domain(self.domain.name)
        except EmailInfraError as exc:
            plan.error = _failed(self.domain.name, exc)
            return plan
        if current is None:
            plan.changes.append(StepChange("create", resource, None, self.wanted.to_json()))
        elif current != self.wanted:
            plan.changes.append(StepChange("update", resource, current.to_json(), self.wanted.to_json()))
        # an interrupted run's intents: made if the domain is there (and, for an update, as wanted)
        plan.detail = {
            e.id: current is not None and (e.topic == events.DOMAIN_CREATED.name or current == self.wanted)
            for e in await self.ctx.intents(self.scope)
        }
        plan.housekeeping = bool(plan.detail)
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Create (claiming ownership and writing the events first, so that an interrupted run still
        knows) or update, read back, confirm the event."""
        if plan.detail:
            await _settle(self.ctx, self.scope, plan.detail)
        if not plan.changes:
            return dict(plan.outputs)
        exists = plan.changes[0].action == "update"
        owner = self.backend.name, self.domain.name
        if plan.outputs.get("pending"):
            await self._wait_ready()
        name, backend = self.domain.name, self.backend.name
        payload = events.MailDomainPayload(domain=name, backend=backend)
        written: list[str] = []
        async with self.ctx.uow() as uow:
            if exists:
                intent = uow.intend(self.scope, events.DOMAIN_UPDATED, payload, source="mail")
            else:
                await uow.mail_ownership.claim(*owner)
                intent = uow.intend(self.scope, events.DOMAIN_CREATED, payload, source="mail")
                # add/domain makes the domain's DKIM key: its event is the DKIM step's to confirm
                selector = self.domain.dkim_selector
                key = events.MailDkimPayload(domain=name, selector=selector, bits=KEY_BITS, backend=backend)
                written.append(uow.intend(dkim_scope(backend, name), events.DKIM_CREATED, key, source="mail").id)
            await uow.commit()
        try:
            await self.backend.ensure_domain(
                self.wanted, selector=self.domain.dkim_selector, bits=KEY_BITS, exists=exists
            )
        except EmailInfraError:
            if not exists and await self._absent():
                async with self.ctx.uow() as uow:  # not created: never claim a domain someone else may make
                    await uow.mail_ownership.release(*owner)
                    await uow.intents.remove([intent.id, *written])
                    await uow.commit()
            raise
        await _confirm(self.ctx, intent)
        return dict(plan.outputs)

    async def _wait_ready(self, interval: float = 15.0) -> None:
        """A server created by this apply: wait until its Mailcow (installing from cloud-init) answers."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.ready_timeout
        while True:
            try:
                await self.backend.read_domain(self.domain.name)
                return
            except EmailInfraError as exc:
                if loop.time() + interval > end:
                    raise EmailInfraError(
                        f"{self.domain.name}: the new server's Mailcow did not answer within "
                        f"{self.ready_timeout:g} s (cloud-init may still be installing it; the next apply "
                        f"goes on): {exc}"
                    ) from None
            await asyncio.sleep(interval)

    async def _absent(self) -> bool:
        """True only when the server answers that the domain is not there."""
        try:
            return await self.backend.read_domain(self.domain.name) is None
        except EmailInfraError:
            return False


class MailDkimStep(Step):
    """`dkim.key:<d>` for a domain on a mail backend: the server's key; outputs `selector`, `public_key`."""

    component = "dkim"

    def __init__(self, ctx: ReconcileContext, domain: ResolvedDomain, backend: MailBackend) -> None:
        self.ctx, self.domain, self.backend = ctx, domain, backend
        self.key = f"dkim.key:{domain.name}"
        self.scope = dkim_scope(backend.name, domain.name)
        self.depends_on = (f"mail.domain:{domain.name}",)

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Known when the server holds a key of this selector and size (even one a deleted domain left)."""
        plan = self.new_plan()
        selector = self.domain.dkim_selector
        plan.outputs = {"selector": selector, "public_key": KNOWN_AFTER_APPLY}
        resource = f"dkim key {selector} of {self.domain.name} at {self.backend.name}"
        key = None
        if not upstream[f"mail.domain:{self.domain.name}"].outputs.get("pending"):
            try:
                key = await self.backend.read_dkim(self.domain.name)
            except EmailInfraError as exc:
                plan.error = _failed(self.domain.name, exc)
                return plan
        if key is None:
            plan.changes.append(StepChange("create", resource, None, {"bits": KEY_BITS}))
        elif (key.selector, key.bits) != (selector, KEY_BITS):
            old = {"selector": key.selector, "bits": key.bits}
            plan.changes.append(StepChange("update", resource, old, {"selector": selector, "bits": KEY_BITS}))
        else:
            plan.outputs["public_key"] = key.public_key
        if not upstream[f"mail.domain:{self.domain.name}"].outputs.get("pending"):
            # an interrupted run's intents (this step's, or the domain step's add/domain): made if
            # the server now holds the key they describe
            plan.detail = {
                e.id: key is not None and (key.selector, key.bits) == (e.payload.get("selector"), e.payload.get("bits"))
                for e in await self.ctx.intents(self.scope)
            }
            plan.housekeeping = bool(plan.detail)
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Keep the key add/domain generated, or create/replace it; read back; confirm its event
        (written by the domain step before add/domain, else here before the call)."""
        settle: Mapping[str, bool] = plan.detail or {}
        if settle:
            await _settle(self.ctx, self.scope, settle)
        if not plan.changes:
            return dict(plan.outputs)
        async with self.ctx.uow() as uow:
            intents = [e for e in await uow.intents.pending(self.scope) if e.id not in settle]
        if not intents:
            payload = events.MailDkimPayload(
                domain=self.domain.name, selector=self.domain.dkim_selector, bits=KEY_BITS, backend=self.backend.name
            )
            intents = [await _intend(self.ctx, self.scope, events.DKIM_CREATED, payload)]
        key = await self.backend.ensure_dkim(self.domain.name, self.domain.dkim_selector, KEY_BITS)
        async with self.ctx.uow() as uow:
            await uow.confirm(intents[:1])  # the key read back is the one the intent describes
            await uow.intents.remove(e.id for e in intents[1:])
            await uow.commit()
        return {"selector": key.selector, "public_key": key.public_key}


class MailboxesStep(Step):
    """`mail.mailboxes:<d>`: mailboxes (password in the vault only) and the role aliases, once DNS is live."""

    component = "mail"

    def __init__(
        self,
        ctx: ReconcileContext,
        domain: ResolvedDomain,
        backend: MailBackend,
        people: list[Persona],
        quota_mib: int,
        vault: Mapping[tuple[str, str], str],
        prune: bool = False,
    ) -> None:
        self.ctx, self.domain, self.backend, self.people = ctx, domain, backend, people
        self.quota_mib, self.prune = quota_mib, prune
        #: which passwords the vault holds (confirmed or pending), read at build time
        self.held = set(vault)
        self.key = f"mail.mailboxes:{domain.name}"
        self.scope = intent_scope("mail.mailboxes", backend.name, domain.name)
        self.depends_on = (f"dns.zone:{domain.name}", f"mail.domain:{domain.name}")

    def wanted_mailboxes(self) -> list[Mailbox]:
        """The mailboxes the inventory asks for."""
        return [
            Mailbox(p.address(self.domain.name), p.display_name, self.quota_mib, self.domain.daily_send_limit)
            for p in self.people
        ]

    def wanted_aliases(self, mailboxes: list[Mailbox]) -> list[Alias]:
        """postmaster@, abuse@ and a local DMARC report address, to the first mailbox."""
        if not mailboxes:
            return []
        goto, own = mailboxes[0].address, {m.address for m in mailboxes}
        addresses = [f"{role}@{self.domain.name}" for role in ROLE_ALIASES]
        for uri in self.domain.dmarc.rua:
            address = uri.removeprefix("mailto:").lower()
            if address.endswith(f"@{self.domain.name}") and address not in addresses:
                addresses.append(address)
        return [Alias(a, goto) for a in addresses if a not in own]

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Read mailboxes and aliases; what to create, update, or confirm in the vault."""
        plan = self.new_plan()
        people = self.wanted_mailboxes()
        plan.notes += warnings(self.domain, self.people)
        current: dict[str, Mailbox] = {}
        aliases: dict[str, Alias] = {}
        if not upstream[f"mail.domain:{self.domain.name}"].outputs.get("pending"):
            try:
                listed = await self.backend.mailboxes(self.domain.name)
                aliases = {a.address: a for a in await self.backend.aliases(self.domain.name)}
            except EmailInfraError as exc:
                plan.error = _failed(self.domain.name, exc)
                return plan
            current, foreign = own_mailboxes(self.domain.name, self.backend.name, listed)
            plan.notes += [foreign] if foreign else []
        people = [self._as_kept(wanted, current.get(wanted.address), plan) for wanted in people]
        for wanted in people:
            have = current.get(wanted.address)
            resource = f"mailbox {wanted.address}"
            if have is None:
                plan.changes.append(
                    StepChange("create", resource, None, {**wanted.to_json(), "password": KNOWN_AFTER_APPLY})
                )
            elif have != wanted:
                plan.changes.append(StepChange("update", resource, have.to_json(), wanted.to_json()))
            if have is not None and password_key(wanted.address) not in self.held:
                if pending_key(wanted.address) in self.held:
                    # created by a run that stopped before the read-back: its password is the pending one
                    plan.changes.append(StepChange("update", f"{resource} password", None, {"vault": "confirm"}))
                else:
                    plan.notes.append(f"{wanted.address} exists but its password is not in the vault (not exported)")
        for alias in self.wanted_aliases(people):
            have_alias = aliases.get(alias.address)
            resource = f"alias {alias.address}"
            if have_alias is None:
                plan.changes.append(StepChange("create", resource, None, alias.to_json()))
            elif (have_alias.goto, have_alias.active) != (alias.goto, alias.active):
                plan.changes.append(StepChange("update", resource, have_alias.to_json(), alias.to_json()))
        await self._plan_removals(plan, current, {m.address for m in people})
        if not upstream[f"mail.domain:{self.domain.name}"].outputs.get("pending"):
            by_address = {m.address: m for m in people}
            plan.detail = {
                e.id: _mailbox_carried_out(e, current, aliases, by_address) for e in await self.ctx.intents(self.scope)
            }
            plan.housekeeping = bool(plan.detail)
        return plan

    def _as_kept(self, wanted: Mailbox, have: Mailbox | None, plan: StepPlan) -> Mailbox:
        """The mailbox as wanted, its login left disabled where the server has it so (an operator's
        choice the inventory cannot express: mail still arrives); an inactive one is turned back on."""
        if have is None or have.state is not MailboxState.LOGIN_DISABLED:
            return wanted
        plan.notes.append(login_disabled_note(wanted.address, self.backend.name))
        return dataclasses.replace(wanted, state=MailboxState.LOGIN_DISABLED)

    async def _plan_removals(self, plan: StepPlan, current: Mapping[str, Mailbox], wanted: set[str]) -> None:
        """Mailboxes the inventory no longer lists: ours (password in the vault) go with --prune."""
        extra = sorted(set(current) - wanted)
        try:
            held = set(self.held) | set(await self.ctx.secrets([k for a in extra for k in _vault_pair(a)]))
        except EmailInfraError as exc:
            plan.changes, plan.error = [], _failed(self.domain.name, exc)
            return
        ours = {a for a in current if not held.isdisjoint(_vault_pair(a))}
        where = f"is on {self.backend.name} but not in the inventory"
        for address in extra:
            if address not in ours:
                plan.notes.append(f"{address} {where} and was not created by us (left alone)")
            elif self.prune:
                plan.changes.append(StepChange("delete", f"mailbox {address}", current[address].to_json(), None))
            else:
                plan.notes.append(f"{address} {where} (left alone; --prune deletes it)")
        problem = mailbox_safety(self.domain.name, sum(c.action == "delete" for c in plan.changes), len(ours))
        plan.unsafe += [problem] if problem else []

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Each item on its own: one rejected mailbox fails alone, the others go on."""
        mailboxes = {m.address: m for m in self.wanted_mailboxes()}
        aliases = {a.address: a for a in self.wanted_aliases(list(mailboxes.values()))}
        # the intents an interrupted run left, and the pending passwords of mailboxes that exist
        confirm = [
            c.resource.removeprefix("mailbox ").removesuffix(" password")
            for c in plan.changes
            if c.resource.startswith("mailbox ") and c.resource.endswith(" password")
        ]
        problems = [
            f"{address}: no pending password in the vault"
            for address in await _settle_mailboxes(
                self.ctx, self.scope, plan.detail or {}, confirm, self.domain.name, self.backend.name
            )
        ]
        existing = {a.address: a for a in await self.backend.aliases(self.domain.name)} if aliases else {}
        for change in plan.changes:
            kind, _, subject = change.resource.partition(" ")
            try:
                if kind == "mailbox" and subject.endswith(" password"):
                    continue  # confirmed above
                elif kind == "mailbox" and change.action == "create":
                    await self._create(mailboxes[subject])
                elif kind == "mailbox" and change.action == "delete":
                    await _delete_mailbox(self.ctx, self.backend, self.domain.name, subject)
                elif kind == "mailbox":
                    # the state the plan showed (a login disabled on the server stays disabled)
                    state = MailboxState((change.new or {}).get("state", MailboxState.ACTIVE))
                    intent = await _intend(self.ctx, self.scope, events.MAILBOX_UPDATED, self._payload(subject))
                    await self.backend.update_mailbox(dataclasses.replace(mailboxes[subject], state=state))
                    await _confirm(self.ctx, intent)
                elif kind == "alias":
                    alias = aliases[subject]
                    topic = events.ALIAS_CREATED if change.action == "create" else events.ALIAS_UPDATED
                    payload = events.AliasPayload(
                        domain=self.domain.name, address=subject, goto=alias.goto, backend=self.backend.name
                    )
                    intent = await _intend(self.ctx, self.scope, topic, payload)
                    await self.backend.ensure_alias(alias, existing.get(subject))
                    await _confirm(self.ctx, intent)
            except EmailInfraError as exc:
                problems.append(_failed(subject, exc))
                if kind == "mailbox":
                    await self._emit(events.MAILBOX_FAILED, subject.removesuffix(" password"))
        if problems:
            raise ProviderError(
                f"{self.domain.name}: {len(problems)} of {max(len(plan.changes), len(problems))} mail changes failed: "
                + "; ".join(problems),
                provider=self.backend.name,
            )
        return {"mailboxes": sorted(mailboxes)}

    async def _emit(self, topic: Topic[events.MailboxPayload], address: str) -> None:
        await _emit_mailbox(self.ctx, topic, self.domain.name, address, self.backend.name)

    def _payload(self, address: str) -> events.MailboxPayload:
        return events.MailboxPayload(domain=self.domain.name, address=address, backend=self.backend.name)

    async def _create(self, wanted: Mailbox) -> None:
        """Pending password and the event's intent first (committed), then the API call, then the
        password confirmed (its pending copy deleted) with the event, in one transaction."""
        async with self.ctx.uow() as uow:
            password = await uow.secrets().get(*pending_key(wanted.address))
            if password is None:
                password = new_password()
                await uow.secrets().put(*pending_key(wanted.address), password)
            intent = uow.intend(self.scope, events.MAILBOX_CREATED, self._payload(wanted.address), source="mail")
            await uow.commit()
        await self.backend.create_mailbox(wanted, password)
        async with self.ctx.uow() as uow:
            await uow.secrets().put(*password_key(wanted.address), password)
            await uow.secrets().delete(*pending_key(wanted.address))
            await uow.confirm([intent])
            await uow.commit()


def dkim_scope(backend: str, domain: str) -> str:
    """Where the intents of a domain's DKIM key are kept (the domain step writes one too)."""
    return intent_scope("dkim.key", backend, domain)


def _vault_pair(address: str) -> tuple[tuple[str, str], tuple[str, str]]:
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


def mail_steps(
    ctx: ReconcileContext,
    domain: ResolvedDomain,
    backend: MailBackend | None,
    vault: Mapping[tuple[str, str], str],
    error: str = "",
    *,
    prune: bool = False,
    server_step: str | None = None,
) -> tuple[MailDomainStep, Step, MailboxesStep]:
    """The three steps of a domain on a mail backend (a backend that cannot be built fails them)."""
    people = personas(domain)
    stand_in: MailBackend = backend if backend is not None else _NoBackend()
    quota = stand_in.mailbox_quota_mib
    cap = max(MIN_MAILBOX_CAP, len(people))
    wanted = MailDomain(domain.name, cap, quota, quota * cap)
    mine = {k: v for k, v in vault.items() if k[0] == f"domain:{domain.name}"}
    return (
        MailDomainStep(
            ctx, domain, stand_in, wanted, f"{domain.name}: {error}" if error else "", server_step=server_step
        ),
        MailDkimStep(ctx, domain, stand_in),
        MailboxesStep(ctx, domain, stand_in, people, quota, mine, prune),
    )


class _Removal(Step):
    """One of the steps removing a mail domain we created that no domain wants any more."""

    component = "mail"

    def __init__(
        self, ctx: ReconcileContext, domain: str, backend: MailBackend, *, prune: bool, key: str, error: str = ""
    ) -> None:
        self.ctx, self.domain, self.backend, self.prune, self.error = ctx, domain, backend, prune, error
        self.key = key

    def _problem(self, plan: StepPlan, message: str) -> StepPlan:
        """With --prune a step that cannot read is an error; without it a note (nothing would be done)."""
        if self.prune:
            plan.error = message if self.domain in message else f"{self.domain}: {message}"
        else:
            plan.notes.append(f"{self.domain}: a mail domain we created, not read ({message})")
        return plan


class MailboxesRemovalStep(_Removal):
    """`mail.mailboxes:<d>` of a removed domain: every mailbox goes (delete/domain refuses otherwise)."""

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Every mailbox of the domain, as deletions under the safety rule."""
        plan = self.new_plan()
        try:
            if self.error:
                return self._problem(plan, self.error)
            listed = await self.backend.mailboxes(self.domain)
        except EmailInfraError as exc:
            return self._problem(plan, str(exc))
        own, foreign = own_mailboxes(self.domain, self.backend.name, listed)
        plan.notes += [foreign] if foreign else []
        current = [own[a] for a in sorted(own)]
        for mailbox in current:
            plan.changes.append(StepChange("delete", f"mailbox {mailbox.address}", mailbox.to_json(), None))
        problem = mailbox_safety(self.domain, len(current), len(current))
        plan.unsafe += [problem] if problem else []
        by_address = {m.address: m for m in current}
        plan.detail = {e.id: _mailbox_carried_out(e, by_address, {}, {}) for e in await self.ctx.intents(self._scope())}
        plan.housekeeping = bool(plan.detail)
        return plan

    def _scope(self) -> str:
        return intent_scope("mail.mailboxes", self.backend.name, self.domain)

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Each mailbox on its own; the domain step waits for all of them."""
        if plan.detail:
            await _settle_mailboxes(self.ctx, self._scope(), plan.detail, [], self.domain, self.backend.name)
        problems: list[str] = []
        for change in plan.changes:
            address = change.resource.removeprefix("mailbox ")
            try:
                await _delete_mailbox(self.ctx, self.backend, self.domain, address)
            except EmailInfraError as exc:
                problems.append(_failed(address, exc))
                await _emit_mailbox(self.ctx, events.MAILBOX_FAILED, self.domain, address, self.backend.name)
        if problems:
            raise ProviderError(
                f"{self.domain}: {len(problems)} of {len(plan.changes)} mailbox deletions failed: "
                + "; ".join(problems),
                provider=self.backend.name,
            )
        return {}


class MailDomainRemovalStep(_Removal):
    """`mail.domain:<d>` of a removed domain: delete/domain once its mailboxes are gone."""

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """The domain as a deletion (with --prune) or a note."""
        plan = self.new_plan()
        try:
            if self.error:
                return self._problem(plan, self.error)
            current = await self.backend.read_domain(self.domain)
        except EmailInfraError as exc:
            return self._problem(plan, str(exc))
        if current is None:
            return plan
        if self.prune:
            resource = f"mail domain {self.domain} at {self.backend.name}"
            plan.changes.append(StepChange("delete", resource, current.to_json(), None))
        else:
            plan.notes.append(
                f"mail domain {self.domain} at {self.backend.name} was created by us and is no longer in the desired "
                "state (left alone; --prune removes it, its mailboxes and its DKIM key)"
            )
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Delete, read back, log."""
        await self.backend.remove_domain(self.domain)
        async with self.ctx.uow() as uow:
            uow.emit(
                events.DOMAIN_DELETED, events.MailDomainPayload(domain=self.domain, backend=self.backend.name), "mail"
            )
            await uow.commit()
        return {}


class MailDkimRemovalStep(_Removal):
    """`dkim.key:<d>` of a removed domain: Mailcow keeps a deleted domain's key, so it goes last; then
    the domain is no longer ours."""

    component = "dkim"

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """The key as a deletion; with --prune the ownership is released even when nothing is left."""
        plan = self.new_plan()
        try:
            key = await self.backend.read_dkim(self.domain)
        except EmailInfraError as exc:
            return self._problem(plan, str(exc))
        if key is not None:
            resource = f"dkim key {key.selector} of {self.domain} at {self.backend.name}"
            plan.changes.append(StepChange("delete", resource, {"selector": key.selector, "bits": key.bits}, None))
        plan.detail = key
        # nothing left on the server (removed by hand?): apply still forgets that the domain was ours
        plan.housekeeping = True
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Delete and read back the key, then release the domain with the event."""
        key: DkimKey | None = plan.detail
        if key is not None:
            await self.backend.remove_dkim(self.domain)
        async with self.ctx.uow() as uow:
            await uow.mail_ownership.release(self.backend.name, self.domain)
            if key is not None:
                payload = events.MailDkimPayload(
                    domain=self.domain, selector=key.selector, bits=key.bits, backend=self.backend.name
                )
                uow.emit(events.DKIM_DELETED, payload, "mail")
            await uow.commit()
        return {}


def removal_steps(
    ctx: ReconcileContext, domain: str, backend: MailBackend | None, error: str, *, prune: bool, suffix: str = ""
) -> list[Step]:
    """Mailboxes → domain → DKIM key of a mail domain we created that is no longer desired; without
    `prune` only the domain step, which notes it. `suffix` (`@<backend>`) keeps these keys apart from
    the steps of the same domain desired elsewhere."""
    stand_in: MailBackend = backend if backend is not None else _NoBackend()
    domain_step = MailDomainRemovalStep(
        ctx, domain, stand_in, prune=prune, key=f"mail.domain:{domain}{suffix}", error=error
    )
    if not prune:
        return [domain_step]
    boxes = MailboxesRemovalStep(
        ctx, domain, stand_in, prune=prune, key=f"mail.mailboxes:{domain}{suffix}", error=error
    )
    dkim = MailDkimRemovalStep(ctx, domain, stand_in, prune=prune, key=f"dkim.key:{domain}{suffix}")
    domain_step.error = ""  # reported once, by the first step; the others are then not planned
    domain_step.depends_on = (boxes.key,)
    dkim.depends_on = (domain_step.key,)
    return [boxes, domain_step, dkim]


class _NoBackend:
    """Stands in for a mail backend that could not be built; the domain step carries the error."""

    name = "missing"
    mailbox_quota_mib = 0

    def __getattr__(self, attr: str) -> Any:
        raise ProviderError("no mail backend", provider=self.name)
