"""Cloudflare API v4: zones by name (cached), paginated listing, writes through the batch endpoint.

Why httpx and not the official `cloudflare` SDK: the SDK's auto-pager asks for one empty page past
the end of every listing (two calls per zone where one suffices), honours Retry-After only up to
60 s, and keeps its own retry loop; our shared VendorClient gives one choke point with a token
bucket shared by every zone of a token (1,200 requests / 5 minutes), which the budget needs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from email_infrastructure.core.cache import shared, shared_limiter
from email_infrastructure.core.errors import ProviderError, ProviderNotFoundError, VerificationError
from email_infrastructure.core.http import Limiter, RateLimiter, VendorClient
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.dns.config import CloudflareSettings
from email_infrastructure.dns.desired import REDIRECT, DesiredZone
from email_infrastructure.dns.plan import Action, Change, ExtraChange
from email_infrastructure.dns.providers.base import DnsProvider, ProviderContext, vendor_answers
from email_infrastructure.dns.records import Record, RecordError, parse_txt, txt_presentation

_log = logging.getLogger(__name__)
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
#: "record already exists" / "record does not exist": someone changed the zone since we read it
STALE_VIEW = frozenset({81057, 81058, 81044})
BAD_ZONE_ID = frozenset({7003, 7000})
LIST_PAGE_SIZE = 5000
REDIRECT_PHASE = "http_request_dynamic_redirect"
RULE_FIELDS = frozenset({"ref", "description", "expression", "action", "action_parameters", "enabled"})
ZONES_PAGE_SIZE = 50
#: seconds a zone id stays in the shared Redis cache (a stale one is looked up again on its 404)
ZONE_ID_TTL = 7 * 86_400
#: the ownership entry (name = zone) that says we created the zone's redirect rule
REDIRECT_RULE = "REDIRECT"


class _CloudflareClient(VendorClient):
    provider = "cloudflare"

    def error_message(self, response: httpx.Response) -> str:
        """`code: message` of every error in the envelope."""
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            return super().error_message(response)
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or response.reason_phrase

    def error_details(self, response: httpx.Response) -> tuple[str | None, list[dict[str, Any]]]:
        """Cloudflare's `errors` array: [{"code": 81057, "message": "…"}, …]."""
        try:
            errors = response.json().get("errors") or []
            details = [{"code": int(e["code"]), "message": str(e.get("message", ""))} for e in errors]
        except (ValueError, AttributeError, KeyError, TypeError):
            return None, []
        return (str(details[0]["code"]) if details else None), details


@dataclass(frozen=True)
class _Live:
    id: str
    value: str
    ttl: int
    proxied: bool


def _rule_ref(zone: str) -> str:
    return f"email_infra_redirect_{zone}"


def _codes(exc: ProviderError) -> set[int]:
    return {int(d["code"]) for d in exc.details if isinstance(d.get("code"), int)}


class CloudflareProvider(DnsProvider[CloudflareSettings]):
    """Cloudflare zones; records are never proxied (mail and tracking hosts must be DNS-only)."""

    type = "cloudflare"
    settings_model = CloudflareSettings

    def __init__(self, name: str, settings: CloudflareSettings, context: ProviderContext) -> None:
        super().__init__(name, settings, context)
        #: one bucket per API token (the budget is per user, shared by every zone): in the context's
        #: registry when it has one (the App's), else this provider's own
        self._limiters: dict[str, Any] = context.limiters if context.limiters is not None else {}
        self._client: _CloudflareClient | None = None
        self._zone_ids: dict[str, str] | None = None
        self._live: dict[str, dict[tuple[str, str], list[_Live]]] = {}

    @property
    def client(self) -> _CloudflareClient:
        """The API client, created on first use (the token is resolved then)."""
        if self._client is None:
            token = resolve_secret(self.settings.api_token)
            bucket = hashlib.sha256(token.encode()).hexdigest()
            # across processes when the deployment shares a Redis, else one bucket per registry
            limiter: Limiter = shared_limiter(
                f"cloudflare:{bucket}", self.settings.requests_per_5_minutes, 300.0
            ) or self._limiters.setdefault(bucket, RateLimiter(self.settings.requests_per_5_minutes, 300.0))
            self._client = _CloudflareClient(
                self.settings.api_url.rstrip("/"),
                headers={"Authorization": f"Bearer {token}"},
                rate_limiter=limiter,
            )
            self._client.provider = self.name
        return self._client

    # zone ids ---------------------------------------------------------------------------------
    @property
    def _cache_path(self) -> Any:
        return self.context.data_dir / "cache" / f"cloudflare-{self.name}-zones.json"

    def _cache(self) -> dict[str, str]:
        if self._zone_ids is None:
            try:
                self._zone_ids = dict(json.loads(self._cache_path.read_text()))
            except (OSError, ValueError, TypeError):
                self._zone_ids = {}
        return self._zone_ids

    async def _save_cache(self, zones: dict[str, str]) -> None:
        """Keep new ids: in Redis when the deployment has one (every worker sees them), else the file."""
        redis_cache = shared(f"cloudflare:{self.name}:zones")
        if redis_cache is not None:
            for zone, zone_id in zones.items():
                await redis_cache.set(zone, zone_id, ZONE_ID_TTL)
            return
        path = self._cache_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self._cache(), sort_keys=True))

    async def _cached(self, zone: str) -> str | None:
        cache = self._cache()
        if zone not in cache and (redis_cache := shared(f"cloudflare:{self.name}:zones")) is not None:
            found = await redis_cache.get(zone)
            if found is not None:
                cache[zone] = found
        return cache.get(zone)

    async def _lookup(self, zone: str) -> str | None:
        body = await self.client.json("GET", "/zones", params={"name": zone, "per_page": 5})
        result = body.get("result") or []
        match = next((z for z in result if str(z.get("name", "")).lower() == zone), None)
        return str(match["id"]) if match else None

    async def prefetch(self, zones: list[str]) -> None:
        """Resolve many unknown zone ids by listing zones (50 a page) instead of one call each."""
        cache = self._cache()
        missing = {z for z in zones if await self._cached(z) is None}
        if len(missing) <= ZONES_PAGE_SIZE:
            return
        found: dict[str, str] = {}
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "per_page": ZONES_PAGE_SIZE}
            if self.settings.account_id:
                params["account.id"] = self.settings.account_id
            body = await self.client.json("GET", "/zones", params=params)
            for item in body.get("result") or []:
                name = str(item.get("name", "")).lower()
                if name in missing:
                    cache[name] = found[name] = str(item["id"])
            info = body.get("result_info") or {}
            if not body.get("result") or page >= int(info.get("total_pages") or 1):
                break
            page += 1
        await self._save_cache(found)

    async def zone_id(self, zone: str, *, refresh: bool = False) -> str:
        """The zone's id: looked up by name once, then cached (also across runs)."""
        cache = self._cache()
        if refresh or await self._cached(zone) is None:
            found = await self._lookup(zone)
            if found is None:
                cache.pop(zone, None)
                if (redis_cache := shared(f"cloudflare:{self.name}:zones")) is not None:
                    await redis_cache.delete(zone)
                raise ProviderNotFoundError(
                    f"zone {zone} does not exist in this Cloudflare account", provider=self.name
                )
            cache[zone] = found
            await self._save_cache({zone: found})
        return cache[zone]

    async def zone_exists(self, zone: str) -> bool:
        """True when the account has the zone (answered from the id cache when possible)."""
        try:
            await self.zone_id(zone)
        except ProviderNotFoundError:
            return False
        return True

    async def nameservers(self, zone: str) -> list[str]:
        """The pair Cloudflare assigned to the zone (`name_servers`): what the registrar must delegate to."""
        body = await self.client.json("GET", "/zones", params={"name": zone, "per_page": 5})
        with vendor_answers(self.name):
            match = next((z for z in body.get("result") or [] if str(z.get("name", "")).lower() == zone), None)
            if match is None:
                raise ProviderNotFoundError(
                    f"zone {zone} does not exist in this Cloudflare account", provider=self.name
                )
            return [str(ns) for ns in match.get("name_servers") or []]

    # reading ----------------------------------------------------------------------------------
    async def _fetch(self, zone: str) -> list[dict[str, Any]]:
        zone_id = await self.zone_id(zone)
        try:
            return await self._pages(zone_id)
        except ProviderError as exc:
            if not (_codes(exc) & BAD_ZONE_ID or isinstance(exc, ProviderNotFoundError)):
                raise
        # A cached id went stale (zone deleted and re-added): look it up once more.
        return await self._pages(await self.zone_id(zone, refresh=True))

    async def _pages(self, zone_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.client.json(
                "GET",
                f"/zones/{zone_id}/dns_records",
                params={"page": page, "per_page": LIST_PAGE_SIZE},
            )
            items.extend(body.get("result") or [])
            info = body.get("result_info") or {}
            if not body.get("result") or page >= int(info.get("total_pages") or 1):
                return items
            page += 1

    @staticmethod
    def _value(item: dict[str, Any]) -> str:
        rtype, content, data = item["type"], str(item.get("content", "")), item.get("data") or {}
        if rtype == "TXT":
            return parse_txt(content)
        if rtype == "MX":
            return f"{item.get('priority', 0)} {content}"
        if rtype == "SRV":
            if data:
                return (
                    f"{data.get('priority', 0)} {data.get('weight', 0)} {data.get('port', 0)} {data.get('target', '')}"
                )
            return f"{item.get('priority', 0)} {content}"
        if rtype == "CAA" and data:
            return f"{data.get('flags', 0)} {data.get('tag', '')} {data.get('value', '')}"
        return content

    async def list_records(self, zone: str) -> list[Record]:
        """Group Cloudflare's single records into RRsets; proxied or automatic TTL reads as 1."""
        try:
            items = await self._fetch(zone)
        except ProviderNotFoundError:
            self._live[zone] = {}
            raise
        live: dict[tuple[str, str], list[_Live]] = {}
        for item in items:
            name, rtype = str(item["name"]).rstrip(".").lower(), str(item["type"])
            if rtype == "NS" and name == zone:
                continue
            try:
                record = Record.make(name, rtype, [self._value(item)], 3600)
            except RecordError as exc:
                _log.warning("%s: skipping unreadable record %s %s: %s", zone, name, rtype, exc)
                continue
            proxied = bool(item.get("proxied"))
            live.setdefault((name, rtype), []).append(
                _Live(str(item["id"]), record.values[0], int(item.get("ttl") or 1), proxied)
            )
        self._live[zone] = live
        records = []
        for (name, rtype), entries in live.items():
            # Mixed TTLs or proxy flags inside one RRset read as the lowest / any: the plan rewrites them.
            records.append(
                Record(
                    name=name,
                    type=rtype,
                    values=tuple(sorted({e.value for e in entries})),
                    ttl=min(e.ttl for e in entries),
                    proxied=any(e.proxied for e in entries),
                )
            )
        return sorted(records)

    # writing ----------------------------------------------------------------------------------
    def _body(self, record: Record, value: str) -> dict[str, Any]:
        body: dict[str, Any] = {"type": record.type, "name": record.name, "ttl": record.ttl}
        if record.type == "TXT":
            body["content"] = txt_presentation(value)
        elif record.type == "MX":
            prio, host = value.split()
            body |= {"content": host, "priority": int(prio)}
        elif record.type == "SRV":
            prio, weight, port, target = value.split()
            body["data"] = {
                "priority": int(prio),
                "weight": int(weight),
                "port": int(port),
                "target": target,
            }
        elif record.type == "CAA":
            flags, tag, text = value.split(" ", 2)
            body["data"] = {"flags": int(flags), "tag": tag, "value": text}
        else:
            body["content"] = value
        if record.type in PROXIABLE:
            body["proxied"] = record.proxied
        return body

    def _operations(self, zone: str, changes: list[Change]) -> dict[str, list[dict[str, Any]]]:
        live = self._live.get(zone, {})
        ops: dict[str, list[dict[str, Any]]] = {"deletes": [], "patches": [], "posts": []}
        for change in changes:
            entries = live.get(change.record.key, [])
            if change.action is Action.DELETE:
                ops["deletes"] += [{"id": e.id} for e in entries]
                continue
            new = change.new
            assert new is not None
            kept = {e.value: e for e in entries if e.value in new.values}
            ops["deletes"] += [{"id": e.id} for e in entries if e.value not in new.values]
            for entry in kept.values():
                if entry.ttl != new.ttl or entry.proxied != new.proxied:
                    patch: dict[str, Any] = {"id": entry.id, "ttl": new.ttl}
                    if new.type in PROXIABLE:
                        patch["proxied"] = new.proxied
                    ops["patches"].append(patch)
            ops["posts"] += [self._body(new, v) for v in new.values if v not in kept]
            # a duplicate value listed twice at Cloudflare: drop the extra copies
            seen: set[str] = set()
            for entry in entries:
                if entry.value in kept and entry.value in seen:
                    ops["deletes"].append({"id": entry.id})
                seen.add(entry.value)
        return ops

    async def apply_changes(self, zone: str, changes: list[Change]) -> None:
        """Batch calls of at most `batch_limit` operations, each atomic at Cloudflare."""
        if not changes:
            return
        if zone not in self._live:
            await self.list_records(zone)
        try:
            await self._send(zone, self._operations(zone, changes))
        except ProviderError as exc:
            if not _codes(exc) & STALE_VIEW:
                raise
            # The zone changed under us (a record appeared or vanished): re-read, send what is left.
            _log.info("%s: Cloudflare reports a changed zone (%s); re-reading before one retry", zone, exc)
            current = {r.key: r for r in await self.list_records(zone)}
            remaining = []
            for change in changes:
                now = current.get(change.record.key)
                if change.action is Action.DELETE and now is not None:
                    remaining.append(Change(Action.DELETE, old=now))
                elif change.new is not None and now != change.new:
                    action = Action.CREATE if now is None else Action.UPDATE
                    remaining.append(Change(action, old=now, new=change.new))
            await self._send(zone, self._operations(zone, remaining))

    async def _send(self, zone: str, ops: dict[str, list[dict[str, Any]]]) -> None:
        zone_id = await self.zone_id(zone)
        flat = [(kind, op) for kind in ("deletes", "patches", "posts") for op in ops[kind]]
        limit = self.settings.batch_limit
        for start in range(0, len(flat), limit):
            chunk: dict[str, list[dict[str, Any]]] = {"deletes": [], "patches": [], "posts": []}
            for kind, op in flat[start : start + limit]:
                chunk[kind].append(op)
            await self.client.request("POST", f"/zones/{zone_id}/dns_records/batch", json=chunk)
        self._live.pop(zone, None)

    def prepare(self, record: Record) -> Record:
        """The apex/www records of a redirect are proxied (TTL automatic) so the redirect rule sees
        their HTTP traffic; every other record stays DNS-only."""
        if record.note == REDIRECT and record.type in PROXIABLE:
            return dataclasses.replace(record, proxied=True, ttl=1)
        return record

    def notes(self, desired: DesiredZone) -> list[str]:
        """Cloudflare specifics worth a line in the plan."""
        notes = ["Cloudflare: records are DNS-only (proxied: false) except the apex/www of a redirect"]
        if desired.redirect:
            notes.append(
                f"redirect: a cloudflare rule sends {desired.zone} and www.{desired.zone} to {desired.redirect}"
            )
        return notes

    async def extra_changes(self, desired: DesiredZone, owned: set[tuple[str, str]]) -> list[ExtraChange]:
        """Our Single Redirect rule. It is read only when one is wanted or we made one: a zone
        without a redirect costs no extra call."""
        key = (desired.zone, REDIRECT_RULE)
        if not desired.redirect and key not in owned:
            return []
        current = await self.redirect_target(desired.zone)
        if current == desired.redirect:
            return []
        return [ExtraChange("redirect", key, current, desired.redirect)]

    async def apply_extra_changes(self, zone: str, changes: list[ExtraChange]) -> None:
        """Set (or remove) the redirect rule, then read it back."""
        for change in changes:
            await self.set_redirect(zone, change.new)
            if await self.redirect_target(zone) != change.new:
                raise VerificationError(f"{zone}: the redirect rule reads back differently", provider=self.name)

    # redirect rule (Rulesets API, phase http_request_dynamic_redirect) -------------------------
    def _entrypoint(self, zone_id: str) -> str:
        return f"/zones/{zone_id}/rulesets/phases/{REDIRECT_PHASE}/entrypoint"

    async def _rules(self, zone: str) -> list[dict[str, Any]]:
        try:
            body = await self.client.json("GET", self._entrypoint(await self.zone_id(zone)))
        except ProviderNotFoundError:
            return []  # no entry point ruleset yet
        return list((body.get("result") or {}).get("rules") or [])

    async def redirect_target(self, zone: str) -> str | None:
        """The target of our rule (found by its ref), if any."""
        for rule in await self._rules(zone):
            if rule.get("ref") == _rule_ref(zone):
                return str(rule["action_parameters"]["from_value"]["target_url"]["value"])
        return None

    async def set_redirect(self, zone: str, target: str | None) -> None:
        """PUT the entry point with every other rule kept as it is and ours replaced or removed."""
        rules = [r for r in await self._rules(zone) if r.get("ref") != _rule_ref(zone)]
        # Rules read back carry server-set fields; send only what a rule definition holds.
        keep = [{k: v for k, v in r.items() if k in RULE_FIELDS} for r in rules]
        if target is not None:
            keep.append(
                {
                    "ref": _rule_ref(zone),
                    "description": f"email-infra: redirect {zone} and www.{zone}",
                    "expression": f'(http.host eq "{zone}") or (http.host eq "www.{zone}")',
                    "action": "redirect",
                    "action_parameters": {
                        "from_value": {
                            "status_code": 301,
                            "target_url": {"value": target},
                            "preserve_query_string": True,
                        }
                    },
                    "enabled": True,
                }
            )
        zone_id = await self.zone_id(zone)
        await self.client.json("PUT", self._entrypoint(zone_id), json={"rules": keep})

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
