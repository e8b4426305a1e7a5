"""`dkim.key:<d>` of a domain on a mail backend: the server's key, not one we generate.

The step keeps the key `dkim.key:<d>` of the local DKIM step it replaces, so the DNS step publishes
the server's key unchanged. Its public key is known after apply when the server has none yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.mailcow import events
from email_infrastructure.mailcow.backend import MailBackend
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import KNOWN_AFTER_APPLY, Outputs, Step, StepChange, StepPlan
from email_infrastructure.reconcile.mail.common import (
    KEY_BITS,
    dkim_scope,
    intend,
    intent_made,
    settle_intents,
    step_error,
)


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
                plan.error = step_error(self.domain.name, exc)
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
                e.id: intent_made(
                    e,
                    key is not None,
                    deleted=events.DKIM_DELETED,
                    matches=key is not None
                    and (key.selector, key.bits) == (e.payload.get("selector"), e.payload.get("bits")),
                )
                for e in await self.ctx.intents(self.scope)
            }
            plan.housekeeping = bool(plan.detail)
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Keep the key add/domain generated, or create/replace it; read back; confirm its event
        (written by the domain step before add/domain, else here before the call)."""
        settle: Mapping[str, bool] = plan.detail or {}
        if settle:
            await settle_intents(self.ctx, self.scope, settle)
        if not plan.changes:
            return dict(plan.outputs)
        async with self.ctx.uow() as uow:
            intents = [e for e in await uow.intents.pending(self.scope) if e.id not in settle]
        if not intents:
            payload = events.MailDkimPayload(
                domain=self.domain.name, selector=self.domain.dkim_selector, bits=KEY_BITS, backend=self.backend.name
            )
            intents = [await intend(self.ctx, self.scope, events.DKIM_CREATED, payload)]
        key = await self.backend.ensure_dkim(self.domain.name, self.domain.dkim_selector, KEY_BITS)
        async with self.ctx.uow() as uow:
            await uow.confirm(intents[:1])  # the key read back is the one the intent describes
            await uow.intents.remove(e.id for e in intents[1:])
            await uow.commit()
        return {"selector": key.selector, "public_key": key.public_key}
