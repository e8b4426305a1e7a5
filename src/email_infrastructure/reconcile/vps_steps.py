"""VPS steps: `vps.server:<name>` creates the server (its addresses feed DNS and mail), then
`vps.rdns:<name>` points its addresses' reverse DNS at the mail hostname once the A record resolves.

A server is found again by its labels, never by a name: a run killed during creation finds the
server it made and records it, and its `vps.server.created` event was written as an intent first,
so it is logged exactly once whichever way the run ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory import ServerSpec
from email_infrastructure.core.secret_names import API_KEY_BYTES, PLACEHOLDER_KEY
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import KNOWN_AFTER_APPLY, Outputs, Step, StepChange, StepPlan
from email_infrastructure.vps import events
from email_infrastructure.vps.catalogue import catalogue_problems
from email_infrastructure.vps.cloud_init import MailcowInstall, check_size, render
from email_infrastructure.vps.provider import (
    Catalogue,
    QuotaExceededError,
    ServerRequest,
    VpsProvider,
    VpsServer,
    ownership_labels,
)


def new_api_key() -> str:
    """A Mailcow API key: 48 hex characters."""
    return secrets.token_hex(API_KEY_BYTES)


def port25_state(spec: ServerSpec, stored: str | None, provider: VpsProvider | None) -> tuple[str, str]:
    """(state, source): declared in the inventory, else recorded, else the provider's default."""
    if spec.port25 is not None:
        return spec.port25, "declared"
    if stored is not None:
        return stored, "recorded"
    if provider is not None:
        return provider.capabilities.port25_default, "provider-default"
    return "unknown", ""


@dataclass
class ServerFacts:
    """What the build found about a server before planning (shared by its two steps)."""

    spec: ServerSpec
    provider: VpsProvider | None
    error: str = ""
    found: VpsServer | None = None
    catalogue: Catalogue | None = None
    #: the state stored for it (port25, source, last_error) when we created it
    stored_port25: str | None = None
    last_error: str | None = None
    #: the Mailcow API key that goes into its cloud-init (resolved at apply), and where it comes from
    api_key: Callable[[], Awaitable[str | None]] | None = None
    api_key_note: str = ""
    ssh_keys: Sequence[str] = field(default_factory=tuple)


class ServerStep(Step):
    """`vps.server:<name>`: create the server if no server carries its labels; outputs its addresses."""

    component = "vps"

    def __init__(self, ctx: ReconcileContext, facts: ServerFacts, *, timeout: float = 900.0) -> None:
        self.ctx, self.facts, self.timeout = ctx, facts, timeout
        self.key = f"vps.server:{facts.spec.name}"
        self.scope = f"vps:{facts.spec.name}"

    def _request(self, user_data: str) -> ServerRequest:
        spec = self.facts.spec
        return ServerRequest(
            name=spec.name,
            hostname=spec.hostname,
            server_type=spec.size or "",
            location=spec.region or "",
            image=spec.image or "",
            user_data=user_data,
            ssh_keys=tuple(self.facts.ssh_keys),
            labels=ownership_labels(spec.name),
        )

    def _install(self, api_key: str | None) -> MailcowInstall:
        spec = self.facts.spec
        allow = [str(n) for n in spec.api_allow_from]
        return MailcowInstall(spec.hostname, spec.timezone, api_key, allow)

    def user_data(self, api_key: str | None, *, show_secrets: bool = True) -> str:
        """The server's cloud-init (the API key only when shown)."""
        return render(self._install(api_key), show_secrets=show_secrets)

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Find the server by its labels; create it when absent. Checks the provider's catalogue."""
        plan = self.new_plan()
        facts, spec = self.facts, self.facts.spec
        plan.outputs = {"ipv4": KNOWN_AFTER_APPLY, "ipv6": KNOWN_AFTER_APPLY, "pending": True}
        if facts.error or facts.provider is None:
            plan.error = facts.error or f"server {spec.name}: no VPS provider"
            return plan
        provider = facts.provider
        if facts.catalogue is not None:
            errors, warnings = catalogue_problems(spec, facts.catalogue, provider.type)
            plan.notes += warnings
            if errors and facts.found is None:
                plan.error = f"server {spec.name}: " + "; ".join(errors)
                return plan
        state, source = port25_state(spec, facts.stored_port25, provider)
        if state == "blocked":
            plan.notes.append(
                f"server {spec.name}: outbound port 25 is blocked ({source}): it cannot deliver to other "
                f"mail servers. {provider.capabilities.port25_note}"
            )
        elif state == "unknown":
            plan.notes.append(
                f"server {spec.name}: outbound port 25 is unknown: `email-infra server port25` records it"
            )
        if facts.api_key_note:
            plan.notes.append(facts.api_key_note)
        if facts.last_error:
            plan.notes.append(f"server {spec.name}: the last apply failed after creating it: {facts.last_error}")
        found = facts.found
        settle = {e.id: found is not None for e in await self.ctx.intents(self.scope)}
        plan.detail = settle
        plan.housekeeping = bool(settle) or (found is not None and facts.stored_port25 is None)
        if found is None:
            try:
                check_size(self.user_data(PLACEHOLDER_KEY), provider.capabilities.user_data_limit)
            except EmailInfraError as exc:
                plan.error = f"server {spec.name}: {exc}"
                return plan
            plan.changes.append(
                StepChange(
                    "create",
                    f"server {spec.name} at {provider.type}",
                    None,
                    {
                        "hostname": spec.hostname,
                        "server_type": spec.size,
                        "location": spec.region,
                        "image": spec.image,
                        "ipv4": KNOWN_AFTER_APPLY,
                        "ipv6": KNOWN_AFTER_APPLY,
                    },
                )
            )
            return plan
        plan.outputs = {"ipv4": found.ipv4, "ipv6": found.ipv6, "pending": False, "id": found.id}
        for what, have, want in (("type", found.server_type, spec.size), ("location", found.location, spec.region)):
            if want and have and have != want:
                plan.notes.append(
                    f"server {spec.name} runs {what} {have}, the inventory says {want}: changing it is not "
                    "automated (it would replace the server and its IP reputation)"
                )
        if found.status != "running":
            plan.notes.append(f"server {spec.name} is {found.status} at {provider.type}")
        return plan

    async def _record(self, server: VpsServer, error: str | None = None, *, uow: Any = None) -> None:
        """Store the server's facts (in `uow` when given, else in a transaction of its own)."""
        provider = self.facts.provider
        assert provider is not None
        if uow is None:
            async with self.ctx.uow() as own:
                await self._record(server, error, uow=own)
                await own.commit()
            return
        await uow.vps.record(
            self.facts.spec.name,
            self.facts.spec.provider or "",
            provider_id=server.id,
            provider_name=server.provider_name,
            status=server.status,
            ipv4=server.ipv4,
            ipv6=server.ipv6,
            server_type=server.server_type,
            location=server.location,
            image=server.image,
            ptr=server.ptr,
            port25_default=provider.capabilities.port25_default,
        )
        if error:
            await uow.vps.set_error(self.facts.spec.name, error)

    async def _settle(self, settle: Mapping[str, bool]) -> None:
        async with self.ctx.uow() as uow:
            pending = [e for e in await uow.intents.pending(self.scope) if e.id in settle]
            await uow.confirm([e for e in pending if settle[e.id]])
            await uow.intents.remove(e.id for e in pending if not settle[e.id])
            await uow.commit()

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Create (after looking again: another run may have made it), record, log once."""
        provider, spec = self.facts.provider, self.facts.spec
        assert provider is not None
        if plan.detail:
            await self._settle(plan.detail)
        server = self.facts.found or await provider.find(spec.name)
        if server is None:
            api_key = await self.facts.api_key() if self.facts.api_key else None
            user_data = self.user_data(api_key)
            check_size(user_data, provider.capabilities.user_data_limit)
            payload = events.ServerPayload(
                server=spec.name, provider=spec.provider or "", hostname=spec.hostname, ipv4=None, ipv6=None
            )
            async with self.ctx.uow() as uow:
                intent: Event = uow.intend(self.scope, events.SERVER_CREATED, payload, source="vps")
                await uow.commit()
            try:
                server = await provider.create(self._request(user_data), timeout=self.timeout)
            except QuotaExceededError as exc:
                raise QuotaExceededError(
                    f"server {spec.name}: the {provider.type} account's limit is reached, nothing was created "
                    f"(ask {provider.type} to raise it, or remove a server): {exc}",
                    provider=provider.type,
                ) from None
            except EmailInfraError as exc:
                with contextlib.suppress(EmailInfraError):
                    made = await provider.find(spec.name)
                    if made is not None:  # created, but not (yet) ready: remembered for the next plan
                        await self._record(made, error=str(exc))
                raise
            async with self.ctx.uow() as uow:
                await self._record(server, uow=uow)
                await uow.intents.remove([intent.id])
                done = events.ServerPayload(**{**payload, "ipv4": server.ipv4, "ipv6": server.ipv6})
                uow.emit(events.SERVER_CREATED, done, source="vps")
                await uow.commit()
        elif plan.housekeeping or self.facts.stored_port25 is None:
            await self._record(server)
        return {"ipv4": server.ipv4, "ipv6": server.ipv6, "pending": False, "id": server.id}


Resolve = Callable[[str, str], Awaitable[set[str]]]


class ReverseDnsStep(Step):
    """`vps.rdns:<name>`: PTR of each address = the mail hostname, set after its A/AAAA resolves."""

    component = "vps"

    def __init__(
        self,
        ctx: ReconcileContext,
        facts: ServerFacts,
        resolve: Resolve,
        *,
        zone_step: str | None = None,
        attempts: int = 6,
        delay: float = 5.0,
    ) -> None:
        self.ctx, self.facts, self.resolve = ctx, facts, resolve
        self.attempts, self.delay = attempts, delay
        self.key = f"vps.rdns:{facts.spec.name}"
        self.depends_on = (f"vps.server:{facts.spec.name}", *((zone_step,) if zone_step else ()))

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Compare each address's PTR with the hostname."""
        plan = self.new_plan()
        provider, spec = self.facts.provider, self.facts.spec
        if provider is None:
            plan.error = self.facts.error or f"server {spec.name}: no VPS provider"
            return plan
        hostname = spec.hostname
        if provider.capabilities.reverse_dns == "none":
            plan.notes.append(f"server {spec.name}: {provider.type} cannot set reverse DNS; ask its support")
            return plan
        server = self.facts.found
        if server is None:
            for family in ("ipv4", "ipv6"):
                plan.changes.append(StepChange("update", f"reverse DNS of {spec.name} {family}", None, hostname))
            return plan
        for ip in (server.ipv4, server.ipv6):
            if ip and server.ptr.get(ip, "").rstrip(".").lower() != hostname:
                plan.changes.append(StepChange("update", f"reverse DNS of {ip}", server.ptr.get(ip) or None, hostname))
        if provider.capabilities.reverse_dns == "name":
            plan.notes.append(
                f"server {spec.name}: {provider.type} derives reverse DNS from the server's name "
                "(only the first IPv6 address gets one)"
            )
        return plan

    async def _resolves(self, ip: str) -> bool:
        rtype = "AAAA" if ":" in ip else "A"
        for attempt in range(self.attempts):
            with contextlib.suppress(EmailInfraError, OSError):
                if ip in await self.resolve(self.facts.spec.hostname, rtype):
                    return True
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.delay)
        return False

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Wait for the forward record, set the PTR, read it back, log."""
        provider, spec = self.facts.provider, self.facts.spec
        assert provider is not None
        server = await provider.find(spec.name)
        if server is None:
            raise ProviderError(f"server {spec.name} is gone from {provider.type}", provider=provider.type)
        done: dict[str, str] = {}
        for ip in (server.ipv4, server.ipv6):
            if not ip or server.ptr.get(ip, "").rstrip(".").lower() == spec.hostname:
                continue
            if not await self._resolves(ip):
                message = (
                    f"reverse DNS of {ip} not set: {spec.hostname} does not resolve to it yet "
                    "(the A/AAAA record is written; the next apply sets it once it resolves)"
                )
                async with self.ctx.uow() as uow:
                    await uow.vps.set_error(spec.name, message)
                    await uow.commit()
                raise ProviderError(message, provider=provider.type)
            await provider.set_reverse_dns(server, ip, spec.hostname)
            done[ip] = spec.hostname
        if not done:
            return {}
        after = await provider.find(spec.name)
        read = dict(after.ptr) if after is not None else {}
        wrong = [ip for ip in done if read.get(ip, "").rstrip(".").lower() != spec.hostname]
        if wrong and provider.capabilities.reverse_dns == "api":
            raise ProviderError(
                f"{provider.type} acknowledged reverse DNS for {', '.join(wrong)} but reads back otherwise",
                provider=provider.type,
            )
        async with self.ctx.uow() as uow:
            await uow.vps.set_ptr(spec.name, done)
            await uow.vps.set_error(spec.name, None)
            for ip, ptr in done.items():
                uow.emit(events.RDNS_UPDATED, events.RdnsPayload(server=spec.name, ip=ip, ptr=ptr), source="vps")
            await uow.commit()
        return {"ptr": done}


class ServerRemovalStep(Step):
    """`vps.server:<name>` of a server we created that the desired state no longer has: deleted only
    with `--prune` (and apply's confirmation), and only if it still carries our labels."""

    component = "vps"

    def __init__(self, ctx: ReconcileContext, name: str, provider: VpsProvider | None, error: str, *, prune: bool):
        self.ctx, self.name, self.provider, self.error, self.prune = ctx, name, provider, error, prune
        self.key = f"vps.server:{name}"

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Find it by its labels; delete with --prune, else say so."""
        plan = self.new_plan()
        if self.provider is None:
            plan.error = f"server {self.name}: {self.error}"
            return plan
        try:
            found = await self.provider.find(self.name)
        except EmailInfraError as exc:
            plan.error = f"server {self.name}: {exc}"
            return plan
        plan.detail = found
        if found is None:
            plan.notes.append(f"server {self.name} is gone from {self.provider.type}; forgetting it")
            plan.housekeeping = True
        elif self.prune:
            old = {"hostname": found.provider_name, "ipv4": found.ipv4, "ipv6": found.ipv6, "id": found.id}
            plan.changes.append(StepChange("delete", f"server {self.name} at {self.provider.type}", old, None))
        else:
            plan.notes.append(
                f"server {self.name} ({found.ipv4}) is no longer in the desired state (left running; "
                "--prune deletes it and its IP)"
            )
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Delete, then forget its facts."""
        assert self.provider is not None
        found: VpsServer | None = plan.detail
        if found is not None and plan.changes:
            await self.provider.delete(found)
        async with self.ctx.uow() as uow:
            if found is None or plan.changes:
                await uow.vps.forget(self.name)
            if found is not None and plan.changes:
                payload = events.ServerDeletedPayload(server=self.name, provider=self.provider.type, id=found.id)
                uow.emit(events.SERVER_DELETED, payload, source="vps")
            await uow.commit()
        return {}
