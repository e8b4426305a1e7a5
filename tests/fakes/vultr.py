"""A faithful fake of the Vultr API v2 instances, reverse DNS and catalogue (../shared/reference/vps-apis.md §3).

Reproduces: error body `{"error": "...", "status": N}` (as in govultr-based clients' fixtures,
e.g. `{"error":"Invalid API token.","status":401}`); cursor pagination (`per_page`, `cursor`,
`meta.total`, `meta.links.next`/`prev`, empty string past the end); `tag` filter on
`GET /instances`; base64 `user_data`; an instance that reads `status: pending`, `main_ip:
0.0.0.0` for a number of reads, then `active` with its addresses and `server_status` going
`none` → `installingbooting` → `ok` (the official Ansible collection waits for `active`, then a
`server_status` other than none/locked); `POST …/ipv4/reverse` and `…/ipv6/reverse` → 204.
**Unconfirmed**: the exact error texts for an unknown plan/region/os and for the account's
instance limit, the rate-limit body, the 64 KiB user-data limit and 404's wording.
Vultr has no action objects, so the `fail_next_action` hook does not apply here.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_server import json_response
from tests.fakes.vps_base import ApiError, FakeVps, Response

PREFIX = "/v2"
#: after base64 (unconfirmed)
USER_DATA_LIMIT = 64 * 1024

PLANS = [
    {
        "id": "vc2-1c-1gb",
        "vcpu_count": 1,
        "ram": 1024,
        "disk": 25,
        "disk_count": 1,
        "bandwidth": 1024,
        "monthly_cost": 5,
        "type": "vc2",
        "locations": ["fra", "ams", "ewr"],
    },
    {
        "id": "vc2-2c-4gb",
        "vcpu_count": 2,
        "ram": 4096,
        "disk": 80,
        "disk_count": 1,
        "bandwidth": 3072,
        "monthly_cost": 20,
        "type": "vc2",
        "locations": ["fra", "ams", "ewr"],
    },
    {
        "id": "vc2-4c-8gb",
        "vcpu_count": 4,
        "ram": 8192,
        "disk": 160,
        "disk_count": 1,
        "bandwidth": 4096,
        "monthly_cost": 40,
        "type": "vc2",
        "locations": ["fra", "ewr"],
    },
]
REGIONS = [
    {"id": "fra", "city": "Frankfurt", "country": "DE", "continent": "Europe", "options": ["ddos_protection"]},
    {"id": "ams", "city": "Amsterdam", "country": "NL", "continent": "Europe", "options": ["ddos_protection"]},
    {"id": "ewr", "city": "New Jersey", "country": "US", "continent": "North America", "options": ["ddos_protection"]},
]
OSES = [
    {"id": 2136, "name": "Debian 12 x64 (bookworm)", "arch": "x64", "family": "debian"},
    {"id": 2284, "name": "Ubuntu 24.04 LTS x64", "arch": "x64", "family": "ubuntu"},
    {"id": 2531, "name": "Debian 12 aarch64 (bookworm)", "arch": "aarch64", "family": "debian"},
]

SSH_KEYS = [
    {
        "id": "3b8066a7-b438-455a-9688-44afc9a3597f",
        "date_created": "2024-01-01T00:00:00+00:00",
        "name": "ops",
        "ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops",
    },
]


@dataclass
class FakeVultr(FakeVps):
    """The fake Vultr API; `servers` holds instances by their UUID."""

    #: reads of a new instance before it is `active` (its `server_status` then takes one more)
    boot_reads: int = 2
    #: further reads before `server_status` is `ok` (0: `ok` as soon as it is active)
    ok_reads: int = 1
    #: 429, or 503 as Vultr has also answered rate limits (both retried by clients)
    rate_limit_status: int = 429
    next_host: int = 1

    # test helpers ------------------------------------------------------------------------------
    def add_server(self, hostname: str, tags: list[str] | None = None) -> dict[str, Any]:
        """Insert an active instance directly (someone else's, or ours from an earlier run)."""
        instance = self._new(
            {
                "region": "fra",
                "plan": "vc2-2c-4gb",
                "os_id": 2136,
                "hostname": hostname,
                "label": hostname,
                "tags": tags or [],
            }
        )
        self._boot(instance, force=True)
        self.servers[instance["id"]] = instance
        return instance

    # envelope ----------------------------------------------------------------------------------
    def unauthorized(self) -> ApiError:
        return ApiError(401, "", "Invalid API token.")

    def rate_limited(self) -> ApiError:
        return ApiError(self.rate_limit_status, "", "Rate limit reached - please try your request again later.")

    def error_response(self, exc: ApiError) -> Response:
        return json_response(exc.status, {"error": exc.message, "status": exc.status}, exc.headers)

    # routes ------------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        parts = [p for p in path.removeprefix(PREFIX).split("/") if p] if path.startswith(PREFIX + "/") else []
        if method == "GET" and parts in (["plans"], ["regions"], ["os"], ["ssh-keys"]):
            key = parts[0].replace("-", "_")
            items = {"plans": PLANS, "regions": REGIONS, "os": OSES, "ssh_keys": SSH_KEYS}[key]
            return self._list(key, items, query)
        if parts[:1] == ["instances"]:
            return self._instances(method, parts[1:], query, data)
        raise ApiError(404, "", "Invalid API URL.")

    def _list(self, key: str, items: list[Any], query: dict[str, list[str]]) -> tuple[int, Any]:
        per_page = max(1, min(500, int(query.get("per_page", ["100"])[0])))
        cursor = query.get("cursor", [""])[0]
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("next__")) if cursor else 0
        except (ValueError, binascii.Error):
            raise ApiError(400, "", "Invalid cursor.") from None
        chunk = items[start : start + per_page]
        after = start + per_page
        nxt = base64.b64encode(f"next__{after}".encode()).decode() if after < len(items) else ""
        prev = base64.b64encode(f"prev__{max(0, start - per_page)}".encode()).decode() if start else ""
        return 200, {key: chunk, "meta": {"total": len(items), "links": {"next": nxt, "prev": prev}}}

    def _get(self, raw: str) -> dict[str, Any]:
        instance = self.servers.get(raw)
        if instance is None:
            raise ApiError(404, "", "Invalid instance-id.")
        return instance

    def _instances(self, method: str, parts: list[str], query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        if not parts and method == "GET":
            items = list(self.servers.values())
            if "tag" in query:
                items = [i for i in items if query["tag"][0] in i["tags"]]
            if "label" in query:
                items = [i for i in items if i["label"] == query["label"][0]]
            for instance in items:
                self._boot(instance)
            return self._list("instances", [_render(i) for i in items], query)
        if not parts and method == "POST":
            return self._create(data)
        if len(parts) == 1 and method == "GET":
            instance = self._get(parts[0])
            self._boot(instance)
            return 200, {"instance": _render(instance)}
        if len(parts) == 1 and method == "DELETE":
            self.servers.pop(self._get(parts[0])["id"])
            return 204, None
        if len(parts) == 2 and parts[1] == "ipv4" and method == "GET":
            instance = self._get(parts[0])
            ipv4 = [
                {
                    "ip": instance["main_ip"],
                    "netmask": "255.255.254.0",
                    "gateway": "127.0.4.254",
                    "type": "main_ip",
                    "reverse": instance["_reverse"].get(
                        instance["main_ip"], f"{instance['main_ip']}.vultrusercontent.com"
                    ),
                }
            ]
            return self._list("ipv4s", ipv4, query)
        if len(parts) == 3 and parts[1:] == ["ipv6", "reverse"] and method == "GET":
            instance = self._get(parts[0])
            items = [{"ip": ip, "reverse": name} for ip, name in instance["_reverse"].items() if ":" in ip]
            return 200, {"reverse_ipv6s": items}
        if len(parts) == 3 and parts[2] == "reverse" and parts[1] in ("ipv4", "ipv6") and method == "POST":
            return self._reverse(self._get(parts[0]), parts[1], data)
        raise ApiError(404, "", "Invalid API URL.")

    def _new(self, data: dict[str, Any]) -> dict[str, Any]:
        plan = next((p for p in PLANS if p["id"] == data.get("plan")), None)
        if plan is None:
            raise ApiError(400, "", "Invalid plan chosen.")
        if not any(r["id"] == data.get("region") for r in REGIONS):
            raise ApiError(400, "", "Invalid region chosen.")
        if data["region"] not in plan["locations"]:
            raise ApiError(400, "", "Plan is not available in the selected region.")
        os_ = next((o for o in OSES if o["id"] == data.get("os_id")), None)
        if os_ is None:
            raise ApiError(400, "", "Invalid operating system.")
        known_keys = {k["id"] for k in SSH_KEYS}
        if any(k not in known_keys for k in data.get("sshkey_id") or []):
            raise ApiError(400, "", "Invalid SSH key.")
        n = self.next_host
        self.next_host += 1
        return {
            "id": str(uuid.uuid4()),
            "os": os_["name"],
            "ram": plan["ram"],
            "disk": plan["disk"],
            "main_ip": "0.0.0.0",
            "vcpu_count": plan["vcpu_count"],
            "region": data["region"],
            "plan": plan["id"],
            "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "pending",
            "allowed_bandwidth": plan["bandwidth"],
            "netmask_v4": "",
            "gateway_v4": "0.0.0.0",
            "power_status": "running",
            "server_status": "none",
            "v6_network": "",
            "v6_main_ip": "",
            "v6_network_size": 0,
            "label": data.get("label", ""),
            "internal_ip": "",
            "kvm": "",
            "hostname": data.get("hostname", ""),
            "tags": list(data.get("tags") or []),
            "os_id": os_["id"],
            "app_id": 0,
            "image_id": "",
            "firewall_group_id": "",
            "features": ["ipv6"] if data.get("enable_ipv6") else [],
            "user_scheme": "root",
            "_host": n,
            "_reads": 0,
            "_reverse": {},
            "_user_data": data.get("user_data"),
        }

    def _boot(self, instance: dict[str, Any], *, force: bool = False) -> None:
        """Each read moves a booting instance on, as time passes at the real provider."""
        if self.actions_never_finish and not force:
            return
        instance["_reads"] += 1
        if force or instance["_reads"] >= self.boot_reads:
            if instance["status"] == "pending":
                n = instance["_host"]
                instance.update(
                    status="active",
                    server_status="installingbooting",
                    main_ip=f"127.0.4.{n}",
                    netmask_v4="255.255.254.0",
                    gateway_v4="127.0.4.254",
                )
                if "ipv6" in instance["features"] or force:
                    instance.update(v6_network="::1", v6_main_ip="::1", v6_network_size=128)
            elif instance["server_status"] == "installingbooting" or force:
                instance["server_status"] = "ok"
            if instance["_reads"] >= self.boot_reads + self.ok_reads:
                instance["server_status"] = "ok"
        if force:
            instance["server_status"] = "ok"

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        user_data = data.get("user_data")
        if user_data is not None:
            if len(user_data) > USER_DATA_LIMIT:
                raise ApiError(400, "", "User data is too large.")
            try:
                base64.b64decode(user_data, validate=True)
            except binascii.Error:
                raise ApiError(400, "", "Invalid user_data: must be base64 encoded.") from None
        if self.quota_exceeded:
            raise ApiError(
                400, "", "Server add failed: You have reached the maximum number of active instances for this account."
            )
        if (status := self.create_fault()) is not None:
            raise ApiError(status, "", "Internal server error.")
        instance = self._new(data)
        self.servers[instance["id"]] = instance
        if self.fail_create_after_creating is not None:
            status, self.fail_create_after_creating = self.fail_create_after_creating, None
            raise ApiError(status, "", "Internal server error.")
        out = _render(instance)
        out["default_password"] = "fake-password"
        return 202, {"instance": out}

    def _reverse(self, instance: dict[str, Any], family: str, data: dict[str, Any]) -> tuple[int, Any]:
        ip, name = data.get("ip"), data.get("reverse")
        if not ip or not name:
            raise ApiError(400, "", "Invalid reverse DNS entry.")
        if family == "ipv4" and ip != instance["main_ip"]:
            raise ApiError(400, "", "Invalid IP address.")
        if family == "ipv6":
            try:
                inside = ipaddress.ip_address(ip) in ipaddress.ip_network(
                    f"{instance['v6_network']}/{instance['v6_network_size']}"
                )
            except ValueError:
                inside = False
            if not inside:
                raise ApiError(400, "", "Invalid IP address.")
        instance["_reverse"][ip] = name
        return 204, None


def _render(instance: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in instance.items() if not k.startswith("_")}
