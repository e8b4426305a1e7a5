"""`mail.mailboxes:<d>`: the mailboxes of a domain's personas and its role aliases, once DNS is live.

A mailbox's password is generated at apply, stored in the vault as *pending* before the API call
and *confirmed* after reading the mailbox back (the pending copy is then deleted, so a mailbox has
one stored password): a kill at any point loses no password and a re-run creates no duplicate (the
plan sees the mailbox and only confirms the pending password). Plans never hold a password. With
`prune`, a mailbox we created (its password is in the vault) that the inventory no longer lists
goes; without it, that is a note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.core.events import Topic
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.secret_names import password_key, pending_key
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import Alias, MailBackend, Mailbox, MailboxState
from email_infrastructure.mailcow.naming import Persona, warnings
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import KNOWN_AFTER_APPLY, Outputs, Step, StepChange, StepPlan
from email_infrastructure.reconcile.mail.common import confirm, intend, step_error
from email_infrastructure.reconcile.mail.mailbox_ops import (
    delete_mailbox,
    deletion_safety,
    emit_mailbox,
    mailbox_carried_out,
    mailboxes_scope,
    new_password,
    own_mailboxes,
    settle_mailboxes,
    vault_pair,
)

#: role addresses every mail domain answers (RFC 2142)
ROLE_ALIASES = ("postmaster", "abuse")


def login_disabled_note(address: str, backend: str) -> str:
    """Why a mailbox whose login is disabled on the server stays so."""
    return (
        f"{address}: login is disabled on {backend} (mail is still delivered); kept as set there "
        "(enable the login on the server to send from it again)"
    )


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
        self.scope = mailboxes_scope(backend.name, domain.name)
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
                plan.error = step_error(self.domain.name, exc)
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
                e.id: mailbox_carried_out(e, current, aliases, by_address) for e in await self.ctx.intents(self.scope)
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
            held = set(self.held) | set(await self.ctx.secrets([k for a in extra for k in vault_pair(a)]))
        except EmailInfraError as exc:
            plan.changes, plan.error = [], step_error(self.domain.name, exc)
            return
        ours = {a for a in current if not held.isdisjoint(vault_pair(a))}
        where = f"is on {self.backend.name} but not in the inventory"
        for address in extra:
            if address not in ours:
                plan.notes.append(f"{address} {where} and was not created by us (left alone)")
            elif self.prune:
                plan.changes.append(StepChange("delete", f"mailbox {address}", current[address].to_json(), None))
            else:
                plan.notes.append(f"{address} {where} (left alone; --prune deletes it)")
        problem = deletion_safety(self.domain.name, sum(c.action == "delete" for c in plan.changes), len(ours))
        plan.unsafe += [problem] if problem else []

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Each item on its own: one rejected mailbox fails alone, the others go on."""
        mailboxes = {m.address: m for m in self.wanted_mailboxes()}
        aliases = {a.address: a for a in self.wanted_aliases(list(mailboxes.values()))}
        # the intents an interrupted run left, and the pending passwords of mailboxes that exist
        passwords = [
            c.resource.removeprefix("mailbox ").removesuffix(" password")
            for c in plan.changes
            if c.resource.startswith("mailbox ") and c.resource.endswith(" password")
        ]
        problems = [
            f"{address}: no pending password in the vault"
            for address in await settle_mailboxes(
                self.ctx, self.scope, plan.detail or {}, passwords, self.domain.name, self.backend.name
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
                    await delete_mailbox(self.ctx, self.backend, self.domain.name, subject)
                elif kind == "mailbox":
                    # the state the plan showed (a login disabled on the server stays disabled)
                    state = MailboxState((change.new or {}).get("state", MailboxState.ACTIVE))
                    intent = await intend(self.ctx, self.scope, events.MAILBOX_UPDATED, self._payload(subject))
                    await self.backend.update_mailbox(dataclasses.replace(mailboxes[subject], state=state))
                    await confirm(self.ctx, intent)
                elif kind == "alias":
                    alias = aliases[subject]
                    topic = events.ALIAS_CREATED if change.action == "create" else events.ALIAS_UPDATED
                    payload = events.AliasPayload(
                        domain=self.domain.name, address=subject, goto=alias.goto, backend=self.backend.name
                    )
                    intent = await intend(self.ctx, self.scope, topic, payload)
                    await self.backend.ensure_alias(alias, existing.get(subject))
                    await confirm(self.ctx, intent)
            except EmailInfraError as exc:
                problems.append(step_error(subject, exc))
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
        await emit_mailbox(self.ctx, topic, self.domain.name, address, self.backend.name)

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
