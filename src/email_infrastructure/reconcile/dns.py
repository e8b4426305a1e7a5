"""Plan and apply DNS for every domain of an inventory: read, diff, guard, write, read back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from email_infrastructure.core.errors import EmailInfraError, UserError, VerificationError
from email_infrastructure.core.events import EventBus
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.core.settings import Settings
from email_infrastructure.core.vault import Vault
from email_infrastructure.dns.desired import DesiredZone, desired_zones
from email_infrastructure.dns.dkim import generate_keypair, public_key_b64
from email_infrastructure.dns.plan import Action, Change, Plan, ZonePlan, diff
from email_infrastructure.dns.providers import DnsProvider, build_provider
from email_infrastructure.dns.providers.base import vendor_answers
from email_infrastructure.dns.records import Record
from email_infrastructure.storage.db import Database
from email_infrastructure.storage.repositories import (
    DesiredState,
    DnsOwnership,
    PlanHistory,
    SecretStore,
)

Progress = Callable[[str], None]
Z = TypeVar("Z", DesiredZone, ZonePlan)
R = TypeVar("R")
#: the ownership entry (name = zone) that says we created the zone's redirect rule
REDIRECT_RULE = "REDIRECT"
_VERB = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}


@dataclass
class ZoneOutcome:
    """What happened to one zone during apply."""

    zone: str
    status: str  # unchanged | applied | failed
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ApplyResult:
    """The plan that was applied and each zone's outcome."""

    plan: Plan
    outcomes: list[ZoneOutcome]

    @property
    def failed(self) -> list[ZoneOutcome]:
        """Zones that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


def _conflicts(desired: list[Record], existing: list[Record], changes: list[Change]) -> list[str]:
    """CNAMEs that would stand beside data we leave alone (the provider would refuse them)."""
    deleted = {c.record.key for c in changes if c.action is Action.DELETE}
    wanted = {r.key for r in desired}
    remaining = [r for r in existing if r.key not in deleted and r.key not in wanted]
    problems = []
    for record in desired:
        for other in remaining:
            if other.name == record.name and "CNAME" in (record.type, other.type):
                problems.append(
                    f"{record.name}: the {record.type} we want conflicts with an existing "
                    f"{other.type} we do not manage (set purge: true or remove it)"
                )
    return problems


class DnsReconciler:
    """DNS plan/apply for one inventory."""

    def __init__(
        self,
        settings: Settings,
        inventory: Inventory,
        db: Database,
        bus: EventBus,
        *,
        concurrency: int = 8,
        providers: dict[str, DnsProvider[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.inventory = inventory
        self.db = db
        self.bus = bus
        self.concurrency = concurrency
        self.ownership = DnsOwnership(db.sessions)
        self.providers = (
            providers
            if providers is not None
            else {name: build_provider(name, spec, settings.data_dir) for name, spec in inventory.providers.dns.items()}
        )

    async def close(self) -> None:
        """Close every provider."""
        for provider in self.providers.values():
            await provider.close()

    async def dkim_keys(self) -> dict[str, str | None]:
        """Each domain's DKIM public key; a 2048-bit key is generated once and kept in the vault.

        Generating here (not at apply) keeps the plan's checksum stable between plan and apply.
        """
        store = SecretStore(self.db.sessions, Vault.from_settings(self.settings))
        wanted = {d.name: (f"domain:{d.name}", f"dkim:{d.dkim_selector}") for d in self.inventory.resolved_domains()}
        found = await store.get_many(list(wanted.values()))
        missing = [key for key in wanted.values() if key not in found]
        semaphore = asyncio.Semaphore(4)

        async def generate() -> str:
            async with semaphore:  # RSA generation is CPU-bound: a few threads at a time
                private, _ = await asyncio.to_thread(generate_keypair)
            return private

        created = dict(zip(missing, await asyncio.gather(*(generate() for _ in missing)), strict=True))
        if created:
            await store.put_many(created)
        found.update(created)
        return {domain: public_key_b64(found[key]) for domain, key in wanted.items()}

    async def desired(self) -> dict[str, DesiredZone]:
        """The desired zones."""
        return desired_zones(self.inventory, await self.dkim_keys())

    async def _plan_zone(self, zone: DesiredZone) -> ZonePlan:
        provider = self.providers[zone.provider]
        plan = ZonePlan(zone=zone.zone, provider=provider.name, notes=[*zone.notes, *provider.notes(zone.zone)])
        if zone.error:
            plan.error = zone.error
            return plan
        try:
            with vendor_answers(provider.name):
                existing = await provider.list_records(zone.zone)
                if not existing:
                    plan.zone_exists = await provider.zone_exists(zone.zone)
                if not plan.zone_exists:
                    plan.notes.append(f"zone {zone.zone} will be created at {provider.name}")
            owned = await self.ownership.owned(provider.name, zone.zone)
            desired = [provider.prepare(r) for r in zone.records]
            plan.changes, plan.unmanaged = diff(desired, existing, owned, zone.purge)
            plan.managed = len(owned & {r.key for r in existing})
            conflicts = _conflicts(desired, existing, plan.changes)
            if conflicts:
                plan.error = f"{zone.zone}: " + "; ".join(conflicts)
                plan.changes = []
            with vendor_answers(provider.name):
                await self._plan_redirect(zone, provider, plan, (zone.zone, REDIRECT_RULE) in owned)
        except EmailInfraError as exc:
            plan.error = f"{zone.zone}: {exc}"
            plan.changes, plan.redirect = [], None
        return plan

    async def _plan_redirect(self, zone: DesiredZone, provider: DnsProvider[Any], plan: ZonePlan, ours: bool) -> None:
        """A provider with a rule engine redirects by itself; elsewhere the redirect host must.

        The rule is read only when one is wanted or we made one: a zone without a redirect costs
        no extra call.
        """
        name, target = zone.zone, zone.redirect
        if provider.supports_redirect and (target or ours):
            current = await provider.redirect_target(name)
            if current != target:
                plan.redirect = (current, target)
            if target:
                plan.notes.append(f"redirect: a {provider.type} rule sends {name} and www.{name} to {target}")
        elif target:
            plan.notes.append(
                f"redirect: {name} and www.{name} point at {zone.redirect_host}, whose web server "
                f"must answer with a redirect to {target}"
            )

    async def plan(self, progress: Progress | None = None) -> Plan:
        """Read every zone and diff it with the desired records; never writes to a provider."""
        zones = await self.desired()
        for name, provider in self.providers.items():
            # On failure each zone looks itself up and reports its own error.
            with contextlib.suppress(EmailInfraError):
                await provider.prefetch([z.zone for z in zones.values() if z.provider == name])
        plans = await self._each(list(zones.values()), self._plan_zone, progress)
        return Plan(zones=plans)

    async def _each(self, zones: Sequence[Z], work: Callable[[Z], Awaitable[R]], progress: Progress | None) -> list[R]:
        """Run `work` for every zone, at most `concurrency` at once, reporting each one done."""
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(zone: Z) -> R:
            async with semaphore:
                result = await work(zone)
            if progress:
                progress(zone.zone)
            return result

        return list(await asyncio.gather(*(one(z) for z in zones)))

    async def _apply_zone(self, zone: ZonePlan) -> ZoneOutcome:
        provider = self.providers[zone.provider]
        counts = zone.counts()
        if zone.error:
            return ZoneOutcome(zone.zone, "failed", counts, zone.error)
        if not zone.has_changes:
            return ZoneOutcome(zone.zone, "unchanged", counts)
        written = {c.record.key for c in zone.changes if c.action is not Action.DELETE}
        deleted = {c.record.key for c in zone.changes if c.action is Action.DELETE}
        try:
            await self.ownership.claim(provider.name, zone.zone, written)
            with vendor_answers(provider.name):
                if zone.changes:
                    await provider.apply_changes(zone.zone, zone.changes)
                after = {r.key: r for r in await provider.list_records(zone.zone)} if zone.changes else {}
                if zone.redirect is not None:
                    if zone.redirect[1] is not None:
                        await self.ownership.claim(provider.name, zone.zone, {(zone.zone, REDIRECT_RULE)})
                    await provider.set_redirect(zone.zone, zone.redirect[1])
                    if await provider.redirect_target(zone.zone) != zone.redirect[1]:
                        raise VerificationError(
                            f"{zone.zone}: the redirect rule reads back differently", provider=provider.name
                        )
            wrong = [
                f"{c.record.name} {c.record.type}"
                for c in zone.changes
                if (c.new is not None and after.get(c.new.key) != c.new)
                or (c.action is Action.DELETE and c.record.key in after)
            ]
            if wrong:
                raise VerificationError(
                    f"{zone.zone}: the provider acknowledged the changes but reading back shows "
                    f"{len(wrong)} not applied: {', '.join(wrong[:5])}",
                    provider=provider.name,
                )
            await self.ownership.release(provider.name, zone.zone, deleted)
        except EmailInfraError as exc:
            message = str(exc) if zone.zone in str(exc) else f"{zone.zone}: {exc}"
            await self.bus.emit("dns.zone.failed", {"zone": zone.zone, "error": message}, source="dns")
            return ZoneOutcome(zone.zone, "failed", counts, message)
        if zone.redirect is not None:
            old, new = zone.redirect
            if new is None:
                await self.ownership.release(provider.name, zone.zone, {(zone.zone, REDIRECT_RULE)})
            await self.bus.emit("dns.redirect.updated", {"zone": zone.zone, "old": old, "new": new}, source="dns")
        for change in zone.changes:
            await self.bus.emit(
                f"dns.record.{_VERB[change.action]}",
                {"zone": zone.zone, **change.to_json()},
                source="dns",
            )
        return ZoneOutcome(zone.zone, "applied", counts)

    async def apply(
        self,
        *,
        checksum: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
        managed_by: str = "inventory",
    ) -> ApplyResult:
        """Plan, check the guard rails, then write zone by zone; a failed zone never stops the others."""
        await DesiredState(self.db.sessions).sync_inventory(self.inventory, managed_by)
        plan = await self.plan()
        if checksum is not None and checksum != plan.checksum:
            raise UserError(
                f"the plan changed since it was shown (expected {checksum}, now {plan.checksum}); run plan again"
            )
        if not force:
            problems = [p for z in plan.zones if (p := z.safety_problem())]
            if problems:
                raise UserError("refusing to apply: " + "; ".join(problems))
        outcomes = await self._each(plan.zones, self._apply_zone, progress)
        result = ApplyResult(plan=plan, outcomes=outcomes)
        status = "failed" if result.failed else ("applied" if plan.has_changes else "unchanged")
        await PlanHistory(self.db.sessions).record(
            "dns",
            plan.checksum,
            status,
            plan.to_json(),
            {o.zone: {"status": o.status, "error": o.error} for o in outcomes},
        )
        return result
