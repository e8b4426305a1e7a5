"""A faithful fake of the Hetzner Cloud API v1 servers, actions and catalogue (../shared/reference/vps-apis.md §1).

Reproduces: error envelope `{"error": {"code", "message", "details"}}`; `page`/`per_page` with
`meta.pagination` (next_page null on the last page); `label_selector` (`k=v`, `k!=v`, `k`, `!k`,
comma = and); `RateLimit-Limit/Remaining/Reset` headers on every answer and 429
`rate_limit_exceeded`; 401 `unauthorized`; the action lifecycle running → success/error polled at
`GET /actions/{id}`; `change_dns_ptr`; servers with a /64 IPv6 network; the 2026 API: no
`datacenter` anywhere, `GET /datacenters[/{id}]` answers 410 Gone. Unique server names (409
`uniqueness_error`), `resource_limit_exceeded` (403) on quota, user data over 32 KiB refused.
**Unconfirmed**: the 410 body's code (`gone`), `invalid_input` with `details.fields` for an unknown
server type/location/image (the real API may answer `not_found`), the rate-limit message text.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_server import json_response
from tests.fakes.vps_base import Action, ApiError, FakeVps, Response, page

PREFIX = "/v1"
USER_DATA_LIMIT = 32 * 1024
RATE_LIMIT = 3600
#: the error codes Hetzner pairs with 5xx statuses (the library retries bad_gateway and timeout)
SERVER_ERRORS = {500: "server_error", 502: "bad_gateway", 503: "unavailable", 504: "timeout"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _location(id_: int, name: str, city: str, country: str, zone: str) -> dict[str, Any]:
    return {
        "id": id_,
        "name": name,
        "description": f"{city} DC Park 1",
        "country": country,
        "city": city,
        "latitude": 50.0,
        "longitude": 12.0,
        "network_zone": zone,
    }


LOCATIONS = [
    _location(1, "fsn1", "Falkenstein", "DE", "eu-central"),
    _location(2, "nbg1", "Nuremberg", "DE", "eu-central"),
    _location(3, "hel1", "Helsinki", "FI", "eu-central"),
    _location(4, "ash", "Ashburn, VA", "US", "us-east"),
]


def _server_type(id_: int, name: str, cores: int, memory: float, disk: int, where: list[str]) -> dict[str, Any]:
    return {
        "id": id_,
        "name": name,
        "description": name.upper(),
        "category": "cost_optimized",
        "cores": cores,
        "memory": memory,
        "disk": disk,
        "prices": [{"location": loc, "price_hourly": {"net": "0.0060", "gross": "0.0071"}} for loc in where],
        "storage_type": "local",
        "cpu_type": "shared",
        "architecture": "x86",
        "locations": [
            {
                "id": next(loc["id"] for loc in LOCATIONS if loc["name"] == n),
                "name": n,
                "deprecation": None,
                "available": True,
                "recommended": n == where[0],
            }
            for n in where
        ],
    }


SERVER_TYPES = [
    _server_type(22, "cx22", 2, 4.0, 40, ["fsn1", "nbg1", "hel1"]),
    _server_type(23, "cx32", 4, 8.0, 80, ["fsn1", "nbg1", "hel1"]),
    _server_type(1, "cpx11", 2, 2.0, 40, ["fsn1", "nbg1", "hel1", "ash"]),
]


def _image(id_: int, name: str, flavor: str, version: str) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "system",
        "status": "available",
        "name": name,
        "description": f"{flavor} {version}",
        "image_size": None,
        "disk_size": 5,
        "created": "2023-06-13T06:00:02+00:00",
        "created_from": None,
        "bound_to": None,
        "os_flavor": flavor,
        "os_version": version,
        "rapid_deploy": True,
        "protection": {"delete": False},
        "deprecated": None,
        "deleted": None,
        "labels": {},
        "architecture": "x86",
    }


IMAGES = [_image(114690387, "debian-12", "debian", "12"), _image(161547269, "ubuntu-24.04", "ubuntu", "24.04")]


#: SSH keys of the project, by name → id
SSH_KEYS = {"ops": 4711}


def matches(labels: dict[str, str], selector: str) -> bool:
    """Hetzner label selector: comma-separated `k=v`, `k==v`, `k!=v`, `k`, `!k`, all must hold."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _render(server: dict[str, Any]) -> dict[str, Any]:
    """A server as the API shows it (what the fake keeps for assertions, like user data, stays out)."""
    return {k: v for k, v in server.items() if not k.startswith("_")}


@dataclass
class FakeHetzner(FakeVps):
    """The fake Hetzner Cloud API; `servers` holds server objects as the API renders them."""

    #: IPv4 addresses handed out in order (TEST-NET-3)
    next_ipv4: int = 1
    reset_at: int = field(default_factory=lambda: int(time.time()) + 3600)
    remaining: int = RATE_LIMIT

    # test helpers ------------------------------------------------------------------------------
    def add_server(self, name: str, labels: dict[str, str] | None = None, status: str = "running") -> dict[str, Any]:
        """Insert a running server directly (someone else's, or ours from an earlier run)."""
        server = self._new_server(
            {"name": name, "server_type": "cx22", "image": "debian-12", "location": "fsn1", "labels": labels or {}}
        )
        server["status"] = status
        self.servers[server["id"]] = server
        return server

    # envelope ------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_at),
            "X-Correlation-Id": f"fake-{self.next_id()}",
        }

    def unauthorized(self) -> ApiError:
        return ApiError(401, "unauthorized", "unable to authenticate")

    def rate_limited(self) -> ApiError:
        self.remaining = 0
        return ApiError(429, "rate_limit_exceeded", "limit of 3600 requests per hour reached")

    def error_response(self, exc: ApiError) -> Response:
        body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        return json_response(exc.status, body, {**self._headers(), **exc.headers})

    def success_response(self, status: int, payload: Any) -> Response:
        self.remaining = max(0, self.remaining - 1)
        out_status, headers, body = super().success_response(status, payload)
        return out_status, {**headers, **self._headers()}, body

    # routes --------------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        if not path.startswith(PREFIX + "/"):
            raise ApiError(404, "not_found", "not found")
        parts = [p for p in path[len(PREFIX) :].split("/") if p]
        if parts[0] == "datacenters":
            raise ApiError(410, "gone", "datacenters have been removed from the API, use locations instead")
        if method == "GET" and len(parts) == 1 and parts[0] in ("server_types", "locations", "images"):
            items = {"server_types": SERVER_TYPES, "locations": LOCATIONS, "images": IMAGES}[parts[0]]
            if "name" in query:
                items = [i for i in items if i["name"] == query["name"][0]]
            if parts[0] == "images" and "type" in query:
                items = [i for i in items if i["type"] in query["type"]]
            return self._list(parts[0], items, query)
        if parts[0] == "actions" and len(parts) == 2 and method == "GET":
            return 200, {"action": self._action(self._get_action(parts[1]))}
        if parts[0] == "servers":
            return self._servers(method, parts[1:], query, data)
        raise ApiError(404, "not_found", "not found")

    def _list(self, key: str, items: list[Any], query: dict[str, list[str]]) -> tuple[int, Any]:
        chunk, number, per_page = page(items, query, 25, 50)
        last = max(1, -(-len(items) // per_page))
        pagination = {
            "page": number,
            "per_page": per_page,
            "previous_page": number - 1 if number > 1 else None,
            "next_page": number + 1 if number < last else None,
            "last_page": last,
            "total_entries": len(items),
        }
        return 200, {key: chunk, "meta": {"pagination": pagination}}

    def _get_action(self, raw: str) -> Action:
        action = self.actions.get(int(raw)) if raw.isdigit() else None
        if action is None:
            raise ApiError(404, "not_found", f"action with ID '{raw}' not found")
        action.advance()
        if action.outcome == "never":
            self.unfinished_polled.set()
        return action

    def _action(self, action: Action) -> dict[str, Any]:
        error = None
        if action.status == "error":
            error = {"code": action.error_code, "message": action.error_message}
        return {
            "id": action.id,
            "command": action.command,
            "status": action.status,
            "progress": action.progress,
            "started": _now(),
            "finished": _now() if action.status != "running" else None,
            "resources": [{"id": action.resource_id, "type": "server"}],
            "error": error,
        }

    def _get_server(self, raw: str) -> dict[str, Any]:
        server = self.servers.get(int(raw)) if raw.isdigit() else None
        if server is None:
            raise ApiError(404, "not_found", f"server with ID '{raw}' not found")
        # the platform works on whether or not the client polls: reading the server moves its actions on
        for action in list(self.actions.values()):
            if action.resource_id == server["id"]:
                action.advance()
        return server

    def _servers(self, method: str, parts: list[str], query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        if not parts and method == "GET":
            items = sorted(self.servers.values(), key=lambda s: s["id"])
            if "label_selector" in query:
                items = [s for s in items if matches(s["labels"], query["label_selector"][0])]
            if "name" in query:
                items = [s for s in items if s["name"] == query["name"][0]]
            return self._list("servers", [_render(s) for s in items], query)
        if not parts and method == "POST":
            return self._create(data)
        if len(parts) == 1 and method == "GET":
            return 200, {"server": _render(self._get_server(parts[0]))}
        if len(parts) == 1 and method == "DELETE":
            server = self._get_server(parts[0])
            server["status"] = "deleting"
            action = self.start_action("delete_server", server["id"], lambda: self.servers.pop(server["id"], None))
            return 200, {"action": self._action(action)}
        if len(parts) == 3 and parts[1] == "actions" and parts[2] == "change_dns_ptr" and method == "POST":
            return self._change_dns_ptr(self._get_server(parts[0]), data)
        raise ApiError(404, "not_found", "not found")

    def _invalid(self, field_name: str, message: str) -> ApiError:
        details = {"fields": [{"name": field_name, "messages": [message]}]}
        return ApiError(400, "invalid_input", f"invalid input in field '{field_name}'", details=details)

    def _new_server(self, data: dict[str, Any]) -> dict[str, Any]:
        server_type = next((t for t in SERVER_TYPES if t["name"] == data.get("server_type")), None)
        if server_type is None:
            raise self._invalid("server_type", f"server type {data.get('server_type')!r} not found")
        location = next((loc for loc in LOCATIONS if loc["name"] == data.get("location", "fsn1")), None)
        if location is None:
            raise self._invalid("location", f"location {data.get('location')!r} not found")
        if location["name"] not in [loc["name"] for loc in server_type["locations"]]:
            raise ApiError(
                412, "resource_unavailable", f"server type {server_type['name']} is unavailable in {location['name']}"
            )
        image = next(
            (i for i in IMAGES if i["name"] == data.get("image") or str(i["id"]) == str(data.get("image"))), None
        )
        if image is None:
            raise self._invalid("image", f"image {data.get('image')!r} not found")
        for key in data.get("ssh_keys") or []:
            if key not in SSH_KEYS and key not in SSH_KEYS.values():
                raise self._invalid("ssh_keys", f"ssh key {key!r} not found")
        server_id = self.next_id()
        n = self.next_ipv4
        self.next_ipv4 += 1
        ipv6_net = "::/64"  # its ::1 is the server: loopback, as every test host
        return {
            "id": server_id,
            "name": data["name"],
            "status": "initializing",
            "created": _now(),
            "public_net": {
                "ipv4": {
                    "id": self.next_id(),
                    "ip": f"127.0.2.{n}",
                    "blocked": False,
                    "dns_ptr": f"static.{n}.113.0.203.clients.your-server.de",
                },
                "ipv6": {"id": self.next_id(), "ip": ipv6_net, "blocked": False, "dns_ptr": []},
                "floating_ips": [],
                "firewalls": [],
            },
            "private_net": [],
            "server_type": server_type,
            "image": image,
            "location": location,
            "labels": dict(data.get("labels") or {}),
            "volumes": [],
            "protection": {"delete": False, "rebuild": False},
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "primary_disk_size": server_type["disk"],
            "iso": None,
            "load_balancers": [],
            "placement_group": None,
            "_user_data": data.get("user_data"),
        }

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        if not data.get("name"):
            raise self._invalid("name", "Missing data for required field.")
        if any(s["name"] == data["name"] for s in self.servers.values()):
            raise ApiError(409, "uniqueness_error", "server name is already used")
        if len((data.get("user_data") or "").encode()) > USER_DATA_LIMIT:
            raise self._invalid("user_data", "user_data must not be longer than 32768 bytes")
        if self.quota_exceeded:
            raise ApiError(403, "resource_limit_exceeded", "server limit exceeded")
        if (status := self.create_fault()) is not None:
            raise ApiError(status, SERVER_ERRORS.get(status, "server_error"), "internal server error")
        server = self._new_server(data)
        self.servers[server["id"]] = server

        def started() -> None:
            server["status"] = "running"

        action = self.start_action("create_server", server["id"], started)
        if self.fail_create_after_creating is not None:
            status, self.fail_create_after_creating = self.fail_create_after_creating, None
            raise ApiError(status, SERVER_ERRORS.get(status, "server_error"), "internal server error")
        return 201, {
            "server": _render(server),
            "action": self._action(action),
            "next_actions": [],
            "root_password": None,
        }

    def _change_dns_ptr(self, server: dict[str, Any], data: dict[str, Any]) -> tuple[int, Any]:
        ip, ptr = data.get("ip"), data.get("dns_ptr")
        if not ip:
            raise self._invalid("ip", "Missing data for required field.")
        net = server["public_net"]
        if ip == net["ipv4"]["ip"]:

            def apply() -> None:
                net["ipv4"]["dns_ptr"] = ptr
        else:
            try:
                inside = ipaddress.ip_address(ip) in ipaddress.ip_network(net["ipv6"]["ip"])
            except ValueError:
                inside = False
            if not inside:
                raise ApiError(400, "invalid_input", f"ip {ip} is not assigned to this server")

            def apply() -> None:
                entries = [e for e in net["ipv6"]["dns_ptr"] if e["ip"] != ip]
                net["ipv6"]["dns_ptr"] = entries + ([{"ip": ip, "dns_ptr": ptr}] if ptr else [])

        action = self.start_action("change_dns_ptr", server["id"], apply)
        return 201, {"action": self._action(action)}
