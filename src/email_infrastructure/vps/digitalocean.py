"""DigitalOcean on the official `pydo` library (sync, so every call runs in a worker thread).

pydo can be pointed at another endpoint (`pydo.Client(token, endpoint=...)`), so we use it. Two
of its azure-core defaults are replaced: the retry policy retries a POST on 500/503/504 — a
droplet create sent twice makes two droplets (names are not unique) — so ours never retries a
POST on a 5xx and the provider looks the droplet up by tag first; and on a 429 it waits for
`ratelimit-reset` when DigitalOcean sends no Retry-After. Its bearer policy refuses plain http,
so a loopback endpoint (the tests' fake) gets the header from a plain headers policy instead.

Servers are marked by tags (vps/tags.py). Reverse DNS follows the droplet's name (an FQDN) for
its IPv4 and first IPv6 address: the droplet is created named by the hostname, and
`set_reverse_dns` renames it when the name differs. The API does not show PTRs, so `ptr` reports
what the name implies.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pydo
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy

from email_infrastructure.core.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    ProviderValidationError,
)
from email_infrastructure.core.logging import redact_text
from email_infrastructure.vps.provider import (
    MANAGED_LABEL,
    MANAGED_VALUE,
    SERVER_LABEL,
    Capabilities,
    Catalogue,
    NotOursError,
    QuotaExceededError,
    ServerRequest,
    ServerType,
    VpsServer,
    ownership_labels,
)
from email_infrastructure.vps.tags import MANAGED_TAG, labels_to_tags, server_tag, tags_to_labels
from email_infrastructure.vps.waiting import action_failed, create_once, one_of, poll_until

T = TypeVar("T")
DEFAULT_ENDPOINT = "https://api.digitalocean.com"
_STATUS = {"new": "creating", "active": "running", "off": "off", "archive": "off"}
CAPABILITIES = Capabilities(
    reverse_dns="name",
    # plain text; DigitalOcean documents 64 KiB (**unconfirmed** here)
    user_data_limit=64 * 1024,
    port25_default="blocked",
    port25_note=(
        "DigitalOcean blocks SMTP port 25 on new accounts and support does not lift it: relay or non-sending roles only"
    ),
)
#: what a 422 names, and the request field it is about
_FIELDS = {"size": "server_type", "region": "location", "image": "image"}


class _Retry(RetryPolicy[Any, Any]):
    """azure-core's retry without retrying a POST/PATCH on 5xx, and honouring `ratelimit-reset`."""

    def __init__(self, *, max_rate_wait: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_rate_wait = max_rate_wait

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        """No second create: a 5xx on POST may have created the droplet."""
        method = response.http_request.method.upper()
        if method in ("POST", "PATCH") and response.http_response.status_code >= 500:
            return False
        return bool(super().is_retry(settings, response))

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        """Retry-After, else the seconds until `ratelimit-reset` on a 429 (capped)."""
        given = super().get_retry_after(response)
        if given is not None or response.http_response.status_code != 429:
            return given
        reset = response.http_response.headers.get("ratelimit-reset")
        if reset is None or not reset.isdigit():
            return None
        return max(0.0, min(self.max_rate_wait, int(reset) - time.time())) + random.uniform(0, 0.1)


def _loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class DigitalOceanProvider:
    """Droplets, marked by tags, named by the mail hostname (which sets their PTR)."""

    type = "digitalocean"
    capabilities = CAPABILITIES

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        ssh_keys: tuple[str, ...] = (),
        name: str = "digitalocean",
        poll_interval: float = 5.0,
        page_size: int = 200,
        retry_backoff: float = 0.8,
        max_rate_wait: float = 60.0,
        request_timeout: int = 60,
    ) -> None:
        self.name = name
        self.ssh_keys = ssh_keys
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.retry_backoff = retry_backoff
        endpoint = (api_url or DEFAULT_ENDPOINT).rstrip("/")
        kwargs: dict[str, Any] = {}
        url = urlsplit(endpoint)
        if url.scheme == "http":
            if not _loopback(url.hostname):
                raise ConfigError(f"{name}: api_url {endpoint} is plain http; a token is only sent over https")
            kwargs["authentication_policy"] = HeadersPolicy({"Authorization": f"Bearer {token}"})
        retry = _Retry(max_rate_wait=max_rate_wait, retry_total=5, retry_backoff_factor=retry_backoff)
        self._client = pydo.Client(token, endpoint=endpoint, retry_policy=retry, timeout=request_timeout, **kwargs)

    # plumbing ------------------------------------------------------------------------------------
    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except HttpResponseError as exc:
            raise self._error(what, exc) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise ProviderTimeoutError(f"{what}: {type(exc).__name__}", provider=self.name) from None
        # pydo returns a documented 404 as its body instead of raising
        if isinstance(result, dict) and set(result) <= {"id", "message", "request_id"} and "message" in result:
            code = str(result.get("id"))
            cls = ProviderNotFoundError if code == "not_found" else ProviderError
            raise cls(redact_text(f"{what}: {result['message']}"), provider=self.name, code=code)
        return result

    def _error(self, what: str, exc: HttpResponseError) -> ProviderError:
        status = int(exc.status_code or 0)
        code, text = None, str(exc.reason or "")
        if exc.response is not None:
            try:
                body = json.loads(exc.response.text())
                code, text = body.get("id"), str(body.get("message", text))
            except (ValueError, AttributeError):
                pass
        message = redact_text(f"{what}: HTTP {status}: {text}")
        kwargs: dict[str, Any] = {"provider": self.name, "status": status, "code": code}
        if status in (401, 403):
            return ProviderAuthError(message, **kwargs)
        if status == 404:
            return ProviderNotFoundError(message, **kwargs)
        if status == 422 and "limit" in text.lower() and "exceed" in text.lower():
            return QuotaExceededError(message, **kwargs)
        if status in (400, 422):
            return ProviderValidationError(message, **kwargs)
        if status == 429:
            return ProviderRateLimitError(message, **kwargs)
        if status >= 500:
            return ProviderServerError(message, **kwargs)
        return ProviderError(message, **kwargs)

    async def _all(self, what: str, key: str, fn: Callable[..., Any], **params: Any) -> list[dict[str, Any]]:
        """Every page: `page`/`per_page` until `links.pages.next` is absent."""
        out: list[dict[str, Any]] = []
        number = 1
        while True:
            body = await self._call(what, fn, per_page=self.page_size, page=number, **params)
            out.extend(body.get(key) or [])
            if not ((body.get("links") or {}).get("pages") or {}).get("next"):
                return out
            number += 1

    async def _wait_action(self, action_id: int, command: str, timeout: float) -> None:
        async def fetch() -> dict[str, Any]:
            body = await self._call(f"GET /v2/actions/{action_id}", self._client.actions.get, action_id)
            return dict(body["action"])

        action = await poll_until(
            fetch,
            lambda a: a.get("status") != "in-progress",
            timeout=timeout,
            interval=self.poll_interval,
            what=f"action {command} ({action_id})",
            provider=self.name,
            command=command,
        )
        if action.get("status") == "errored":
            raise action_failed(
                self.name, command, "errored", f"action {action_id} on droplet {action.get('resource_id')}"
            )

    def _server(self, droplet: dict[str, Any]) -> VpsServer:
        labels = tags_to_labels(droplet.get("tags") or [])
        nets = droplet.get("networks") or {}
        ipv4 = next((n["ip_address"] for n in nets.get("v4") or [] if n.get("type") == "public"), None)
        ipv6 = next((n["ip_address"] for n in nets.get("v6") or [] if n.get("type") == "public"), None)
        name = str(droplet.get("name", ""))
        ptr = {ip: name for ip in (ipv4, ipv6) if ip and "." in name}
        status = _STATUS.get(str(droplet.get("status")), "error")
        if status == "running" and ipv4 is None:
            status = "creating"
        return VpsServer(
            id=str(droplet["id"]),
            name=labels.get(SERVER_LABEL, ""),
            provider_name=name,
            status=status,
            ipv4=ipv4,
            ipv6=ipv6,
            server_type=str(droplet.get("size_slug", "")),
            location=str((droplet.get("region") or {}).get("slug", "")),
            image=str((droplet.get("image") or {}).get("slug") or ""),
            ptr=ptr,
            labels=labels,
        )

    async def _droplets(self, tag: str) -> list[dict[str, Any]]:
        return await self._all("GET /v2/droplets", "droplets", self._client.droplets.list, tag_name=tag)

    async def _get(self, droplet_id: str) -> dict[str, Any]:
        body = await self._call(f"GET /v2/droplets/{droplet_id}", self._client.droplets.get, int(droplet_id))
        return dict(body["droplet"])

    async def _wait_running(self, droplet_id: str, timeout: float) -> VpsServer:
        droplet = await poll_until(
            lambda: self._get(droplet_id),
            lambda d: self._server(d).status == "running",
            timeout=timeout,
            interval=self.poll_interval,
            what=f"droplet {droplet_id} becoming active",
            provider=self.name,
            command="create",
        )
        return self._server(droplet)

    # the protocol -------------------------------------------------------------------------------
    async def catalogue(self) -> Catalogue:
        """Sizes (with their regions), regions, and distribution images by slug."""
        sizes = await self._all("GET /v2/sizes", "sizes", self._client.sizes.list)
        regions = await self._all("GET /v2/regions", "regions", self._client.regions.list)
        images = await self._all("GET /v2/images", "images", self._client.images.list, type="distribution")
        return Catalogue(
            server_types={
                str(s["slug"]): ServerType(
                    name=str(s["slug"]),
                    cores=int(s.get("vcpus", 0)),
                    memory_mib=int(s.get("memory", 0)),
                    disk_gb=int(s.get("disk", 0)),
                    locations=frozenset(s["regions"]) if "regions" in s else None,
                )
                for s in sizes
                if s.get("available", True)
            },
            locations=frozenset(str(r["slug"]) for r in regions if r.get("available", True)),
            images=frozenset(str(i["slug"]) for i in images if i.get("slug")),
        )

    async def find(self, name: str) -> VpsServer | None:
        """Our droplet called `name`, by its `email-infra-server:NAME` tag (and our managed tag)."""
        found = [d for d in await self._droplets(server_tag(name)) if MANAGED_TAG in (d.get("tags") or [])]
        one_of(self.name, name, [str(d["id"]) for d in found])
        return self._server(found[0]) if found else None

    async def list_ours(self) -> list[VpsServer]:
        """Every droplet tagged `email-infra`."""
        return [self._server(d) for d in await self._droplets(MANAGED_TAG)]

    async def create(self, request: ServerRequest, *, timeout: float = 600.0) -> VpsServer:
        """Create (202), poll its create action, then wait until it is active with its addresses.

        A 5xx or a lost answer is followed by a look-up by tag before the create is sent again
        (only a 503 or an unanswered request is retried, and only when the look-up finds nothing).
        """
        existing = await self.find(request.name)
        if existing is not None:
            return existing if existing.status == "running" else await self._wait_running(existing.id, timeout)
        size = len(request.user_data.encode())
        if size > CAPABILITIES.user_data_limit:
            raise ProviderValidationError(
                f"user data of {request.hostname} is {size} bytes; "
                f"DigitalOcean accepts at most {CAPABILITIES.user_data_limit}",
                provider=self.name,
            )
        body: dict[str, Any] = {
            "name": request.hostname,
            "region": request.location,
            "size": request.server_type,
            "image": request.image,
            "ssh_keys": list(request.ssh_keys or self.ssh_keys),
            "user_data": request.user_data,
            "ipv6": True,
            "tags": labels_to_tags({**request.labels, **ownership_labels(request.name)}),
            "backups": False,
            "monitoring": False,
        }
        try:
            created = await create_once(
                lambda: self._call("POST /v2/droplets", self._client.droplets.create, body),
                lambda: self.find(request.name),
                attempts=4,
                backoff=self.retry_backoff,
            )
        except ProviderValidationError as exc:
            raise self._refused(request, exc) from None
        if isinstance(created, VpsServer):
            return await self._wait_running(created.id, timeout)
        droplet = created["droplet"]
        for link in (created.get("links") or {}).get("actions") or []:
            if link.get("rel") == "create":
                await self._wait_action(int(link["id"]), "create", timeout)
        return await self._wait_running(str(droplet["id"]), timeout)

    def _refused(self, request: ServerRequest, exc: ProviderError) -> ProviderError:
        sent = {"server_type": request.server_type, "location": request.location, "image": request.image}
        text = str(exc)
        bad = [f"{word} {sent[field]!r}" for word, field in _FIELDS.items() if f"invalid {word}" in text.lower()]
        what = ", ".join(bad) if bad else ", ".join(f"{k} {v!r}" for k, v in sent.items())
        return ProviderValidationError(
            f"cannot create {request.hostname}: {what} refused: {text}",
            provider=self.name,
            status=exc.status,
            code=exc.code,
        )

    async def set_reverse_dns(self, server: VpsServer, ip: str, ptr: str, *, timeout: float = 120.0) -> None:
        """Rename the droplet to `ptr` (an FQDN) when its name differs: that is DigitalOcean's PTR."""
        droplet = await self._get(server.id)
        current = self._server(droplet)
        nets = droplet.get("networks") or {}
        first_v6 = next((n["ip_address"] for n in nets.get("v6") or [] if n.get("type") == "public"), None)
        v4 = {n["ip_address"] for n in nets.get("v4") or []}
        if ip not in v4 and ip != first_v6:
            where = "IPv6 beyond the first" if ":" in ip else "an address not"
            raise ProviderValidationError(
                f"cannot set reverse DNS of {ip} on droplet {current.provider_name}: {where} on this droplet "
                "(DigitalOcean sets PTR only for its IPv4 and first IPv6 address)",
                provider=self.name,
            )
        if "." not in ptr:
            raise ProviderValidationError(
                f"reverse DNS {ptr!r} is not an FQDN: DigitalOcean would set no PTR", provider=self.name
            )
        if current.provider_name == ptr:
            return
        body = await self._call(
            f"POST /v2/droplets/{server.id}/actions",
            self._client.droplet_actions.post,
            int(server.id),
            {"type": "rename", "name": ptr},
        )
        await self._wait_action(int(body["action"]["id"]), "rename", timeout)

    async def delete(self, server: VpsServer, *, timeout: float = 300.0) -> None:
        """Delete after re-reading its tags; wait until the droplet is gone."""
        droplet = await self._get(server.id)
        if tags_to_labels(droplet.get("tags") or []).get(MANAGED_LABEL) != MANAGED_VALUE:
            raise NotOursError(
                f"refusing to delete droplet {droplet.get('name')} ({server.id}): it has no {MANAGED_TAG} tag",
                provider=self.name,
            )
        await self._call(f"DELETE /v2/droplets/{server.id}", self._client.droplets.destroy, int(server.id))

        async def gone() -> bool:
            try:
                await self._get(server.id)
            except ProviderNotFoundError:
                return True
            return False

        await poll_until(
            gone,
            bool,
            timeout=timeout,
            interval=self.poll_interval,
            what=f"deleting droplet {server.id}",
            provider=self.name,
            command="destroy",
        )

    async def aclose(self) -> None:
        """Close the library's HTTP session."""
        await asyncio.to_thread(self._client.close)
