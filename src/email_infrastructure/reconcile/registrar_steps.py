"""Registrar steps, first in a domain's graph: `registrar.domain:<d>` (is it ours? else quote and, with
`--buy` under the caps, buy it) and `registrar.nameservers:<d>` (delegate it to its DNS provider's
nameservers once its zone exists, and read the delegation back).

A purchase is logged exactly once and never ordered twice: its `registrar.domain.registered` event
is written as an intent (with the price) before the order; an answer that is lost is followed by a
lookup, never a second order; a run killed in between leaves the intent, and the next plan finds the
domain in the account and confirms it. While a domain is still to be bought, every other step of it
waits (build.py makes them depend on the purchase): nothing is written for a domain we do not own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, ProviderError, UserError, VerificationError
from email_infrastructure.core.events import Event, P, Topic
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.dns.providers import DnsProvider
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Outputs, Step, StepChange, StepPlan
from email_infrastructure.reconcile.purchases import DOMAIN_KIND, PurchaseRun
from email_infrastructure.registrars import events
from email_infrastructure.registrars.provider import (
    AccountDomain,
    Purchase,
    PurchaseUnknownError,
    Registrar,
    clean_ns,
)

SOURCE = "registrars"


@dataclass
class DomainFacts:
    """What the build found about a domain at its registrar before planning (shared by both steps)."""

    domain: ResolvedDomain
    registrar: Registrar | None
    error: str = ""
    found: AccountDomain | None = None

    @property
    def pending_purchase(self) -> bool:
        """True when the domain is to be bought and is not ours yet (or we could not tell)."""
        return self.domain.registration is not None and self.found is None


async def _intend(ctx: ReconcileContext, scope: str, topic: Topic[P], payload: P) -> Event:
    async with ctx.uow() as uow:
        intent: Event = uow.intend(scope, topic, payload, source=SOURCE)
        await uow.commit()
    return intent


async def _settle(ctx: ReconcileContext, scope: str, made: Mapping[str, bool]) -> None:
    """An interrupted run's intents: into the audit log where the change was made, else dropped."""
    async with ctx.uow() as uow:
        pending = [e for e in await uow.intents.pending(scope) if e.id in made]
        await uow.confirm([e for e in pending if made[e.id]])
        await uow.intents.remove(e.id for e in pending if not made[e.id])
        await uow.commit()


def _outputs(found: AccountDomain) -> Outputs:
    return {"registered": True, "expires": found.expires.isoformat() if found.expires else None}


class RegistrarDomainStep(Step):
    """`registrar.domain:<d>`: in our account → nothing; else availability and price, bought with --buy."""

    component = "registrars"

    def __init__(self, ctx: ReconcileContext, facts: DomainFacts, run: PurchaseRun) -> None:
        self.ctx, self.facts, self.run = ctx, facts, run
        name = facts.domain.name
        self.key = f"{DOMAIN_KIND}:{name}"
        self.scope = f"{DOMAIN_KIND}:{facts.domain.registrar}:{name}"

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Ours already, or what buying it costs (premium and taken names are errors: never bought)."""
        plan = self.new_plan()
        facts, d, registrar = self.facts, self.facts.domain, self.facts.registrar
        if facts.error or registrar is None:
            plan.error = facts.error or f"{d.name}: no registrar {d.registrar!r}"
            return plan
        settle = {e.id: facts.found is not None for e in await self.ctx.intents(self.scope)}
        plan.detail, plan.housekeeping = settle, bool(settle)
        if facts.found is not None:
            plan.outputs = _outputs(facts.found)
            return plan
        wanted = d.registration
        if wanted is None:
            plan.error = (
                f"{d.name} is not in the account at registrar {d.registrar} ({registrar.type}): declare "
                "`register:` to buy it there, or name the registrar account that holds it"
            )
            return plan
        quote = (await registrar.quote([d.name], wanted.years))[d.name]
        price = f"{quote.price} {quote.currency}" if quote.price is not None else "no price"
        if not quote.available:
            plan.error = f"{d.name} is not available at {d.registrar} (registered by someone else)"
        elif quote.premium:
            plan.error = (
                f"{d.name} is a premium name at {d.registrar} ({price}): never bought automatically; buy it in "
                "the registrar's web UI if you want it, then apply again"
            )
        elif quote.price is None:
            plan.error = f"{d.name}: {d.registrar} gave no price ({quote.note or 'unknown TLD'})"
        if plan.error:
            return plan
        plan.notes += [quote.note] if quote.note else []
        if wanted.auto_renew and not registrar.sets_auto_renew:
            plan.notes.append(
                f"{registrar.type} has no API to switch auto-renew: turn it on in its web UI after buying"
            )
        new = {
            "registrar": d.registrar,
            "price": str(quote.price),
            "currency": quote.currency,
            "years": quote.years,
            "auto_renew": wanted.auto_renew,
            "privacy": wanted.privacy,
            "max_price": None if wanted.max_price is None else str(wanted.max_price),
        }
        plan.changes.append(StepChange("create", f"domain {d.name} at {d.registrar} ({price})", None, new))
        plan.outputs = {"registered": False, "price": str(quote.price)}
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Settle an earlier run's intent; buy only when the run's verdict allows the whole set."""
        registrar, name = self.facts.registrar, self.facts.domain.name
        assert registrar is not None
        if plan.detail:
            await _settle(self.ctx, self.scope, plan.detail)
        if not plan.changes:
            return dict(plan.outputs)
        if not self.run.allowed:
            raise UserError(f"{name}: not bought: {self.run.reason}")
        found = await registrar.find(name)
        if found is not None:  # bought since the plan (another run logged it)
            return _outputs(found)
        new = plan.changes[0].new
        wanted = self.facts.domain.registration
        assert wanted is not None
        price, years = Decimal(new["price"]), int(new["years"])
        payload = events.DomainRegisteredPayload(
            domain=name,
            registrar=str(new["registrar"]),
            price=str(price),
            currency=str(new["currency"]),
            years=years,
            order_id=None,
        )
        intent = await _intend(self.ctx, self.scope, events.DOMAIN_REGISTERED, payload)
        order = Purchase(name, years, wanted.auto_renew, wanted.privacy, price, reference=intent.id)
        try:
            done = await registrar.register(order)
        except PurchaseUnknownError as exc:
            made = None
            with contextlib.suppress(EmailInfraError):
                made = await registrar.find(name)
            if made is None:
                # the intent stays: the next plan looks again and settles it (never a second order now)
                raise ProviderError(f"{exc}; {name} is not in the account yet", provider=registrar.type) from None
            async with self.ctx.uow() as uow:
                await uow.confirm([intent])
                await uow.commit()
            return _outputs(made)
        except EmailInfraError:
            await _settle(self.ctx, self.scope, {intent.id: False})
            raise
        after = await registrar.find(name)
        if after is None:
            raise VerificationError(
                f"{registrar.type} took the order for {name} (order {done.order_id}) but the account does not list "
                "it yet; the next plan looks again",
                provider=registrar.type,
            )
        async with self.ctx.uow() as uow:
            await uow.intents.remove([intent.id])
            final = events.DomainRegisteredPayload(**{**payload, "price": str(done.charged), "order_id": done.order_id})
            uow.emit(events.DOMAIN_REGISTERED, final, source=SOURCE)
            await uow.commit()
        outputs = _outputs(after)
        outputs["notes"] = list(done.notes)
        return outputs


class RegistrarNameserversStep(Step):
    """`registrar.nameservers:<d>`: the delegation = the DNS provider's nameservers, set and read back."""

    component = "registrars"

    def __init__(self, ctx: ReconcileContext, facts: DomainFacts, dns: DnsProvider[Any], zone_step: str) -> None:
        self.ctx, self.facts, self.dns = ctx, facts, dns
        name = facts.domain.name
        self.key = f"registrar.nameservers:{name}"
        self.scope = f"registrar.nameservers:{facts.domain.registrar}:{name}"
        self.depends_on = (f"{DOMAIN_KIND}:{name}", zone_step)

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Compare what the registrar delegates to with what the DNS provider serves."""
        plan = self.new_plan()
        registrar, name = self.facts.registrar, self.facts.domain.name
        assert registrar is not None  # else the domain step's error stops this one from planning
        wanted = clean_ns(await self.dns.nameservers(name))
        if not wanted:
            plan.notes.append(f"{name}: DNS provider {self.dns.name} names no nameservers; delegation left alone")
            return plan
        bought = upstream[f"{DOMAIN_KIND}:{name}"].outputs.get("registered", False)
        current = clean_ns(await registrar.nameservers(name)) if bought else []
        settle = {
            e.id: current == clean_ns(e.payload.get("nameservers", [])) for e in await self.ctx.intents(self.scope)
        }
        plan.detail, plan.housekeeping = settle, bool(settle)
        if current != wanted:
            plan.changes.append(
                StepChange("update", f"nameservers of {name} at {self.facts.domain.registrar}", current or None, wanted)
            )
        plan.outputs = {"nameservers": wanted}
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Set, read back (VerificationError when it did not hold), log once."""
        registrar, name = self.facts.registrar, self.facts.domain.name
        assert registrar is not None
        if plan.detail:
            await _settle(self.ctx, self.scope, plan.detail)
        if not plan.changes:
            return dict(plan.outputs)
        wanted = clean_ns(plan.changes[0].new)
        previous = clean_ns(await registrar.nameservers(name))
        payload = events.NameserversPayload(
            domain=name, registrar=str(self.facts.domain.registrar), nameservers=wanted, previous=previous
        )
        intent = await _intend(self.ctx, self.scope, events.NAMESERVERS_UPDATED, payload)
        await registrar.set_nameservers(name, wanted)
        read = clean_ns(await registrar.nameservers(name))
        if read != wanted:
            raise VerificationError(
                f"{registrar.type} acknowledged the nameservers of {name} but reads back {', '.join(read) or 'none'}",
                provider=registrar.type,
            )
        async with self.ctx.uow() as uow:
            await uow.confirm([intent])
            await uow.commit()
        return {"nameservers": wanted}
