"""Removing a mail domain we created that no domain wants any more, in reverse order:

    mail.mailboxes:<d>  →  mail.domain:<d>  →  dkim.key:<d> (Mailcow keeps a deleted domain's key)

Only with `prune`; without it the domain step alone notes what `--prune` would remove. Each step
plans through `RemovalStep.plan`: the error it inherited (a backend that cannot be built), then what
the server has now (`read`), and a server that cannot be read is an error with `--prune` and a note
without; only then does the kind say what it would remove (`plan_removal`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import DkimKey, MailBackend, Mailbox, MailDomain
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Outputs, Step, StepChange, StepPlan
from email_infrastructure.reconcile.mail.common import (
    NoBackend,
    confirm,
    dkim_scope,
    intend,
    intent_made,
    intent_scope,
    settle_intents,
    step_error,
)
from email_infrastructure.reconcile.mail.mailbox_ops import (
    delete_mailbox,
    deletion_safety,
    emit_mailbox,
    mailbox_carried_out,
    mailboxes_scope,
    own_mailboxes,
    settle_mailboxes,
)

#: what a removal step reads from the server before it plans
Current = TypeVar("Current")


class RemovalStep(Step, Generic[Current]):
    """One of the steps removing a mail domain we created that no domain wants any more."""

    component = "mail"

    def __init__(
        self, ctx: ReconcileContext, domain: str, backend: MailBackend, *, prune: bool, key: str, error: str = ""
    ) -> None:
        self.ctx, self.domain, self.backend, self.prune, self.error = ctx, domain, backend, prune, error
        self.key = key

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """The inherited error or an unreadable server first (`_problem`), then the kind's removal."""
        plan = self.new_plan()
        if self.error:
            return self._problem(plan, self.error)
        try:
            current = await self.read()
        except EmailInfraError as exc:
            return self._problem(plan, str(exc))
        await self.plan_removal(plan, current)
        return plan

    @abstractmethod
    async def read(self) -> Current:
        """What the server has now of this kind (raise EmailInfraError when it cannot tell)."""

    @abstractmethod
    async def plan_removal(self, plan: StepPlan, current: Current) -> None:
        """Add to `plan` what removing `current` takes (changes, notes, the intents to settle)."""

    def _problem(self, plan: StepPlan, message: str) -> StepPlan:
        """With --prune a step that cannot read is an error; without it a note (nothing would be done)."""
        if self.prune:
            plan.error = message if self.domain in message else f"{self.domain}: {message}"
        else:
            plan.notes.append(f"{self.domain}: a mail domain we created, not read ({message})")
        return plan


class MailboxesRemovalStep(RemovalStep[list[Mailbox]]):
    """`mail.mailboxes:<d>` of a removed domain: every mailbox goes (delete/domain refuses otherwise)."""

    async def read(self) -> list[Mailbox]:
        """The mailboxes the server lists for the domain (maybe other domains' too)."""
        return await self.backend.mailboxes(self.domain)

    async def plan_removal(self, plan: StepPlan, current: list[Mailbox]) -> None:
        """Every mailbox of the domain, as deletions under the safety rule."""
        own, foreign = own_mailboxes(self.domain, self.backend.name, current)
        plan.notes += [foreign] if foreign else []
        mailboxes = [own[a] for a in sorted(own)]
        for mailbox in mailboxes:
            plan.changes.append(StepChange("delete", f"mailbox {mailbox.address}", mailbox.to_json(), None))
        problem = deletion_safety(self.domain, len(mailboxes), len(mailboxes))
        plan.unsafe += [problem] if problem else []
        by_address = {m.address: m for m in mailboxes}
        plan.detail = {e.id: mailbox_carried_out(e, by_address, {}, {}) for e in await self.ctx.intents(self._scope())}
        plan.housekeeping = bool(plan.detail)

    def _scope(self) -> str:
        return mailboxes_scope(self.backend.name, self.domain)

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Each mailbox on its own; the domain step waits for all of them."""
        if plan.detail:
            await settle_mailboxes(self.ctx, self._scope(), plan.detail, [], self.domain, self.backend.name)
        problems: list[str] = []
        for change in plan.changes:
            address = change.resource.removeprefix("mailbox ")
            try:
                await delete_mailbox(self.ctx, self.backend, self.domain, address)
            except EmailInfraError as exc:
                problems.append(step_error(address, exc))
                await emit_mailbox(self.ctx, events.MAILBOX_FAILED, self.domain, address, self.backend.name)
        if problems:
            raise ProviderError(
                f"{self.domain}: {len(problems)} of {len(plan.changes)} mailbox deletions failed: "
                + "; ".join(problems),
                provider=self.backend.name,
            )
        return {}


class MailDomainRemovalStep(RemovalStep[MailDomain | None]):
    """`mail.domain:<d>` of a removed domain: delete/domain once its mailboxes are gone."""

    async def read(self) -> MailDomain | None:
        """The domain, or None when the server no longer has it."""
        return await self.backend.read_domain(self.domain)

    #: another workspace runs this domain now (on this server): it is left alone, --prune or not
    held_elsewhere = False

    async def plan_removal(self, plan: StepPlan, current: MailDomain | None) -> None:
        """The domain as a deletion (with --prune) or a note; an interrupted run's intents to settle."""
        if self.held_elsewhere:
            if current is not None:
                plan.notes.append(
                    f"mail domain {self.domain} at {self.backend.name} was created by us and is another "
                    "workspace's now (left alone, also with --prune)"
                )
            return
        if not self.prune:
            if current is not None:
                plan.notes.append(
                    f"mail domain {self.domain} at {self.backend.name} was created by us and is no longer in the "
                    "desired state (left alone; --prune removes it, its mailboxes and its DKIM key)"
                )
            return
        if current is not None:
            resource = f"mail domain {self.domain} at {self.backend.name}"
            plan.changes.append(StepChange("delete", resource, current.to_json(), None))
        plan.detail = {
            e.id: intent_made(e, current is not None, deleted=events.DOMAIN_DELETED)
            for e in await self.ctx.intents(self._scope())
        }
        plan.housekeeping = bool(plan.detail)

    def _scope(self) -> str:
        return intent_scope("mail.domain", self.backend.name, self.domain)

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Write the event as an intent, delete, read back, confirm the event."""
        if plan.detail:
            await settle_intents(self.ctx, self._scope(), plan.detail)
        if not plan.changes:
            return {}
        payload = events.MailDomainPayload(domain=self.domain, backend=self.backend.name)
        intent = await intend(self.ctx, self._scope(), events.DOMAIN_DELETED, payload)
        await self.backend.remove_domain(self.domain)
        await confirm(self.ctx, intent)
        return {}


@dataclass(frozen=True)
class _DkimRemoval:
    """What the DKIM removal's apply needs: the key on the server, an interrupted run's intents."""

    key: DkimKey | None
    settle: dict[str, bool]


class MailDkimRemovalStep(RemovalStep[DkimKey | None]):
    """`dkim.key:<d>` of a removed domain: Mailcow keeps a deleted domain's key, so it goes last; then
    the domain is no longer ours."""

    component = "dkim"

    async def read(self) -> DkimKey | None:
        """The key the server keeps for the domain, if any."""
        return await self.backend.read_dkim(self.domain)

    async def plan_removal(self, plan: StepPlan, current: DkimKey | None) -> None:
        """The key as a deletion; with --prune the ownership is released even when nothing is left."""
        if current is not None:
            resource = f"dkim key {current.selector} of {self.domain} at {self.backend.name}"
            old = {"selector": current.selector, "bits": current.bits}
            plan.changes.append(StepChange("delete", resource, old, None))
        settle = {
            e.id: intent_made(e, current is not None, deleted=events.DKIM_DELETED)
            for e in await self.ctx.intents(dkim_scope(self.backend.name, self.domain))
        }
        plan.detail = _DkimRemoval(current, settle)
        # nothing left on the server (removed by hand?): apply still forgets that the domain was ours
        plan.housekeeping = True

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Write the event as an intent, delete and read back the key, then release the domain and
        confirm the event in one transaction."""
        detail: _DkimRemoval = plan.detail
        scope = dkim_scope(self.backend.name, self.domain)
        if detail.settle:
            await settle_intents(self.ctx, scope, detail.settle)
        intent = None
        if detail.key is not None:
            payload = events.MailDkimPayload(
                domain=self.domain, selector=detail.key.selector, bits=detail.key.bits, backend=self.backend.name
            )
            intent = await intend(self.ctx, scope, events.DKIM_DELETED, payload)
            await self.backend.remove_dkim(self.domain)
        async with self.ctx.uow() as uow:
            await uow.mail_ownership.release(self.backend.name, self.domain)
            if intent is not None:
                await uow.confirm([intent])
            await uow.commit()
        return {}


def removal_steps(
    ctx: ReconcileContext,
    domain: str,
    backend: MailBackend | None,
    error: str,
    *,
    prune: bool,
    suffix: str = "",
    held_elsewhere: bool = False,
) -> list[Step]:
    """Mailboxes → domain → DKIM key of a mail domain we created that is no longer desired; without
    `prune` only the domain step, which notes it. `suffix` (`@<backend>`) keeps these keys apart from
    the steps of the same domain desired elsewhere. A domain `held_elsewhere` (another workspace
    created it again, or desires it now) is never removed: the domain step only says so."""
    stand_in: MailBackend = backend if backend is not None else NoBackend()
    domain_step = MailDomainRemovalStep(
        ctx, domain, stand_in, prune=prune and not held_elsewhere, key=f"mail.domain:{domain}{suffix}", error=error
    )
    domain_step.held_elsewhere = held_elsewhere
    if not prune or held_elsewhere:
        return [domain_step]
    boxes = MailboxesRemovalStep(
        ctx, domain, stand_in, prune=prune, key=f"mail.mailboxes:{domain}{suffix}", error=error
    )
    dkim = MailDkimRemovalStep(ctx, domain, stand_in, prune=prune, key=f"dkim.key:{domain}{suffix}")
    domain_step.error = ""  # reported once, by the first step; the others are then not planned
    domain_step.depends_on = (boxes.key,)
    dkim.depends_on = (domain_step.key,)
    return [boxes, domain_step, dkim]
