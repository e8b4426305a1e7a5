"""The VPS part of the graph: what is known of each server before planning, and its steps."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.inventory import Inventory, ServerSpec
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.core.secret_names import API_KEY_NAME, api_key_owner
from email_infrastructure.dns.desired import DesiredZone
from email_infrastructure.monitoring.resolver import Resolver
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Step
from email_infrastructure.reconcile.vps_steps import (
    Resolve,
    ReverseDnsStep,
    ServerFacts,
    ServerRemovalStep,
    ServerStep,
    new_api_key,
)
from email_infrastructure.vps.catalogue import cached_catalogue
from email_infrastructure.vps.config import VpsSettings
from email_infrastructure.vps.provider import VpsProvider
from email_infrastructure.vps.registry import build_from_spec


def vps_provider(inventory: Inventory, name: str, built: dict[str, VpsProvider]) -> VpsProvider:
    """The VPS provider `name` (built once); raises when it cannot be used."""
    if name not in built:
        spec = inventory.providers.vps.get(name)
        if spec is None:
            raise EmailInfraError(f"no VPS provider named {name!r}")
        built[name] = build_from_spec(name, spec)
    return built[name]


KeyGetter = Callable[[], Awaitable[str | None]]


def _api_key(ctx: ReconcileContext, inventory: Inventory, spec: ServerSpec) -> tuple[KeyGetter | None, str]:
    """(async key getter or None, plan note): the mail provider's declared key, else one we generate."""
    backend = spec.mail_backend
    mail = inventory.providers.mail.get(backend) if backend else None
    if backend is None or mail is None:
        return None, ""
    if not spec.api_allow_from:
        return None, (
            f"server {spec.name}: no api_allow_from, so its Mailcow API will accept no key: declare the "
            "address(es) this control plane connects from"
        )
    declared = mail.settings.get("api_key")
    if declared:

        async def from_env() -> str | None:
            return resolve_secret(str(declared))

        return from_env, f"server {spec.name}: its Mailcow API key is {backend}'s declared {declared}"

    async def generated() -> str | None:
        # kept before the server is created: a run killed after creating it still holds its key
        async with ctx.uow() as uow:
            store = uow.secrets()
            key = await store.get(api_key_owner(backend), API_KEY_NAME)
            if key is None:
                key = new_api_key()
                await store.put(api_key_owner(backend), API_KEY_NAME, key)
                await uow.commit()
        return key

    return generated, f"server {spec.name}: its Mailcow API key is generated at apply and kept in the vault"


async def server_facts(
    ctx: ReconcileContext, inventory: Inventory, built: dict[str, VpsProvider], used: set[str] | None
) -> dict[str, ServerFacts]:
    """Each server a VPS provider creates (those `used` by the planned domains, when given): found
    by its labels, its provider's catalogue (cached), what we stored about it."""
    stored = await ctx.vps_servers()
    out: dict[str, ServerFacts] = {}
    for spec in inventory.servers:
        if spec.provider is None or (used is not None and spec.name not in used):
            continue
        facts = ServerFacts(spec, None)
        facts.api_key, facts.api_key_note = _api_key(ctx, inventory, spec)
        if (row := stored.get(spec.name)) is not None:
            _, facts.stored_port25, facts.last_error = row
        try:
            facts.provider = vps_provider(inventory, spec.provider, built)
            settings = inventory.providers.vps[spec.provider].settings
            facts.ssh_keys = tuple(VpsSettings.model_validate(settings).ssh_keys)
        except EmailInfraError as exc:
            facts.error = f"server {spec.name}: {exc}"
        out[spec.name] = facts

    async def look(facts: ServerFacts) -> None:
        provider = facts.provider
        if provider is None:
            return
        try:
            facts.found = await provider.find(facts.spec.name)
        except EmailInfraError as exc:
            facts.error = f"server {facts.spec.name}: {exc}"
            return
        endpoint = str(inventory.providers.vps[facts.spec.provider or ""].settings.get("api_url") or "")
        key = f"{provider.type}-{hashlib.sha256(endpoint.encode()).hexdigest()[:12]}"
        try:
            facts.catalogue = await cached_catalogue(provider, ctx.data_dir / "cache", key)
        except EmailInfraError as exc:
            facts.api_key_note = "; ".join(
                n for n in (facts.api_key_note, f"{provider.type} catalogue unavailable ({exc})") if n
            )

    await asyncio.gather(*(look(f) for f in out.values()))
    return out


def _resolver(nameservers: Sequence[str]) -> Resolve:
    async def resolve(name: str, rtype: str) -> set[str]:
        resolver = Resolver.from_strings(list(nameservers))
        try:
            answer = await resolver.query(name, rtype)
            return {str(v) for v in answer.values()} if answer.found else set()
        finally:
            await resolver.close()

    return resolve


def vps_steps(
    ctx: ReconcileContext,
    facts: Mapping[str, ServerFacts],
    zones: Mapping[str, DesiredZone],
    nameservers: Sequence[str],
) -> list[Step]:
    """Per server: create it, then its reverse DNS (after the zone publishing its A record)."""
    steps: list[Step] = []
    resolve = _resolver(nameservers)
    for facts_of in facts.values():
        hostname = facts_of.spec.hostname
        zone = next((hostname[len(hostname) - len(z) :] for z in _suffixes(hostname) if z in zones), None)
        steps.append(ServerStep(ctx, facts_of))
        steps.append(ReverseDnsStep(ctx, facts_of, resolve, zone_step=f"dns.zone:{zone}" if zone else None))
    return steps


def _suffixes(name: str) -> list[str]:
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


async def server_removals(
    ctx: ReconcileContext,
    inventory: Inventory,
    built: dict[str, VpsProvider],
    declared: set[str],
    *,
    prune: bool,
    wanted: bool,
) -> list[Step]:
    """Servers we created that the desired state no longer has (none when planning some domains only)."""
    if wanted:
        return []
    steps: list[Step] = []
    for name, (provider_name, _, _) in sorted((await ctx.vps_servers()).items()):
        if name in declared or any(s.name == name and s.provider for s in inventory.servers):
            continue
        try:
            provider: VpsProvider | None = vps_provider(inventory, provider_name, built)
            error = ""
        except EmailInfraError as exc:
            provider, error = None, f"we created it at {provider_name!r}, which cannot be used: {exc}"
        steps.append(ServerRemovalStep(ctx, name, provider, error, prune=prune))
    return steps
