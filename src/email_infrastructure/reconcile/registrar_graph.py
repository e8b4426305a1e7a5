"""Where the registrar steps enter a domain's graph (build.py): the lookups made before planning, and the
dependencies that make a domain still to be bought wait for its purchase."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.dns.providers import DnsProvider
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Step
from email_infrastructure.reconcile.purchases import PurchaseRun
from email_infrastructure.reconcile.registrar_steps import DomainFacts, RegistrarDomainStep, RegistrarNameserversStep
from email_infrastructure.registrars.provider import Registrar
from email_infrastructure.registrars.registry import build_registrar


async def registrar_facts(
    inventory: Inventory,
    domains: Sequence[Any],
    given: Mapping[str, Registrar] | None,
    built: dict[str, Registrar],
) -> dict[str, DomainFacts]:
    """Each domain with a `registrar`: its registrar (built once) and whether the account holds it."""
    errors: dict[str, str] = {}
    for domain in domains:
        name = domain.registrar
        if name is None or name in built or name in errors:
            continue
        if given is not None and name in given:
            built[name] = given[name]
        elif (spec := inventory.providers.registrars.get(name)) is None:
            errors[name] = f"no registrar named {name!r}"
        else:
            try:
                built[name] = build_registrar(name, spec)
            except EmailInfraError as exc:
                errors[name] = f"registrar {name}: {exc}"
    facts = {
        d.name: DomainFacts(d, built.get(d.registrar), error=errors.get(d.registrar, ""))
        for d in domains
        if d.registrar is not None
    }

    async def look(name: str, registrar: Registrar) -> None:
        mine = [f for f in facts.values() if f.domain.registrar == name and not f.error]
        try:
            held = await registrar.holdings([f.domain.name for f in mine])
        except EmailInfraError as exc:
            for one in mine:
                one.error = f"{one.domain.name}: could not look it up at registrar {name}: {exc}"
            return
        for one in mine:
            one.found = held.get(one.domain.name)

    # one listing per registrar account, the accounts side by side
    await asyncio.gather(*(look(name, registrar) for name, registrar in built.items()))
    return facts


def registrar_steps(
    ctx: ReconcileContext, facts: DomainFacts | None, run: PurchaseRun, own: list[Step], dns: DnsProvider[Any]
) -> list[Step]:
    """A domain's steps, with its registrar steps first: while it is still to be bought (or we could not
    tell), every other step of it waits for the purchase."""
    if facts is None:
        return own
    first = RegistrarDomainStep(ctx, facts, run)
    if facts.pending_purchase or facts.error:
        for step in own:
            step.depends_on = (*step.depends_on, first.key)
    zone_step = next(s.key for s in own if s.key.startswith("dns.zone:"))
    return [first, *own, RegistrarNameserversStep(ctx, facts, dns, zone_step)]
