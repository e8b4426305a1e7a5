"""A faithful fake of the DigitalOcean API v2 droplets, actions and catalogue (../shared/reference/vps-apis.md §2).

Reproduces: error body `{"id": "...", "message": "..."}` (401 `Unauthorized` / "Unable to
authenticate you", 404 `not_found`, 422 `unprocessable_entity`, 429 `too_many_requests`);
`page`/`per_page` with `links.pages` (`first/prev/next/last` URLs, `next` absent on the last page)
and `meta.total`; `tag_name` filter; `ratelimit-limit/remaining/reset` headers on every answer;
`POST /droplets` → **202** with `links.actions`; actions `in-progress` → `completed`/`errored` at
`GET /actions/{id}`; the `rename` droplet action (which also sets the PTR of an FQDN name: kept
here in `ptr`); `DELETE /droplets/{id}` → 204. Quota: 422 "creating this/these droplet(s) will
exceed your droplet limit" (as seen in public client fixtures). **Unconfirmed**: the messages for
an invalid size/region/image, the 429 text, the 64 KiB user-data limit, and whether 429 carries
Retry-After (it does not here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_server import json_response
from tests.fakes.vps_base import Action, ApiError, FakeVps, Response, page

PREFIX = "/v2"
USER_DATA_LIMIT = 64 * 1024
HOURLY, PER_MINUTE = 5000, 250

SIZES = [
    {
        "slug": "s-1vcpu-1gb",
        "memory": 1024,
        "vcpus": 1,
        "disk": 25,
        "transfer": 1.0,
        "price_monthly": 6.0,
        "price_hourly": 0.00893,
        "regions": ["fra1", "ams3", "nyc3"],
        "available": True,
        "description": "Basic",
    },
    {
        "slug": "s-2vcpu-4gb",
        "memory": 4096,
        "vcpus": 2,
        "disk": 80,
        "transfer": 4.0,
        "price_monthly": 24.0,
        "price_hourly": 0.03571,
        "regions": ["fra1", "ams3", "nyc3"],
        "available": True,
        "description": "Basic",
    },
    {
        "slug": "s-4vcpu-8gb",
        "memory": 8192,
        "vcpus": 4,
        "disk": 160,
        "transfer": 5.0,
        "price_monthly": 48.0,
        "price_hourly": 0.07143,
        "regions": ["fra1", "nyc3"],
        "available": True,
        "description": "Basic",
    },
]
REGIONS = [
    {
        "slug": "fra1",
        "name": "Frankfurt 1",
        "sizes": ["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
        "available": True,
        "features": ["backups", "ipv6", "metadata"],
    },
    {
        "slug": "ams3",
        "name": "Amsterdam 3",
        "sizes": ["s-1vcpu-1gb", "s-2vcpu-4gb"],
        "available": True,
        "features": ["backups", "ipv6", "metadata"],
    },
    {
        "slug": "nyc3",
        "name": "New York 3",
        "sizes": ["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
        "available": True,
        "features": ["backups", "ipv6", "metadata"],
    },
]
IMAGES = [
    {
        "id": 155760000,
        "name": "12 x64",
        "distribution": "Debian",
        "slug": "debian-12-x64",
        "public": True,
        "regions": ["fra1", "ams3", "nyc3"],
        "type": "base",
        "min_disk_size": 15,
        "status": "available",
    },
    {
        "id": 160000000,
        "name": "24.04 (LTS) x64",
        "distribution": "Ubuntu",
        "slug": "ubuntu-24-04-x64",
        "public": True,
        "regions": ["fra1", "ams3", "nyc3"],
        "type": "base",
        "min_disk_size": 15,
        "status": "available",
    },
]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeDigitalOcean(FakeVps):
    """The fake DigitalOcean API; `servers` holds droplets by id."""

    remaining: int = PER_MINUTE
    #: seconds until the oldest request leaves the window (what `ratelimit-reset` counts down to)
    reset_in: int = 0
    next_host: int = 1
    base_url: str = ""

    # test helpers ------------------------------------------------------------------------------
    def add_server(self, name: str, tags: list[str] | None = None) -> dict[str, Any]:
        """Insert an active droplet directly (someone else's, or ours from an earlier run)."""
        droplet = self._new(
            {
                "name": name,
                "size": "s-2vcpu-4gb",
                "region": "fra1",
                "image": "debian-12-x64",
                "tags": tags or [],
                "ipv6": True,
            }
        )
        droplet["status"] = "active"
        self.servers[droplet["id"]] = droplet
        return droplet

    # envelope ----------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(HOURLY),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(int(time.time()) + self.reset_in),
        }

    def unauthorized(self) -> ApiError:
        return ApiError(401, "Unauthorized", "Unable to authenticate you")

    def rate_limited(self) -> ApiError:
        self.remaining = 0
        return ApiError(429, "too_many_requests", "API Rate limit exceeded.")

    def error_response(self, exc: ApiError) -> Response:
        return json_response(exc.status, {"id": exc.code, "message": exc.message}, {**self._headers(), **exc.headers})

    def success_response(self, status: int, payload: Any) -> Response:
        self.remaining = max(0, self.remaining - 1)
        out_status, headers, body = super().success_response(status, payload)
        return out_status, {**headers, **self._headers()}, body

    # routes ------------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        parts = [p for p in path.removeprefix(PREFIX).split("/") if p] if path.startswith(PREFIX + "/") else []
        if method == "GET" and parts in (["sizes"], ["regions"], ["images"]):
            items = {"sizes": SIZES, "regions": REGIONS, "images": IMAGES}[parts[0]]
            if parts[0] == "images" and query.get("type") == ["distribution"]:
                items = [i for i in items if i["type"] == "base"]
            return self._list(path, parts[0], items, query)
        if parts[:1] == ["actions"] and len(parts) == 2 and method == "GET":
            return 200, {"action": self._action(self._get_action(parts[1]))}
        if parts[:1] == ["droplets"]:
            return self._droplets(method, path, parts[1:], query, data)
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")

    def _list(self, path: str, key: str, items: list[Any], query: dict[str, list[str]]) -> tuple[int, Any]:
        chunk, number, per_page = page(items, query, 20, 200)
        last = max(1, -(-len(items) // per_page))

        def url(n: int) -> str:
            extra = "".join(f"&{k}={v[0]}" for k, v in query.items() if k not in ("page", "per_page"))
            return f"{self.base_url}{path}?page={n}&per_page={per_page}{extra}"

        pages: dict[str, str] = {}
        if number > 1:
            pages.update(first=url(1), prev=url(number - 1))
        if number < last:
            pages.update(next=url(number + 1), last=url(last))
        return 200, {key: chunk, "links": {"pages": pages} if pages else {}, "meta": {"total": len(items)}}

    def _get_action(self, raw: str) -> Action:
        action = self.actions.get(int(raw)) if raw.isdigit() else None
        if action is None:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
        action.advance()
        return action

    def _action(self, action: Action) -> dict[str, Any]:
        status = {"running": "in-progress", "success": "completed", "error": "errored"}[action.status]
        return {
            "id": action.id,
            "status": status,
            "type": action.command,
            "started_at": _now(),
            "completed_at": _now() if status != "in-progress" else None,
            "resource_id": action.resource_id,
            "resource_type": "droplet",
            "region_slug": "fra1",
        }

    def _get(self, raw: str) -> dict[str, Any]:
        droplet = self.servers.get(int(raw)) if raw.isdigit() else None
        if droplet is None:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
        # the platform works on whether or not the client polls
        for action in list(self.actions.values()):
            if action.resource_id == droplet["id"]:
                action.advance()
        return droplet

    def _droplets(
        self, method: str, path: str, parts: list[str], query: dict[str, list[str]], data: Any
    ) -> tuple[int, Any]:
        if not parts and method == "GET":
            items = sorted(self.servers.values(), key=lambda d: d["id"])
            if "tag_name" in query:
                items = [d for d in items if query["tag_name"][0] in d["tags"]]
            return self._list(path, "droplets", [_render(d) for d in items], query)
        if not parts and method == "POST":
            return self._create(data)
        if len(parts) == 1 and method == "GET":
            return 200, {"droplet": _render(self._get(parts[0]))}
        if len(parts) == 1 and method == "DELETE":
            self.servers.pop(self._get(parts[0])["id"])
            return 204, None
        if len(parts) == 2 and parts[1] == "actions" and method == "POST":
            return self._droplet_action(self._get(parts[0]), data)
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")

    def _new(self, data: dict[str, Any]) -> dict[str, Any]:
        size = next((s for s in SIZES if s["slug"] == data.get("size")), None)
        if size is None:
            raise ApiError(422, "unprocessable_entity", "You specified an invalid size for Droplet creation.")
        region = next((r for r in REGIONS if r["slug"] == data.get("region")), None)
        if region is None:
            raise ApiError(422, "unprocessable_entity", "You specified an invalid region for Droplet creation.")
        if size["slug"] not in region["sizes"]:
            raise ApiError(422, "unprocessable_entity", "Size is not available in this region.")
        image = next((i for i in IMAGES if data.get("image") in (i["slug"], i["id"])), None)
        if image is None:
            raise ApiError(422, "unprocessable_entity", "You specified an invalid image for Droplet creation.")
        n = self.next_host
        self.next_host += 1
        v6 = [{"ip_address": "::1", "netmask": 128, "gateway": "::1", "type": "public"}] if data.get("ipv6") else []
        return {
            "id": 300000000 + self.next_id(),
            "name": data["name"],
            "memory": size["memory"],
            "vcpus": size["vcpus"],
            "disk": size["disk"],
            "locked": False,
            "status": "new",
            "created_at": _now(),
            "features": ["ipv6"] if data.get("ipv6") else [],
            "backup_ids": [],
            "snapshot_ids": [],
            "image": image,
            "volume_ids": [],
            "size": size,
            "size_slug": size["slug"],
            "networks": {
                "v4": [
                    {
                        "ip_address": f"127.0.3.{n}",
                        "netmask": "255.255.240.0",
                        "gateway": "127.0.3.254",
                        "type": "public",
                    }
                ],
                "v6": v6,
            },
            "region": region,
            "tags": list(data.get("tags") or []),
            "vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
            "_user_data": data.get("user_data"),
            "_ssh_keys": data.get("ssh_keys"),
        }

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        if not data.get("name"):
            raise ApiError(422, "unprocessable_entity", "Name is required.")
        if len((data.get("user_data") or "").encode()) > USER_DATA_LIMIT:
            raise ApiError(422, "unprocessable_entity", "User data is too long.")
        if self.quota_exceeded:
            raise ApiError(422, "unprocessable_entity", "creating this/these droplet(s) will exceed your droplet limit")
        if (status := self.create_fault()) is not None:
            raise ApiError(status, "server_error", "Server Error")
        droplet = self._new(data)
        # a new droplet has no addresses until it is active
        networks, droplet["networks"] = droplet["networks"], {"v4": [], "v6": []}
        self.servers[droplet["id"]] = droplet

        def started() -> None:
            droplet["status"] = "active"
            droplet["networks"] = networks

        action = self.start_action("create", droplet["id"], started)
        if self.fail_create_after_creating is not None:
            status, self.fail_create_after_creating = self.fail_create_after_creating, None
            raise ApiError(status, "server_error", "Server Error")
        href = f"{self.base_url}{PREFIX}/actions/{action.id}"
        return 202, {
            "droplet": _render(droplet),
            "links": {"actions": [{"id": action.id, "rel": "create", "href": href}]},
        }

    def _droplet_action(self, droplet: dict[str, Any], data: dict[str, Any]) -> tuple[int, Any]:
        if data.get("type") != "rename":
            raise ApiError(422, "unprocessable_entity", f"{data.get('type')!r} is not a valid action type.")
        name = data.get("name")
        if not name:
            raise ApiError(422, "unprocessable_entity", "Name is required.")

        def renamed() -> None:
            droplet["name"] = name

        action = self.start_action("rename", droplet["id"], renamed)
        return 201, {"action": self._action(action)}

    def ptr(self, droplet_id: int) -> dict[str, str]:
        """What DigitalOcean publishes as reverse DNS: the name, when it is an FQDN (IPv4, first IPv6)."""
        droplet = self.servers[droplet_id]
        if "." not in droplet["name"]:
            return {}
        out = {droplet["networks"]["v4"][0]["ip_address"]: droplet["name"]}
        if droplet["networks"]["v6"]:
            out[droplet["networks"]["v6"][0]["ip_address"]] = droplet["name"]
        return out


def _render(droplet: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in droplet.items() if not k.startswith("_")}
