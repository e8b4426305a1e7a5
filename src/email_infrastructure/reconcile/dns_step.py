"""The DNS zone step: read the zone, diff it with the desired records, write, read back.

The DKIM record comes from the zone's DKIM step (its key may be known only after apply); a
provider's own extras (Cloudflare's redirect rule) come from its `extra_changes` hook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, VerificationError
from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.pending import mask_pending
from email_infrastructure.dns.desired import DKIM_PENDING, DesiredZone, dkim_record
from email_infrastructure.dns.events import (
    EXTRA_TOPICS,
    RECORD_CREATED,
    RECORD_DELETED,
    RECORD_UPDATED,
    ZONE_FAILED,
    ExtraChangePayload,
    RecordChangePayload,
    ZoneFailedPayload,
)
from email_infrastructure.dns.plan import Action, Change, ZonePlan, diff
from email_infrastructure.dns.providers import DnsProvider
from email_infrastructure.dns.providers.base import vendor_answers
from email_infrastructure.dns.records import Record
from email_infrastructure.reconcile.context import ReconcileContext, StepUnitOfWork
from email_infrastructure.reconcile.graph import KNOWN_AFTER_APPLY, Outputs, Step, StepChange, StepPlan

_TOPIC = {Action.CREATE: RECORD_CREATED, Action.UPDATE: RECORD_UPDATED, Action.DELETE: RECORD_DELETED}
EXTRA_TOPICS_BY_NAME = {t.name for t in EXTRA_TOPICS.values()}


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


def _same(value: Any) -> Any:
    return value


def _pending(record: Record | None) -> bool:
    return record is not None and DKIM_PENDING in record.values


def _carried_out(event: Event, current: dict[tuple[str, str], Record], zp: ZonePlan, redirect: str | None) -> bool:
    """Whether the zone as read now shows the change an intent describes."""
    data = event.payload
    if event.topic in EXTRA_TOPICS_BY_NAME:
        planned = next((e for e in zp.extra if EXTRA_TOPICS[e.kind].name == event.topic), None)
        return (planned.old if planned else redirect) == data.get("new")
    key = (str(data.get("name")), str(data.get("type")))
    if data.get("action") == Action.DELETE.value:
        return key not in current
    found, new = current.get(key), data.get("new") or {}
    return (
        found is not None
        and list(found.values) == list(new.get("values", []))
        and found.ttl == new.get("ttl")
        and found.proxied == bool(new.get("proxied"))
    )


class DnsZoneStep(Step):
    """`dns.zone:<zone>` (or `dns.zone:<zone>@<provider>` for a zone no longer desired there)."""

    component = "dns"

    def __init__(
        self,
        ctx: ReconcileContext,
        desired: DesiredZone,
        provider: DnsProvider[Any],
        *,
        domain: ResolvedDomain | None = None,
        dkim_step: str | None = None,
        orphan: bool = False,
        server_steps: tuple[str, ...] = (),
        rebuild: Callable[[Mapping[str, Outputs]], DesiredZone] | None = None,
    ) -> None:
        self.ctx = ctx
        self.desired = desired
        self.provider = provider
        self.domain = domain
        self.dkim_step = dkim_step
        self.key = f"dns.zone:{desired.zone}" + (f"@{provider.name}" if orphan else "")
        #: where this zone's event intents are kept
        self.scope = f"dns:{provider.name}:{desired.zone}"
        #: servers still to be created whose addresses this zone publishes (known after their apply)
        self.server_steps = server_steps
        self.rebuild = rebuild
        self.depends_on = ((dkim_step,) if dkim_step else ()) + server_steps

    async def _spare_others(self, zp: ZonePlan) -> None:
        """Leave out deletions of RRsets another workspace owns in the zone (a shared server or directory).

        A purge deletes what we do not own, and a zone we no longer want deletes what we made:
        neither may take what another workspace made there since (a domain that moved to it).
        """
        deletions = [c for c in zp.changes if c.action is Action.DELETE]
        if await self.ctx.zone_held_elsewhere(zp.zone):
            spared, why = deletions, f"{zp.zone} is another workspace's domain now"
        else:
            others = await self.ctx.owned_elsewhere(zp.zone)
            spared, why = [c for c in deletions if c.record.key in others], "another workspace manages them"
        if not spared:
            return
        zp.changes = [c for c in zp.changes if c not in spared]
        zp.unmanaged += len(spared)
        names = ", ".join(f"{c.record.name} {c.record.type}" for c in spared[:5])
        more = ", …" if len(spared) > 5 else ""
        zp.notes.append(f"left alone: {len(spared)} RRset(s) ({names}{more}): {why}")

    def _records(self, public_key: Any) -> list[Record]:
        records = list(self.desired.records)
        if self.domain is not None and self.dkim_step is not None:
            key = None if public_key is KNOWN_AFTER_APPLY else public_key
            records = sorted([*records, dkim_record(self.domain, key)])
        return [self.provider.prepare(r) for r in records]

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Read the zone and diff; never writes."""
        zone, provider = self.desired.zone, self.provider
        plan = self.new_plan()
        zp = ZonePlan(zone=zone, provider=provider.name, notes=[*self.desired.notes, *provider.notes(self.desired)])
        plan.detail = zp
        if self.desired.error:
            zp.error = plan.error = self.desired.error
            return plan
        public_key = upstream[self.dkim_step].outputs.get("public_key") if self.dkim_step else None
        try:
            desired = self._records(public_key)
            with vendor_answers(provider.name):
                existing = await provider.list_records(zone)
                if not existing:
                    zp.zone_exists = await provider.zone_exists(zone)
                if not zp.zone_exists:
                    zp.notes.append(f"zone {zone} will be created at {provider.name}")
            owned = await self.ctx.owned(provider.name, zone)
            zp.changes, zp.unmanaged = diff(desired, existing, owned, self.desired.purge)
            if any(c.action is Action.DELETE for c in zp.changes):
                await self._spare_others(zp)
            zp.managed = len(owned & {r.key for r in existing})
            conflicts = _conflicts(desired, existing, zp.changes)
            if conflicts:
                raise VerificationError(f"{zone}: " + "; ".join(conflicts), provider=provider.name)
            with vendor_answers(provider.name):
                zp.extra = await provider.extra_changes(self.desired, owned)
            current = {r.key: r for r in existing}
            for event in await self.ctx.intents(self.scope):
                zp.settle[event.id] = _carried_out(event, current, zp, self.desired.redirect)
            plan.housekeeping = bool(zp.settle)
        except EmailInfraError as exc:
            zp.changes, zp.extra = [], []
            zp.error = plan.error = str(exc) if zone in str(exc) else f"{zone}: {exc}"
            return plan
        problem = zp.safety_problem()
        plan.unsafe += [problem] if problem else []
        for change in zp.changes:
            if change.action is Action.UPDATE and _pending(change.new):
                plan.unsafe.append(
                    f"{change.record.name}: a DKIM key is published there but is not in our vault (a new "
                    "database, or state moved?): `email-infra dkim import` it, or --force to replace it"
                )
        shown = mask_pending if self.server_steps else _same
        plan.changes = [
            StepChange(c.action.value, f"{c.record.name} {c.record.type}", shown(data["old"]), shown(data["new"]))
            for c in zp.changes
            for data in (c.to_json(),)
        ] + [StepChange("update", f"{zone} {e.kind}", e.old, e.new) for e in zp.extra]
        plan.outputs = {"zone": zone}
        return plan

    def _resolved(self, zp: ZonePlan, upstream: Mapping[str, Outputs]) -> list[Change]:
        """The planned changes with the DKIM value that apply now knows."""
        if not any(_pending(c.new) for c in zp.changes) or self.dkim_step is None or self.domain is None:
            return zp.changes
        real = self.provider.prepare(dkim_record(self.domain, upstream[self.dkim_step]["public_key"]))
        return [dataclasses.replace(c, new=real) if _pending(c.new) else c for c in zp.changes]

    async def _settle(self, zp: ZonePlan) -> None:
        """An interrupted apply's intents: into the audit log if the change was made, else dropped."""
        async with self.ctx.uow() as uow:
            pending = [e for e in await uow.intents.pending(self.scope) if e.id in zp.settle]
            await uow.confirm([e for e in pending if zp.settle[e.id]])
            await uow.intents.remove(e.id for e in pending if not zp.settle[e.id])
            await uow.commit()

    def _intend(self, uow: StepUnitOfWork, zone: str, changes: list[Change], zp: ZonePlan) -> list[Event]:
        """Write every event this apply will log as an intent."""
        intents = [
            uow.intend(self.scope, EXTRA_TOPICS[e.kind], ExtraChangePayload(zone=zone, old=e.old, new=e.new), "dns")
            for e in zp.extra
        ]
        for change in changes:
            data = change.to_json()
            payload = RecordChangePayload(
                zone=zone, action=data["action"], name=data["name"], type=data["type"], old=data["old"], new=data["new"]
            )
            intents.append(uow.intend(self.scope, _TOPIC[change.action], payload, source="dns"))
        return intents

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Claim ownership and write the events as intents, write, read back, then release what was
        deleted and confirm the events, so that each change is logged exactly once whatever is killed."""
        if self.server_steps and self.rebuild is not None:
            # the servers exist now: plan again with their addresses (the plan showed placeholders)
            self.desired = self.rebuild(upstream)
            known = {k: StepPlan(key=k, component="", outputs=dict(v)) for k, v in upstream.items()}
            plan, self.server_steps = await self.plan(known), ()
            if plan.error:
                raise EmailInfraError(plan.error)
        zp: ZonePlan = plan.detail
        zone, provider = zp.zone, self.provider
        if zp.settle:
            await self._settle(zp)
        if not zp.has_changes:
            return {"zone": zone}
        changes = self._resolved(zp, upstream)
        written = {c.record.key for c in changes if c.action is not Action.DELETE}
        written |= {e.owned for e in zp.extra if e.new is not None}
        deleted = {c.record.key for c in changes if c.action is Action.DELETE}
        deleted |= {e.owned for e in zp.extra if e.new is None}
        try:
            async with self.ctx.uow() as uow:
                await uow.ownership.claim(provider.name, zone, written)
                intents = self._intend(uow, zone, changes, zp)
                await uow.commit()
            with vendor_answers(provider.name):
                if changes:
                    await provider.apply_changes(zone, changes)
                after = {r.key: r for r in await provider.list_records(zone)} if changes else {}
                await provider.apply_extra_changes(zone, zp.extra)
            wrong = [
                f"{c.record.name} {c.record.type}"
                for c in changes
                if (c.new is not None and after.get(c.new.key) != c.new)
                or (c.action is Action.DELETE and c.record.key in after)
            ]
            if wrong:
                raise VerificationError(
                    f"{zone}: the provider acknowledged the changes but reading back shows "
                    f"{len(wrong)} not applied: {', '.join(wrong[:5])}",
                    provider=provider.name,
                )
        except EmailInfraError as exc:
            message = str(exc) if zone in str(exc) else f"{zone}: {exc}"
            async with self.ctx.uow() as uow:
                uow.emit(ZONE_FAILED, ZoneFailedPayload(zone=zone, error=message), source="dns")
                await uow.commit()
            raise EmailInfraError(message) from None
        async with self.ctx.uow() as uow:
            await uow.ownership.release(provider.name, zone, deleted)
            await uow.confirm(intents)
            await uow.commit()
        return {"zone": zone}
