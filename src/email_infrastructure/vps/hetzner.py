"""Hetzner Cloud on the official `hcloud` library (sync, so every call runs in a worker thread).

The library retries rate limits, conflicts and bad gateways itself (exponential backoff, at most
5 retries); we add the deadline on actions and the rule that a create whose answer was lost is
looked up by its label before anything else happens. Server names are unique per project, so even
the library's own retry of a create cannot make a second server: it gets `uniqueness_error`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from hcloud import APIException, Client
from hcloud.actions import BoundAction
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType as HServerType
from hcloud.servers import BoundServer, ServerCreatePublicNetwork
from hcloud.ssh_keys import SSHKey

from email_infrastructure.core.errors import (
    ProviderAuthError,
    ProviderConflictError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderValidationError,
)
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
from email_infrastructure.vps.waiting import action_failed, one_of, poll_until

T = TypeVar("T")
DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1"
#: error codes that say the request was understood and refused: nothing was created
_REFUSED = frozenset(
    {
        "unauthorized",
        "forbidden",
        "invalid_input",
        "json_error",
        "not_found",
        "resource_limit_exceeded",
        "uniqueness_error",
        "resource_unavailable",
        "placement_error",
        "rate_limit_exceeded",
        "token_readonly",
        "locked",
        "protected",
        "maintenance",
    }
)
_STATUS = {
    "running": "running",
    "initializing": "creating",
    "starting": "creating",
    "off": "off",
    "stopping": "off",
    "deleting": "deleting",
    "migrating": "running",
    "rebuilding": "creating",
    "unknown": "error",
}
CAPABILITIES = Capabilities(
    reverse_dns="api",
    user_data_limit=32 * 1024,
    port25_default="blocked",
    port25_note=(
        "Hetzner blocks outbound 25/465 on new accounts; ask support to lift it once the account is established"
    ),
)


def _ipv6_host(network: str | None) -> str | None:
    """The server's address in its /64: `<prefix>::1`."""
    if not network:
        return None
    return str(ipaddress.ip_network(network, strict=False).network_address + 1)


class HetznerProvider:
    """Servers at Hetzner Cloud, marked by labels, reverse DNS by `change_dns_ptr`."""

    type = "hetzner"
    capabilities = CAPABILITIES

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        ssh_keys: tuple[str, ...] = (),
        name: str = "hetzner",
        poll_interval: float = 1.0,
        page_size: int = 50,
        request_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.ssh_keys = ssh_keys
        self.poll_interval = poll_interval
        self.page_size = page_size
        self._client = Client(
            token,
            api_endpoint=(api_url or DEFAULT_ENDPOINT).rstrip("/"),
            application_name="email-infra",
            poll_interval=poll_interval,
            timeout=request_timeout,
        )

    # plumbing ------------------------------------------------------------------------------------
    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except APIException as exc:
            raise self._error(what, exc) from None
        except requests.RequestException as exc:
            raise ProviderTimeoutError(f"{what}: {type(exc).__name__}", provider=self.name) from None

    def _error(self, what: str, exc: APIException) -> ProviderError:
        code = str(exc.code)
        details = exc.details if isinstance(exc.details, dict) else {}
        fields = [f.get("name") for f in details.get("fields", []) if isinstance(f, dict)]
        kwargs: dict[str, Any] = {
            "provider": self.name,
            "code": code,
            "details": [{"fields": fields}] if fields else [],
        }
        message = f"{what}: {exc.message} ({code})"
        if code in ("unauthorized", "401", "forbidden", "403", "token_readonly"):
            return ProviderAuthError(message, **kwargs)
        if code == "resource_limit_exceeded":
            return QuotaExceededError(message, **kwargs)
        if code == "not_found":
            return ProviderNotFoundError(message, **kwargs)
        if code in ("invalid_input", "json_error", "resource_unavailable", "placement_error"):
            return ProviderValidationError(message, **kwargs)
        if code == "uniqueness_error":
            return ProviderConflictError(message, **kwargs)
        if code == "rate_limit_exceeded":
            return ProviderRateLimitError(message, **kwargs)
        return ProviderError(message, **kwargs)

    async def _wait(self, action: BoundAction, timeout: float) -> None:
        command = action.command or "action"

        async def fetch() -> BoundAction:
            return await self._call(f"GET /actions/{action.id}", self._client.actions.get_by_id, action.id)

        done = await poll_until(
            fetch,
            lambda a: a.status != "running",
            timeout=timeout,
            interval=self.poll_interval,
            what=f"action {command} ({action.id})",
            provider=self.name,
            command=command,
        )
        if done.status == "error":
            code = done.error["code"] if done.error else None
            message = done.error["message"] if done.error else "no error given"
            raise action_failed(self.name, command, code, message)

    def _server(self, raw: BoundServer) -> VpsServer:
        net = raw.public_net
        ipv4 = net.ipv4.ip if net and net.ipv4 else None
        ipv6 = _ipv6_host(net.ipv6.ip) if net and net.ipv6 else None
        ptr: dict[str, str] = {}
        if net and net.ipv4 and net.ipv4.dns_ptr and ipv4:
            ptr[ipv4] = net.ipv4.dns_ptr
        if net and net.ipv6:
            for entry in net.ipv6.dns_ptr or []:
                ptr[entry["ip"]] = entry["dns_ptr"]
        labels = dict(raw.labels or {})
        return VpsServer(
            id=str(raw.id),
            name=labels.get(SERVER_LABEL, ""),
            provider_name=raw.name or "",
            status=_STATUS.get(raw.status or "unknown", "error"),
            ipv4=ipv4,
            ipv6=ipv6,
            server_type=(raw.server_type.name or "") if raw.server_type else "",
            location=(raw.location.name or "") if raw.location else "",
            image=raw.image.name if raw.image and raw.image.name else "",
            ptr=ptr,
            labels=labels,
        )

    async def _servers(self, selector: str) -> list[BoundServer]:
        out: list[BoundServer] = []
        page: int | None = 1
        while page is not None:
            result = await self._call(
                "GET /servers",
                self._client.servers.get_list,
                label_selector=selector,
                page=page,
                per_page=self.page_size,
            )
            out.extend(result.servers)
            page = result.meta.pagination.next_page if result.meta and result.meta.pagination else None
        return out

    async def _wait_running(self, server_id: int, timeout: float) -> VpsServer:
        async def fetch() -> BoundServer:
            return await self._call(f"GET /servers/{server_id}", self._client.servers.get_by_id, server_id)

        raw = await poll_until(
            fetch,
            lambda s: s.status == "running" and bool(s.public_net and s.public_net.ipv4),
            timeout=timeout,
            interval=self.poll_interval,
            what=f"server {server_id} starting",
            provider=self.name,
            command="create_server",
        )
        return self._server(raw)

    # the protocol -------------------------------------------------------------------------------
    async def catalogue(self) -> Catalogue:
        """Server types (memory GB → MiB), locations and system images by name."""
        types = await self._call("GET /server_types", self._client.server_types.get_all)
        locations = await self._call("GET /locations", self._client.locations.get_all)
        images = await self._call("GET /images", self._client.images.get_all, type="system")
        server_types = {
            t.name: ServerType(
                name=t.name,
                cores=int(t.cores or 0),
                memory_mib=round(float(t.memory or 0) * 1024),
                disk_gb=int(t.disk or 0),
                locations=frozenset(loc.location.name for loc in t.locations if loc.location.name)
                if t.locations is not None
                else None,
            )
            for t in types
            if t.name
        }
        return Catalogue(
            server_types=server_types,
            locations=frozenset(loc.name for loc in locations if loc.name),
            images=frozenset(i.name for i in images if i.name),
        )

    async def find(self, name: str) -> VpsServer | None:
        """Our server called `name`, by the label selector `managed-by=email-infra,email-infra-server=NAME`."""
        found = await self._servers(f"{MANAGED_LABEL}={MANAGED_VALUE},{SERVER_LABEL}={name}")
        one_of(self.name, name, [str(s.id) for s in found])
        return self._server(found[0]) if found else None

    async def list_ours(self) -> list[VpsServer]:
        """Every server labelled `managed-by=email-infra`."""
        return [self._server(s) for s in await self._servers(f"{MANAGED_LABEL}={MANAGED_VALUE}")]

    async def create(self, request: ServerRequest, *, timeout: float = 600.0) -> VpsServer:
        """Create (named by the hostname, labelled as ours), wait for the action, then for `running`."""
        existing = await self.find(request.name)
        if existing is not None:
            return existing if existing.status == "running" else await self._wait_running(int(existing.id), timeout)
        if len(request.user_data.encode()) > CAPABILITIES.user_data_limit:
            raise ProviderValidationError(
                f"user data of {request.hostname} is {len(request.user_data.encode())} bytes; "
                f"Hetzner accepts at most {CAPABILITIES.user_data_limit}",
                provider=self.name,
            )
        keys = request.ssh_keys or self.ssh_keys
        try:
            response = await self._call(
                "POST /servers",
                self._client.servers.create,
                name=request.hostname,
                server_type=HServerType(name=request.server_type),
                image=Image(name=request.image),
                location=Location(name=request.location),
                ssh_keys=[SSHKey(id=int(k)) if k.isdigit() else SSHKey(name=k) for k in keys] or None,
                user_data=request.user_data or None,
                labels={**request.labels, **ownership_labels(request.name)},
                public_net=ServerCreatePublicNetwork(enable_ipv4=True, enable_ipv6=True),
            )
        except (ProviderValidationError, ProviderAuthError, QuotaExceededError, ProviderNotFoundError) as exc:
            raise self._refused(request, exc) from None
        except ProviderError as exc:
            # the answer was lost or says 5xx: the server may exist; never create it twice
            found = await self.find(request.name)
            if found is None:
                if isinstance(exc, ProviderConflictError):
                    raise ProviderConflictError(
                        f"cannot create {request.hostname}: a server of that name exists and is not ours",
                        provider=self.name,
                        code=exc.code,
                    ) from None
                raise
            return await self._wait_running(int(found.id), timeout)
        await self._wait(response.action, timeout)
        return await self._wait_running(int(response.server.id or 0), timeout)

    def _refused(self, request: ServerRequest, exc: ProviderError) -> ProviderError:
        """Name the value the API refused (server_type, location, image) in the message."""
        if not isinstance(exc, ProviderValidationError | ProviderNotFoundError):
            return exc
        sent = {
            "server_type": request.server_type,
            "location": request.location,
            "image": request.image,
            "ssh_keys": ", ".join(request.ssh_keys or self.ssh_keys),
        }
        fields = [f for d in exc.details for f in d.get("fields", [])] or [k for k in sent if k in str(exc)]
        bad = ", ".join(f"{f} {sent[f]!r}" for f in fields if f in sent)
        what = f"unknown or unavailable {bad}" if bad else "refused"
        return ProviderValidationError(
            f"cannot create {request.hostname}: {what}: {exc}", provider=self.name, code=exc.code, details=exc.details
        )

    async def set_reverse_dns(self, server: VpsServer, ip: str, ptr: str, *, timeout: float = 120.0) -> None:
        """`change_dns_ptr` on the server, then wait for its action."""
        raw = await self._call(f"GET /servers/{server.id}", self._client.servers.get_by_id, int(server.id))
        action = await self._call(f"POST /servers/{server.id}/actions/change_dns_ptr", raw.change_dns_ptr, ip, ptr)
        await self._wait(action, timeout)

    async def delete(self, server: VpsServer, *, timeout: float = 300.0) -> None:
        """Delete after re-reading its labels from the API: a server without ours is refused."""
        raw = await self._call(f"GET /servers/{server.id}", self._client.servers.get_by_id, int(server.id))
        if (raw.labels or {}).get(MANAGED_LABEL) != MANAGED_VALUE:
            raise NotOursError(
                f"refusing to delete server {raw.name} ({server.id}): it has no {MANAGED_LABEL}={MANAGED_VALUE} label",
                provider=self.name,
            )
        action = await self._call(f"DELETE /servers/{server.id}", raw.delete)
        await self._wait(action, timeout)

    async def aclose(self) -> None:
        """Close the library's HTTP session."""
        session = getattr(self._client._client, "_session", None)  # the library offers no close()
        if isinstance(session, requests.Session):
            session.close()
