"""A faithful fake of Cloudflare API v4 zones and DNS records (../shared/reference/cloudflare-api.md).

Also the zone-level entry point ruleset of the `http_request_dynamic_redirect` phase (Single
Redirects): GET answers 404 until a PUT creates it; PUT replaces every rule (the Rulesets API's
"update entry point" semantics). Its 404 code 10003 is **unconfirmed**.

Reproduces: the envelope everywhere, `result: []` past the last page, batch endpoint applied in
one transaction in the order deletes → patches → puts → posts, error codes 81053/81054/81057/81058/
81044/7003/7000/10000/10100, 429 + retry-after once the budget is spent, and TXT content stored as
sent (quoted 255-byte chunks). Codes not in the reference (validation errors) use 1004 "DNS
Validation Error" — unconfirmed.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_server import json_response

PREFIX = "/client/v4"
PROXIABLE = {"A", "AAAA", "CNAME"}
TYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS"}


class ApiError(Exception):
    """An error answer: HTTP status and Cloudflare code."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeCloudflare:
    """State and behaviour of the fake API; call it as an App for FakeServer."""

    tokens: set[str] = field(default_factory=lambda: {"test-token"})
    budget: int = 1200
    window: float = 300.0
    retry_after: int = 300
    latency: float = 0.0
    batch_limit: int = 200
    max_per_page: int = 5000
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    _stamps: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fail_next: list[tuple[int, int, str]] = field(default_factory=list)
    url: str = ""
    rulesets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    # test helpers ----------------------------------------------------------------------------
    def add_zone(self, name: str) -> str:
        """Create a zone directly; returns its id."""
        zone_id = uuid.uuid4().hex
        self.zones[zone_id] = {"id": zone_id, "name": name, "status": "active", "records": {}}
        return zone_id

    def zone_by_name(self, name: str) -> dict[str, Any]:
        """The zone object for `name`."""
        return next(z for z in self.zones.values() if z["name"] == name)

    def add_record(self, zone: str, **fields: Any) -> dict[str, Any]:
        """Insert a record directly (e.g. one we do not manage)."""
        z = self.zone_by_name(zone)
        record = self._new_record(z, fields)
        z["records"][record["id"]] = record
        return record

    def records(self, zone: str) -> list[dict[str, Any]]:
        """All records of a zone."""
        return list(self.zone_by_name(zone)["records"].values())

    @property
    def writes(self) -> int:
        """Calls that can change records."""
        return sum(n for key, n in self.calls.items() if not key.startswith("GET "))

    # app -------------------------------------------------------------------------------------
    def __call__(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            try:
                token = headers.get("authorization", "").removeprefix("Bearer ").strip()
                if token not in self.tokens:
                    raise ApiError(403, 10000, "Authentication error")
                self._rate_limit(token)
                if self.fail_next:
                    status, code, message = self.fail_next.pop(0)
                    raise ApiError(status, code, message)
                status, result, info = self._route(method, path, query, body)
            except ApiError as exc:
                extra = {"retry-after": str(self.retry_after)} if exc.status == 429 else {}
                envelope = {
                    "success": False,
                    "errors": [{"code": exc.code, "message": exc.message}],
                    "messages": [],
                    "result": None,
                }
                return json_response(exc.status, envelope, extra)
        envelope = {"success": True, "errors": [], "messages": [], "result": result}
        if info is not None:
            envelope["result_info"] = info
        return json_response(status, envelope)

    def _rate_limit(self, token: str) -> None:
        now = time.monotonic()
        stamps = self._stamps.setdefault(token, deque())
        while stamps and now - stamps[0] > self.window:
            stamps.popleft()
        if len(stamps) >= self.budget:
            raise ApiError(
                429,
                10100,
                f"More than {self.budget} requests per {int(self.window)} seconds reached. Please wait and consider throttling your request speed",
            )
        stamps.append(now)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any, Any]:
        if not path.startswith(PREFIX):
            raise ApiError(400, 7000, "No route for that URI")
        parts = [p for p in path[len(PREFIX) :].split("/") if p]
        if parts == ["zones"] and method == "GET":
            self.calls["GET /zones"] += 1
            return self._list_zones(query)
        if (
            len(parts) == 6
            and parts[0] == "zones"
            and parts[2:4] == ["rulesets", "phases"]
            and parts[5] == "entrypoint"
        ):
            if parts[1] not in self.zones:
                raise ApiError(
                    400,
                    7003,
                    f"Could not route to /zones/{parts[1]}/rulesets, perhaps your object identifier is invalid?",
                )
            self.calls[f"{method} /rulesets/entrypoint"] += 1
            return self._entrypoint(method, parts[1], parts[4], json.loads(body) if body else {})
        if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
            zone = self.zones.get(parts[1])
            if zone is None:
                raise ApiError(
                    400,
                    7003,
                    f"Could not route to /zones/{parts[1]}/dns_records, perhaps your object identifier is invalid?",
                )
            data = json.loads(body) if body else {}
            if len(parts) == 3 and method == "GET":
                self.calls["GET /dns_records"] += 1
                return self._list_records(zone, query)
            if len(parts) == 3 and method == "POST":
                self.calls["POST /dns_records"] += 1
                records = copy.deepcopy(zone["records"])
                created = self._post(zone, records, data)
                zone["records"] = records
                return 200, created, None
            if len(parts) == 4 and parts[3] == "batch" and method == "POST":
                self.calls["POST /batch"] += 1
                return 200, self._batch(zone, data), None
            if len(parts) == 4 and method in ("PUT", "PATCH", "DELETE"):
                self.calls[f"{method} /dns_records/:id"] += 1
                records = copy.deepcopy(zone["records"])
                if method == "DELETE":
                    result = self._delete(records, parts[3])
                else:
                    result = self._update(zone, records, parts[3], data, replace=method == "PUT")
                zone["records"] = records
                return 200, result, None
        raise ApiError(400, 7000, "No route for that URI")

    def _entrypoint(self, method: str, zone_id: str, phase: str, data: dict[str, Any]) -> tuple[int, Any, Any]:
        key = (zone_id, phase)
        if method == "GET":
            if key not in self.rulesets:
                raise ApiError(404, 10003, f"could not find entrypoint ruleset in the {phase} phase")
            return 200, self.rulesets[key], None
        if method != "PUT":
            raise ApiError(400, 7000, "No route for that URI")
        rules = []
        for rule in data.get("rules") or []:
            if not rule.get("expression") or rule.get("action") != "redirect":
                raise ApiError(
                    400, 1004, "ruleset validation failed: a redirect rule needs an expression and action redirect"
                )
            target = (((rule.get("action_parameters") or {}).get("from_value") or {}).get("target_url") or {}).get(
                "value"
            )
            if not target:
                raise ApiError(400, 1004, "ruleset validation failed: from_value.target_url is required")
            rules.append(
                {**rule, "id": uuid.uuid4().hex, "version": "1", "last_updated": datetime.now(UTC).isoformat()}
            )
        previous = self.rulesets.get(key)
        self.rulesets[key] = {
            "id": previous["id"] if previous else uuid.uuid4().hex,
            "name": "default",
            "kind": "zone",
            "phase": phase,
            "version": str(int(previous["version"]) + 1 if previous else 1),
            "rules": rules,
            "last_updated": datetime.now(UTC).isoformat(),
        }
        return 200, self.rulesets[key], None

    @staticmethod
    def _page(
        items: list[Any], query: dict[str, list[str]], default: int, maximum: int
    ) -> tuple[list[Any], dict[str, int]]:
        page = max(1, int(query.get("page", ["1"])[0]))
        per_page = min(maximum, max(5, int(query.get("per_page", [str(default)])[0])))
        chunk = items[(page - 1) * per_page : page * per_page]
        total_pages = max(1, -(-len(items) // per_page))
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": len(items),
            "total_pages": total_pages,
        }
        return chunk, info

    def _list_zones(self, query: dict[str, list[str]]) -> tuple[int, Any, Any]:
        items = sorted(self.zones.values(), key=lambda z: z["name"])
        if "name" in query:
            items = [z for z in items if z["name"] == query["name"][0]]
        public = [
            {k: v for k, v in z.items() if k != "records"}
            | {"name_servers": ["alice.ns.cloudflare.com", "tom.ns.cloudflare.com"]}
            for z in items
        ]
        chunk, info = self._page(public, query, 20, 50)
        return 200, chunk, info

    def _list_records(self, zone: dict[str, Any], query: dict[str, list[str]]) -> tuple[int, Any, Any]:
        items = sorted(zone["records"].values(), key=lambda r: (r.get("name", ""), r.get("type", ""), r.get("id", "")))
        for key in ("type", "name"):
            if key in query:
                items = [r for r in items if r[key] == query[key][0]]
        chunk, info = self._page(items, query, 100, self.max_per_page)
        return 200, chunk, info

    # record operations ------------------------------------------------------------------------
    def _new_record(self, zone: dict[str, Any], data: dict[str, Any], record_id: str | None = None) -> dict[str, Any]:
        rtype = str(data.get("type", "")).upper()
        name = str(data.get("name", "")).rstrip(".").lower()
        if rtype not in TYPES:
            raise ApiError(400, 1004, f"DNS Validation Error: unsupported type {rtype!r}")
        if not (name == zone["name"] or name.endswith("." + zone["name"])):
            raise ApiError(400, 1004, "DNS Validation Error: name is not in the zone")
        ttl = int(data.get("ttl", 1))
        if ttl != 1 and not 60 <= ttl <= 86400:
            raise ApiError(400, 1004, "DNS Validation Error: ttl must be 1 (automatic) or between 60 and 86400")
        proxied = bool(data.get("proxied", False))
        if proxied and rtype not in PROXIABLE:
            raise ApiError(400, 1004, f"DNS Validation Error: {rtype} records cannot be proxied")
        record: dict[str, Any] = {
            "id": record_id or uuid.uuid4().hex,
            "zone_id": zone["id"],
            "zone_name": zone["name"],
            "name": name,
            "type": rtype,
            "proxiable": rtype in PROXIABLE,
            "proxied": proxied,
            "ttl": 1 if proxied else ttl,
            "locked": False,
            "comment": data.get("comment"),
            "tags": data.get("tags", []),
            "settings": {},
            "meta": {"auto_added": False},
            "created_on": datetime.now(UTC).isoformat(),
            "modified_on": datetime.now(UTC).isoformat(),
        }
        if rtype in ("SRV", "CAA"):
            payload = data.get("data") or {}
            record["data"] = payload
            if rtype == "SRV":
                record["priority"] = payload.get("priority", 0)
                record["content"] = f"{payload.get('weight', 0)} {payload.get('port', 0)} {payload.get('target', '')}"
            else:
                record["content"] = f'{payload.get("flags", 0)} {payload.get("tag", "")} "{payload.get("value", "")}"'
        else:
            content = data.get("content")
            if not content:
                raise ApiError(400, 1004, "DNS Validation Error: content is required")
            record["content"] = str(content).rstrip(".") if rtype in ("CNAME", "MX", "NS") else str(content)
        if rtype == "MX":
            record["priority"] = int(data.get("priority", 0))
        return record

    @staticmethod
    def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return (a["name"], a["type"], a["content"], a.get("priority")) == (
            b["name"],
            b["type"],
            b["content"],
            b.get("priority"),
        )

    def _check_conflicts(self, records: dict[str, dict[str, Any]], record: dict[str, Any]) -> None:
        others = [r for r in records.values() if r["name"] == record["name"] and r["id"] != record["id"]]
        if any(self._same(r, record) for r in others):
            raise ApiError(400, 81058, "An identical record already exists.")
        if record["type"] == "CNAME" and others:
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        if any(r["type"] == "CNAME" for r in others):
            raise ApiError(400, 81054, "A CNAME record with that host already exists.")

    def _post(self, zone: dict[str, Any], records: dict[str, dict[str, Any]], data: dict[str, Any]) -> dict[str, Any]:
        record = self._new_record(zone, data)
        self._check_conflicts(records, record)
        records[record["id"]] = record
        return record

    @staticmethod
    def _delete(records: dict[str, dict[str, Any]], record_id: str) -> dict[str, Any]:
        if records.pop(record_id, None) is None:
            raise ApiError(404, 81044, "Record does not exist.")
        return {"id": record_id}

    def _update(
        self,
        zone: dict[str, Any],
        records: dict[str, dict[str, Any]],
        record_id: str,
        data: dict[str, Any],
        *,
        replace: bool,
    ) -> dict[str, Any]:
        old = records.get(record_id)
        if old is None:
            raise ApiError(404, 81044, "Record does not exist.")
        merged = dict(data) if replace else {**old, **data}
        if not replace and "data" not in data and old.get("data"):
            merged["data"] = old["data"]
        record = self._new_record(zone, merged, record_id=record_id)
        record["created_on"] = old["created_on"]
        self._check_conflicts(records, record)
        records[record_id] = record
        return record

    def _batch(self, zone: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        total = sum(len(data.get(k) or []) for k in ("deletes", "patches", "puts", "posts"))
        if total > self.batch_limit:
            raise ApiError(400, 1004, f"a batch holds at most {self.batch_limit} changes on this plan")
        records = copy.deepcopy(zone["records"])
        result: dict[str, list[Any]] = {"deletes": [], "patches": [], "puts": [], "posts": []}
        for op in data.get("deletes") or []:
            removed = records.get(op.get("id", ""))
            self._delete(records, op.get("id", ""))
            result["deletes"].append(removed)
        for op in data.get("patches") or []:
            result["patches"].append(
                self._update(
                    zone,
                    records,
                    op.get("id", ""),
                    {k: v for k, v in op.items() if k != "id"},
                    replace=False,
                )
            )
        for op in data.get("puts") or []:
            result["puts"].append(
                self._update(
                    zone,
                    records,
                    op.get("id", ""),
                    {k: v for k, v in op.items() if k != "id"},
                    replace=True,
                )
            )
        for op in data.get("posts") or []:
            result["posts"].append(self._post(zone, records, op))
        zone["records"] = records  # all or nothing: only now does the zone change
        return result
