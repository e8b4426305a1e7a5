"""The sequencer steps of a desired state: one per (domain, sequencer) pair, plus the pairs only stored.

A pair the desired state no longer has (the domain is gone, or no longer uses that sequencer) but
where we stored accounts gets a step too: it removes the accounts we created (with `prune`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.inventory import Inventory, ProviderSpec, ResolvedDomain
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Step
from email_infrastructure.reconcile.sequencer_step import Listing, SequencerAccountsStep
from email_infrastructure.sequencers.provider import SequencerProvider
from email_infrastructure.sequencers.registry import from_spec
from email_infrastructure.sequencers.wanted import Wanted, domain_accounts

#: how a sequencer is built from its declaration
Build = Callable[[str, ProviderSpec], SequencerProvider]


async def sequencer_steps(
    ctx: ReconcileContext,
    inventory: Inventory,
    domains: Sequence[ResolvedDomain],
    built: dict[str, SequencerProvider],
    *,
    wanted: set[str],
    prune: bool,
    build: Build = from_spec,
) -> list[Step]:
    """A step per (domain, sequencer) the desired state pairs or an earlier run stored (of `wanted` domains
    when given); each sequencer is built once (into `built`, to be closed by the caller) and listed once."""
    listings: dict[str, Listing] = {}
    errors: dict[str, str] = {}

    def listing(name: str) -> Listing | None:
        if name not in listings and name not in errors:
            spec = inventory.providers.sequencers.get(name)
            if spec is None:
                errors[name] = f"no sequencer named {name!r} is declared (declare it again to manage its accounts)"
                return None
            try:
                built[name] = build(name, spec)
            except EmailInfraError as exc:
                errors[name] = str(exc)
                return None
            listings[name] = Listing(built[name])
        return listings.get(name)

    steps: list[Step] = []
    pairs: set[tuple[str, str]] = set()
    by_name = {d.name: d for d in domains}
    for domain in domains:
        if wanted and domain.name not in wanted:
            continue
        grouped: dict[str, list[Wanted]] = {}
        for account in domain_accounts(domain):
            grouped.setdefault(account.sequencer, []).append(account)
        for name, accounts in sorted(grouped.items()):
            pairs.add((domain.name, name))
            found = listing(name)
            steps.append(
                SequencerAccountsStep(
                    ctx,
                    domain.name,
                    name,
                    found,
                    accounts,
                    resolved=domain,
                    error=errors.get(name, ""),
                    prune=prune,
                )
            )
    for domain_name, name in sorted(await ctx.sequencer_pairs()):
        if (domain_name, name) in pairs or (wanted and domain_name not in wanted):
            continue
        found = listing(name)
        resolved = by_name.get(domain_name)
        steps.append(
            SequencerAccountsStep(
                ctx, domain_name, name, found, [], resolved=resolved, error=errors.get(name, ""), prune=prune
            )
        )
    return steps
