"""Build the reconcile graph of a desired state: which steps, keyed how, depending on what."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, UserError
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.core.inventory.mail import no_mail_backend
from email_infrastructure.core.pending import PENDING_IPV4, PENDING_IPV6, has_pending
from email_infrastructure.core.secret_names import API_KEY_NAME, api_key_owner, dkim_key
from email_infrastructure.dns.desired import DesiredZone, desired_zones
from email_infrastructure.dns.providers import DnsProvider, build_provider
from email_infrastructure.mailcow.backend import MailBackend
from email_infrastructure.mailcow.registry import build_backend
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.dkim_step import DkimKeyStep
from email_infrastructure.reconcile.dns_step import DnsZoneStep
from email_infrastructure.reconcile.graph import Graph, GraphPlan, Step
from email_infrastructure.reconcile.mail import mail_steps
from email_infrastructure.reconcile.mail.mailbox_ops import vault_keys
from email_infrastructure.reconcile.mail.removal import removal_steps
from email_infrastructure.reconcile.purchases import PurchaseRun, review
from email_infrastructure.reconcile.registrar_graph import registrar_facts, registrar_steps
from email_infrastructure.reconcile.sequencers import sequencer_steps
from email_infrastructure.reconcile.servers import server_facts, server_removals, vps_steps
from email_infrastructure.registrars.provider import Registrar
from email_infrastructure.sequencers.provider import SequencerProvider
from email_infrastructure.vps.provider import VpsProvider


@dataclass
class Reconciler:
    """The graph of one desired state and the providers its steps hold (close them after use)."""

    graph: Graph
    providers: dict[str, DnsProvider[Any]] = field(default_factory=dict)
    zones: dict[str, DesiredZone] = field(default_factory=dict)
    mail: dict[str, MailBackend] = field(default_factory=dict)
    vps: dict[str, VpsProvider] = field(default_factory=dict)
    sequencers: dict[str, SequencerProvider] = field(default_factory=dict)
    registrars: dict[str, Registrar] = field(default_factory=dict)
    #: the run's purchase switch, caps and (after `review`) verdict
    purchases: PurchaseRun = field(default_factory=PurchaseRun)

    async def review(self, plan: GraphPlan) -> None:
        """Decide on the whole purchase set of `plan` before anything is applied (reconcile/purchases.py)."""
        await review(plan, self.purchases, self.registrars)

    async def close(self) -> None:
        """Close every provider, mail backend and registrar."""
        for provider in self.providers.values():
            await provider.close()
        for backend in self.mail.values():
            await backend.close()
        for vps in self.vps.values():
            await vps.aclose()
        for sequencer in self.sequencers.values():
            await sequencer.aclose()
        for registrar in self.registrars.values():
            await registrar.aclose()


async def build(
    ctx: ReconcileContext,
    inventory: Inventory,
    *,
    only: Iterable[str] = (),
    concurrency: int = 8,
    deadline: float | None = None,
    providers: dict[str, DnsProvider[Any]] | None = None,
    prune: bool = False,
    nameservers: Sequence[str] = (),
    kinds: Iterable[str] = (),
    registrars: Mapping[str, Registrar] | None = None,
    buy: bool = False,
    budget: Decimal | None = None,
) -> Reconciler:
    """Steps per domain (DKIM key → DNS zone), plus the zones where we still own records that
    no domain wants any more (their records are planned as deletions), plus the mail domains we
    created that no domain wants any more (removed only with `prune`, else noted). `only` limits
    the graph to some domains, `kinds` to some step kinds (`sequencer.accounts`, or
    `sequencer.accounts@S` for one sequencer's: what `sequencer sync` runs; their dependencies on
    other kinds are dropped). Servers a VPS provider creates come first: their addresses feed DNS
    and mail (`known after apply` until they exist); `nameservers` resolve their A records before
    reverse DNS is set. A domain with a `registrar` gets the registrar steps first; with `buy` (and
    within `budget`, else the inventory's `register_budget`) its purchase is made."""
    kinds = set(kinds)
    kind_names = {k.partition("@")[0] for k in kinds}
    domains = inventory.resolved_domains()
    wanted = set(only)
    unknown = wanted - {d.name for d in domains}
    built = providers if providers is not None else {}
    if providers is None:
        for name, spec in inventory.providers.dns.items():
            built[name] = build_provider(name, spec, ctx.data_dir, limiters=ctx.rate_limiters)
    reconciler = Reconciler(Graph([], concurrency=concurrency), built)
    reconciler.purchases = PurchaseRun(
        buy=buy, budget=budget if budget is not None else inventory.defaults.register_budget
    )
    try:
        used = {d.server.name for d in domains if d.server is not None and (not wanted or d.name in wanted)}
        facts = (
            await server_facts(ctx, inventory, reconciler.vps, used if wanted else None)
            if not kinds or "vps.server" in kind_names
            else {}
        )
        pending = sorted(n for n, f in facts.items() if f.found is None)
        if facts:
            inventory = inventory.with_addresses(
                {
                    n: (f.found.ipv4, f.found.ipv6) if f.found is not None else (PENDING_IPV4, PENDING_IPV6)
                    for n, f in facts.items()
                }
            )
            domains = inventory.resolved_domains()
        zones = desired_zones(inventory, {})
        rebuilder = _ZoneRebuilder(inventory, pending)
        mailed = [d for d in domains if d.server is not None and d.server.mail_backend]
        backends = {d.server.mail_backend for d in mailed if d.server is not None and d.server.mail_backend}
        api_keys = [(api_key_owner(b), API_KEY_NAME) for b in backends]
        keys = await ctx.secrets(
            [dkim_key(d.name, d.dkim_selector) for d in domains if d not in mailed]
            + vault_keys(mailed)
            + sorted(set(api_keys))
        )
        # a run of other kinds alone (a sequencer sync) asks no registrar
        at_registrar = (
            await registrar_facts(
                inventory, [d for d in domains if not wanted or d.name in wanted], registrars, reconciler.registrars
            )
            if not kinds or any(k.startswith("registrar.") for k in kind_names)
            else {}
        )
        steps: list[Step] = []
        steps += vps_steps(ctx, facts, zones, nameservers)
        steps += await server_removals(ctx, inventory, reconciler.vps, set(facts), prune=prune, wanted=bool(wanted))
        for domain in domains:
            if wanted and domain.name not in wanted:
                continue
            zone = zones[domain.name]
            provider = built.get(zone.provider)
            if provider is None:
                zone.error = zone.error or f"{domain.name}: no DNS provider named {zone.provider!r}"
                provider = _Missing(zone.provider)
            backend_name = domain.server.mail_backend if domain.server is not None else None
            waits = _waits_for(zone, pending)
            rebuild = rebuilder.for_zone(zone.zone) if waits else None
            if backend_name:
                # the server's DKIM key (same step key), then mailboxes once DNS is published
                backend, error = _backend(inventory, backend_name, reconciler.mail, keys)
                server = domain.server.name if domain.server is not None and domain.server.provider else None
                domain_step, dkim_step, mailboxes_step = mail_steps(
                    ctx,
                    domain,
                    backend,
                    keys,
                    error,
                    prune=prune,
                    server_step=f"vps.server:{server}" if server else None,
                )
                dns_step = DnsZoneStep(
                    ctx, zone, provider, domain=domain, dkim_step=dkim_step.key, server_steps=waits, rebuild=rebuild
                )
                own: list[Step] = [domain_step, dkim_step, dns_step, mailboxes_step]
                steps += registrar_steps(ctx, at_registrar.get(domain.name), reconciler.purchases, own, provider)
                continue
            # said on the domain's one mail-side step, whether or not it has changes
            unmailed = no_mail_backend(domain)
            dkim = DkimKeyStep(
                ctx,
                domain,
                keys.get(dkim_key(domain.name, domain.dkim_selector)),
                notes=[unmailed] if unmailed else [],
            )
            own = [
                dkim,
                DnsZoneStep(
                    ctx, zone, provider, domain=domain, dkim_step=dkim.key, server_steps=waits, rebuild=rebuild
                ),
            ]
            steps += registrar_steps(ctx, at_registrar.get(domain.name), reconciler.purchases, own, provider)
        desired_places = {(z.provider, z.zone) for z in zones.values()}
        for provider_name, zone_name in sorted(await ctx.owned_zones()):
            if (provider_name, zone_name) in desired_places or (wanted and zone_name not in wanted):
                continue
            unknown.discard(zone_name)
            gone = DesiredZone(zone_name, provider_name, purge=False)
            provider = built.get(provider_name)
            if provider is None:
                gone.error = (
                    f"{zone_name}: records we made at DNS provider {provider_name!r} remain, but that "
                    "provider is no longer declared (declare it again to remove them)"
                )
                provider = _Missing(provider_name)
            steps.append(DnsZoneStep(ctx, gone, provider, orphan=zone_name in zones))
        desired_mail = {(d.server.mail_backend, d.name) for d in mailed if d.server is not None}
        names = {d.name for d in domains}
        leftover = [
            (backend_name, domain_name)
            for backend_name, domain_name in sorted(await ctx.owned_mail_domains())
            if (backend_name, domain_name) not in desired_mail and not (wanted and domain_name not in wanted)
        ]
        # a domain that moved to another workspace on the same server is that workspace's now
        elsewhere = await ctx.mail_held_elsewhere(sorted({d for _b, d in leftover})) if leftover else set()
        for backend_name, domain_name in leftover:
            unknown.discard(domain_name)
            backend, error = _backend(inventory, backend_name, reconciler.mail, keys)
            if error:
                error = f"we created it at mail provider {backend_name!r}, which cannot be used: {error}"
            suffix = f"@{backend_name}" if domain_name in names else ""
            held = domain_name in elsewhere
            steps += removal_steps(ctx, domain_name, backend, error, prune=prune, suffix=suffix, held_elsewhere=held)
        steps += await sequencer_steps(ctx, inventory, domains, reconciler.sequencers, wanted=wanted, prune=prune)
        unknown -= {s.key.split(":", 1)[1].split("@")[0] for s in steps if s.key.startswith("sequencer.")}
        if unknown:
            raise UserError(f"not in the desired state: {', '.join(sorted(unknown))}")
        if kinds:
            steps = [s for s in steps if selected(s.key, kinds)]
            kept = {s.key for s in steps}
            for step in steps:
                step.depends_on = tuple(d for d in step.depends_on if d in kept)
        started = asyncio.get_running_loop().time()
        for name, provider in built.items() if not kinds or "dns.zone" in kind_names else ():
            # On failure (or past the deadline) each zone looks itself up and reports its own error.
            with contextlib.suppress(EmailInfraError, TimeoutError):
                async with asyncio.timeout(deadline):
                    await provider.prefetch([z.zone for z in zones.values() if z.provider == name])
        left = None if deadline is None else max(0.0, deadline - (asyncio.get_running_loop().time() - started))
        reconciler.graph = Graph(steps, concurrency=concurrency, deadline=left, run_deadline=deadline)
        reconciler.zones = zones
    except BaseException:
        await reconciler.close()
        raise
    return reconciler


def selected(key: str, kinds: set[str]) -> bool:
    """Whether a step's key is of one of `kinds` (`kind`, or `kind@suffix` for the keys ending `@suffix`)."""
    kind, _, subject = key.partition(":")
    for wanted in kinds:
        name, _, suffix = wanted.partition("@")
        if name == kind and (not suffix or subject.endswith(f"@{suffix}")):
            return True
    return False


def _backend(
    inventory: Inventory, name: str, built: dict[str, MailBackend], keys: Mapping[tuple[str, str], str]
) -> tuple[MailBackend | None, str]:
    """The mail backend `name` (built once, with the vault's API key when it declares none), or why there is none."""
    if name not in built:
        spec = inventory.providers.mail.get(name)
        if spec is None:
            return None, f"no mail provider named {name!r}"
        try:
            built[name] = build_backend(name, spec, api_key=keys.get((api_key_owner(name), API_KEY_NAME)))
        except EmailInfraError as exc:
            return None, str(exc)
    return built[name], ""


class _Missing(DnsProvider[Any]):
    """Stands in for an undeclared provider; its zone's plan carries the error, so it is never called."""

    type = "missing"

    def __init__(self, name: str) -> None:
        self.name = name

    async def zone_exists(self, zone: str) -> bool:
        """Never called."""
        raise UserError(f"no DNS provider named {self.name!r}")

    async def list_records(self, zone: str) -> list[Any]:
        """Never called."""
        raise UserError(f"no DNS provider named {self.name!r}")

    async def apply_changes(self, zone: str, changes: list[Any]) -> None:
        """Never called."""
        raise UserError(f"no DNS provider named {self.name!r}")


def _waits_for(zone: DesiredZone, pending: list[str]) -> tuple[str, ...]:
    """The server steps a zone waits for: those of servers still to be created, when it publishes
    a placeholder address (a zone with no address of theirs does not wait)."""
    if pending and any(has_pending(list(r.values)) for r in zone.records):
        return tuple(f"vps.server:{name}" for name in pending)
    return ()


class _ZoneRebuilder:
    """The desired zones again, with the addresses new servers got (computed once per set of addresses)."""

    def __init__(self, inventory: Inventory, pending: list[str]) -> None:
        self.inventory, self.pending = inventory, pending
        self._built: dict[tuple[tuple[str, Any, Any], ...], dict[str, DesiredZone]] = {}

    def for_zone(self, zone: str) -> Any:
        """A function of a zone step's upstream outputs giving its desired zone."""

        def rebuild(upstream: Mapping[str, Mapping[str, Any]]) -> DesiredZone:
            found = tuple(
                (name, out.get("ipv4"), out.get("ipv6"))
                for name in self.pending
                if (out := upstream.get(f"vps.server:{name}")) is not None
            )
            if found not in self._built:
                inventory = self.inventory.with_addresses({n: (v4, v6) for n, v4, v6 in found})
                self._built[found] = desired_zones(inventory, {})
            return self._built[found][zone]

        return rebuild
