"""Vultr API v2: a small httpx client on the shared VendorClient (Vultr has no official Python SDK).

Servers are marked by tags (see vps/tags.py). Images are named the way users write them:
`debian-12` (the OS family and version of an x64 OS; `debian-12-aarch64` for other
architectures), the OS's exact name (`Debian 12 x64 (bookworm)`) or its numeric `os_id`. There are
no action objects: an instance is ready when `status` is `active`, `server_status` is `ok` and
`main_ip` is no longer `0.0.0.0`. Vultr's own Ansible collection is content with a
`server_status` other than `none`/`locked` (`installingbooting` included); we wait for `ok`, the
OS booted. The field's values are **unconfirmed** in Vultr's documentation.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from email_infrastructure.core.errors import (
    ProviderError,
    ProviderNotFoundError,
    ProviderValidationError,
)
from email_infrastructure.core.http import RateLimiter, RetryPolicy, VendorClient
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
from email_infrastructure.vps.waiting import create_once, one_of, poll_until

DEFAULT_ENDPOINT = "https://api.vultr.com"
#: the `main_ip` of an instance that has no address yet
_UNASSIGNED = "0.0.0.0"  # noqa: S104  # a value Vultr reports, not an address we bind
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: the account's instance limit: Vultr answers 400 with words like these (**unconfirmed** text)
_QUOTA = re.compile(r"maximum number|limit|quota", re.I)
_STATUS = {"pending": "creating", "active": "running", "suspended": "off", "resizing": "running"}
CAPABILITIES = Capabilities(
    reverse_dns="api",
    # base64 of the cloud-init (the limit itself is **unconfirmed**)
    user_data_limit=64 * 1024,
    port25_default="blocked",
    port25_note="Vultr blocks outbound 25 on new accounts; open a ticket (often refused for new accounts)",
)


def os_slug(os_: dict[str, Any]) -> str:
    """`Debian 12 x64 (bookworm)` → `debian-12`; other architectures get `-<arch>`."""
    family = str(os_.get("family") or str(os_.get("name", "")).split(" ")[0]).lower()
    version = re.search(r"\b(\d+(?:\.\d+)*)\b", str(os_.get("name", "")))
    slug = f"{family}-{version.group(1)}" if version else family
    arch = str(os_.get("arch") or "x64")
    return slug if arch == "x64" else f"{slug}-{arch}"


class _VultrClient(VendorClient):
    provider = "vultr"

    def error_message(self, response: httpx.Response) -> str:
        """Vultr's `{"error": "...", "status": N}`."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:200] or response.reason_phrase
        if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
            return str(body["error"])
        return response.reason_phrase


class VultrProvider:
    """Vultr instances, marked by tags, reverse DNS by `ipv4/reverse` and `ipv6/reverse`."""

    type = "vultr"
    capabilities = CAPABILITIES

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        ssh_keys: tuple[str, ...] = (),
        name: str = "vultr",
        poll_interval: float = 5.0,
        page_size: int = 100,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.ssh_keys = ssh_keys
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self._client = _VultrClient(
            (api_url or DEFAULT_ENDPOINT).rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            # "Vultr limits API calls to 30 calls per second"
            rate_limiter=RateLimiter(30, 1.0),
            retry=self.retry,
            transport=transport,
        )
        self._client.provider = name
        self._oses: list[dict[str, Any]] | None = None

    # plumbing ------------------------------------------------------------------------------------
    async def _all(self, path: str, key: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated list (`meta.links.next` until it is empty)."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            query = {**(params or {}), "per_page": str(self.page_size)}
            if cursor:
                query["cursor"] = cursor
            body = await self._client.json("GET", path, params=query)
            out.extend(body.get(key) or [])
            cursor = ((body.get("meta") or {}).get("links") or {}).get("next") or ""
            if not cursor:
                return out

    async def _ptr(self, instance: dict[str, Any]) -> dict[str, str]:
        if instance.get("main_ip") in (None, "", _UNASSIGNED):
            return {}
        ptr = {
            str(i["ip"]): str(i["reverse"])
            for i in await self._all(f"/v2/instances/{instance['id']}/ipv4", "ipv4s")
            if i.get("reverse")
        }
        if instance.get("v6_main_ip"):
            body = await self._client.json("GET", f"/v2/instances/{instance['id']}/ipv6/reverse")
            ptr.update({str(i["ip"]): str(i["reverse"]) for i in body.get("reverse_ipv6s") or []})
        return ptr

    def _server(self, instance: dict[str, Any], ptr: dict[str, str] | None = None) -> VpsServer:
        labels = tags_to_labels(instance.get("tags") or [])
        ipv4 = instance.get("main_ip")
        status = _STATUS.get(str(instance.get("status")), "error")
        if status == "running" and (instance.get("server_status") != "ok" or ipv4 == _UNASSIGNED):
            status = "creating"
        if status == "running" and instance.get("power_status") == "stopped":
            status = "off"
        return VpsServer(
            id=str(instance["id"]),
            name=labels.get(SERVER_LABEL, ""),
            provider_name=str(instance.get("hostname") or instance.get("label") or ""),
            status=status,
            ipv4=ipv4 if ipv4 and ipv4 != _UNASSIGNED else None,
            ipv6=instance.get("v6_main_ip") or None,
            server_type=str(instance.get("plan", "")),
            location=str(instance.get("region", "")),
            image=os_slug({"name": instance.get("os", ""), "arch": "x64"}) if instance.get("os") else "",
            ptr=ptr or {},
            labels=labels,
        )

    async def _instances(self, tag: str) -> list[dict[str, Any]]:
        return await self._all("/v2/instances", "instances", {"tag": tag})

    async def _os_id(self, image: str) -> int:
        if self._oses is None:
            self._oses = await self._all("/v2/os", "os")
        for os_ in self._oses:
            if image in (os_slug(os_), os_.get("name"), str(os_.get("id"))):
                return int(os_["id"])
        known = ", ".join(sorted(os_slug(o) for o in self._oses))
        raise ProviderValidationError(f"unknown image {image!r} (known: {known})", provider=self.name)

    async def _ssh_key_ids(self, keys: tuple[str, ...]) -> list[str]:
        if not keys:
            return []
        by_name = {str(k["name"]): str(k["id"]) for k in await self._all("/v2/ssh-keys", "ssh_keys")}
        ids = []
        for key in keys:
            if _UUID.match(key):
                ids.append(key)
            elif key in by_name:
                ids.append(by_name[key])
            else:
                raise ProviderValidationError(
                    f"unknown SSH key {key!r} (known: {', '.join(sorted(by_name))})", provider=self.name
                )
        return ids

    async def _wait_ready(self, instance_id: str, timeout: float) -> VpsServer:
        async def fetch() -> dict[str, Any]:
            body = await self._client.json("GET", f"/v2/instances/{instance_id}")
            return dict(body["instance"])

        instance = await poll_until(
            fetch,
            lambda i: self._server(i).status == "running",
            timeout=timeout,
            interval=self.poll_interval,
            what=f"instance {instance_id} becoming active",
            provider=self.name,
            command="create_instance",
        )
        return self._server(instance, await self._ptr(instance))

    # the protocol -------------------------------------------------------------------------------
    async def catalogue(self) -> Catalogue:
        """Plans (with their regions), regions, and OS images by slug, exact name and id."""
        plans = await self._all("/v2/plans", "plans")
        regions = await self._all("/v2/regions", "regions")
        self._oses = await self._all("/v2/os", "os")
        images = (
            {os_slug(o) for o in self._oses} | {str(o["name"]) for o in self._oses} | {str(o["id"]) for o in self._oses}
        )
        return Catalogue(
            server_types={
                str(p["id"]): ServerType(
                    name=str(p["id"]),
                    cores=int(p.get("vcpu_count", 0)),
                    memory_mib=int(p.get("ram", 0)),
                    disk_gb=int(p.get("disk", 0)),
                    locations=frozenset(p["locations"]) if "locations" in p else None,
                )
                for p in plans
            },
            locations=frozenset(str(r["id"]) for r in regions),
            images=frozenset(images),
        )

    async def find(self, name: str) -> VpsServer | None:
        """Our instance called `name`, by its `email-infra-server:NAME` tag (and our managed tag)."""
        found = [i for i in await self._instances(server_tag(name)) if MANAGED_TAG in (i.get("tags") or [])]
        one_of(self.name, name, [str(i["id"]) for i in found])
        return self._server(found[0], await self._ptr(found[0])) if found else None

    async def list_ours(self) -> list[VpsServer]:
        """Every instance tagged `email-infra`."""
        return [self._server(i, await self._ptr(i)) for i in await self._instances(MANAGED_TAG)]

    async def create(self, request: ServerRequest, *, timeout: float = 600.0) -> VpsServer:
        """Create with base64 user data, then wait until active with its address.

        A 5xx or a lost answer is followed by a look-up by tag before the create is sent again
        (only a 503 or an unanswered request is retried, and only when the look-up finds nothing).
        """
        existing = await self.find(request.name)
        if existing is not None:
            return existing if existing.status == "running" else await self._wait_ready(existing.id, timeout)
        user_data = base64.b64encode(request.user_data.encode()).decode()
        if len(user_data) > CAPABILITIES.user_data_limit:
            raise ProviderValidationError(
                f"user data of {request.hostname} is {len(user_data)} bytes in base64; "
                f"Vultr accepts at most {CAPABILITIES.user_data_limit}",
                provider=self.name,
            )
        body = {
            "region": request.location,
            "plan": request.server_type,
            "os_id": await self._os_id(request.image),
            "label": request.hostname,
            "hostname": request.hostname,
            "tags": labels_to_tags({**request.labels, **ownership_labels(request.name)}),
            "sshkey_id": await self._ssh_key_ids(request.ssh_keys or self.ssh_keys),
            "user_data": user_data,
            "enable_ipv6": True,
            "backups": "disabled",
            "activation_email": False,
        }
        try:
            created = await create_once(
                # a 503 is not resent by the client: create_once looks for the instance first
                lambda: self._client.json(
                    "POST", "/v2/instances", json=body, idempotent=False, retry_unavailable=False
                ),
                lambda: self.find(request.name),
                attempts=self.retry.attempts,
                backoff=self.retry.base_delay,
            )
        except ProviderValidationError as exc:
            raise self._refused(request, exc) from None
        if isinstance(created, VpsServer):
            return await self._wait_ready(created.id, timeout)
        return await self._wait_ready(str(created["instance"]["id"]), timeout)

    def _refused(self, request: ServerRequest, exc: ProviderError) -> ProviderError:
        text = str(exc)
        if _QUOTA.search(text):
            return QuotaExceededError(
                f"cannot create {request.hostname}: {text}", provider=self.name, status=exc.status
            )
        sent = {"plan": request.server_type, "region": request.location, "operating system": request.image}
        bad = [f"{k} {v!r}" for k, v in sent.items() if k.split()[0] in text.lower()]
        what = ", ".join(bad) if bad else ", ".join(f"{k} {v!r}" for k, v in sent.items())
        return ProviderValidationError(
            f"cannot create {request.hostname}: {what} refused: {text}", provider=self.name, status=exc.status
        )

    async def set_reverse_dns(self, server: VpsServer, ip: str, ptr: str, *, timeout: float = 120.0) -> None:
        """`POST /instances/{id}/ipv4/reverse` (or ipv6): 204, effective at Vultr within hours."""
        family = "ipv6" if ":" in ip else "ipv4"
        await self._client.request(
            "POST", f"/v2/instances/{server.id}/{family}/reverse", json={"ip": ip, "reverse": ptr}, idempotent=True
        )

    async def delete(self, server: VpsServer, *, timeout: float = 300.0) -> None:
        """Delete after re-reading its tags; wait until the instance is gone."""
        body = await self._client.json("GET", f"/v2/instances/{server.id}")
        labels = tags_to_labels(body["instance"].get("tags") or [])
        if labels.get(MANAGED_LABEL) != MANAGED_VALUE:
            raise NotOursError(
                f"refusing to delete instance {body['instance'].get('label')} ({server.id}): "
                f"it has no {MANAGED_TAG} tag",
                provider=self.name,
            )
        await self._client.request("DELETE", f"/v2/instances/{server.id}")

        async def gone() -> bool:
            try:
                await self._client.request("GET", f"/v2/instances/{server.id}")
            except ProviderNotFoundError:
                return True
            return False

        await poll_until(
            gone,
            bool,
            timeout=timeout,
            interval=self.poll_interval,
            what=f"deleting {server.id}",
            provider=self.name,
            command="delete_instance",
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
