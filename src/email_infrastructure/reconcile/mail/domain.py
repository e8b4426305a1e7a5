"""`mail.domain:<d>`: the mail domain on its server, with its mailbox cap and quotas.

A create claims the domain (mail ownership) and writes its event as an intent before the API call,
and the DKIM step's intent too: `add/domain` also makes the domain's DKIM key. On a server this
apply creates, the step waits (bounded) until the Mailcow that cloud-init installs answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import MailBackend, MailDomain
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Outputs, Step, StepChange, StepPlan
from email_infrastructure.reconcile.mail.common import (
    KEY_BITS,
    confirm,
    dkim_scope,
    intent_made,
    intent_scope,
    settle_intents,
    step_error,
)


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
            plan.error = step_error(self.domain.name, exc)
            return plan
        if current is None:
            plan.changes.append(StepChange("create", resource, None, self.wanted.to_json()))
        elif current != self.wanted:
            plan.changes.append(StepChange("update", resource, current.to_json(), self.wanted.to_json()))
        # an interrupted run's intents: made if the domain is there (and, for an update, as wanted)
        # (a removal's, when the domain was wanted again: made if the domain is gone)
        plan.detail = {
            e.id: intent_made(
                e,
                current is not None,
                deleted=events.DOMAIN_DELETED,
                matches=e.topic == events.DOMAIN_CREATED.name or current == self.wanted,
            )
            for e in await self.ctx.intents(self.scope)
        }
        plan.housekeeping = bool(plan.detail)
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Create (claiming ownership and writing the events first, so that an interrupted run still
        knows) or update, read back, confirm the event."""
        if plan.detail:
            await settle_intents(self.ctx, self.scope, plan.detail)
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
        await confirm(self.ctx, intent)
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
