"""A faithful fake of Smartlead API v1 email accounts (../shared/reference/sequencer-apis.md §2).

Reproduces: `?api_key=` auth (a key only in a header is refused: 401 `{"message":"Invalid API
Key"}`), integer ids, `POST /email-accounts/save` as an upsert keyed by `id` (unknown id → 404
`ACCOUNT_NOT_FOUND`), both documented success shapes (`save_shape`), the list as a bare array with
`offset`/`limit` ≤100 (422 above), filters `isSmtpSuccess`, `username`, `esp`,
`emailWarmupStatus`, `client_id`; GET by id with or without the trailing slash; **passwords in
reads** (plaintext on get, base64 in the list); request names ≠ response names; update →
`{ok,message}`; soft delete; suspend/unsuspend with the `success`/`data` envelope (unknown id →
400); warmup settings range checks (422) and 7-day warmup stats; per-key limits with
`x-ratelimit-*` on GETs and 429 + `Retry-After`; Express's HTML 404 for unknown routes.
**Unconfirmed** choices are knobs: `duplicate_without_id`, `login_failure`, `list_passwords`,
`reject_unknown_keys`, `limits` (default: the strictest statements together).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.sequencer_base import ApiError, FakeSequencer, ceil_seconds, integer

PREFIX = "/api/v1"
REQUIRED = (
    "from_name",
    "from_email",
    "user_name",
    "password",
    "smtp_host",
    "smtp_port",
    "imap_host",
    "imap_port",
    "warmup_enabled",
)
#: save/update request name → response name
RENAMED = {
    "user_name": "username",
    "imap_user_name": "imap_username",
    "max_email_per_day": "message_per_day",
    "custom_tracking_url": "custom_tracking_domain",
    "bcc": "bcc_email",
    "time_to_wait_in_mins": "minTimeToWaitInMins",
}
SAVE_KEYS = set(REQUIRED) | set(RENAMED) | {"id", "imap_password", "type", "total_warmup_per_day", "daily_rampup"}
SAVE_KEYS |= {"reply_rate_percentage", "signature", "different_reply_to_address", "client_id", "is_suspended"}
UPDATE_KEYS = {"max_email_per_day", "custom_tracking_url", "bcc", "signature", "client_id", "time_to_wait_in_mins"}
UPDATE_KEYS |= {"different_reply_to_address", "from_name"}
ONE_ROUTES = {("GET", ()), ("POST", ()), ("DELETE", ()), ("POST", ("warmup",)), ("GET", ("warmup-stats",))}
WARMUP_RANGES = {"total_warmup_per_day": (1, 50), "daily_rampup": (5, 20), "reply_rate_percentage": (20, 100)}


def not_found(account_id: int | str, status: int = 404) -> ApiError:
    """Smartlead's unknown-account body."""
    body = {"ok": False, "message": "Email account not found!", "errorCode": "ACCOUNT_NOT_FOUND"}
    return ApiError(status, body | {"emailAccountId": account_id})


def _port_type(port: Any) -> str:
    return "SSL" if str(port) in ("465", "993") else "TLS"


@dataclass
class FakeSmartlead(FakeSequencer):
    """Smartlead email accounts; `accounts` by integer id hold what reads return (passwords too)."""

    #: [S-hc] 10 per 2 s, [S-rlr] 60 per 60 s, [S-rlg] 1,000 per hour: all at once (unconfirmed which holds)
    limits: tuple[tuple[int, float], ...] = ((10, 2.0), (60, 60.0), (1000, 3600.0))
    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: "fixture" (`emailAccountId`, as captured) or "docs" (`data{…}`): a client must accept both
    save_shape: str = "fixture"
    #: unconfirmed: save without `id` of an email that exists: "update" it (upsert) or "create" a second
    duplicate_without_id: str = "update"
    #: emails whose SMTP/IMAP login fails at save
    fail_login: set[str] = field(default_factory=set)
    #: unconfirmed: such a save is "reject"ed (400, nothing stored) or "store"d with is_*_success false
    login_failure: str = "reject"
    #: unconfirmed: list passwords "base64" (docs note) or "plain"
    list_passwords: str = "base64"
    #: unconfirmed: unknown keys on save → Joi's 400 "\"x\" is not allowed"
    reject_unknown_keys: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(2849))

    # test helpers ----------------------------------------------------------------------------
    def add_account(self, email: str, password: str = "secret-pw", **fields: Any) -> dict[str, Any]:  # noqa: S107  # a test fixture's password, seeded into the fake
        """Store an account directly; returns it (as reads show it)."""
        account_id = next(self._ids)
        now = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=account_id)).isoformat()
        account: dict[str, Any] = {
            "id": account_id,
            "created_at": now,
            "updated_at": now,
            "user_id": 1,
            "from_name": email.split("@")[0],
            "from_email": email,
            "username": email,
            "password": password,
            "smtp_host": "mail.example",
            "smtp_port": 587,
            "smtp_port_type": "TLS",
            "message_per_day": 40,
            "daily_sent_count": 0,
            "different_reply_to_address": None,
            "is_different_imap_account": False,
            "imap_username": email,
            "imap_password": password,
            "imap_host": "mail.example",
            "imap_port": 993,
            "imap_port_type": "SSL",
            "signature": None,
            "custom_tracking_domain": None,
            "bcc_email": None,
            "minTimeToWaitInMins": 10,
            "is_smtp_success": True,
            "is_imap_success": True,
            "smtp_failure_error": None,
            "imap_failure_error": None,
            "type": "SMTP",
            "client_id": None,
            "campaign_count": 0,
            "tags": [],
            "is_suspended": False,
            "warmup_details": {
                "id": account_id,
                "status": "INACTIVE",
                "total_sent_count": 0,
                "total_spam_count": 0,
                "warmup_reputation": 100,
                "warmup_key_id": f"key-{account_id}",
                "reply_rate": 30,
                "blocked_reason": None,
                "is_warmup_blocked": False,
                "warmup_min_count": 1,
                "warmup_max_count": 20,
                "max_email_per_day": 20,
                "warmup_created_at": now,
            },
        }
        account.update(fields)
        self.accounts[account_id] = account
        return account

    def by_email(self, email: str) -> dict[str, Any]:
        """The stored account of `email`."""
        return next(a for a in self.accounts.values() if a["from_email"] == email)

    def set_health(self, account_id: int, *, smtp: bool = True, imap: bool = True, error: str = "") -> None:
        """Connection state from outside (`is_smtp_success`/`is_imap_success` and their errors)."""
        account = self.accounts[account_id]
        account["is_smtp_success"], account["is_imap_success"] = smtp, imap
        account["smtp_failure_error"] = None if smtp else error or "Invalid credentials"
        account["imap_failure_error"] = None if imap else error or "Invalid credentials"

    def set_warmup(self, account_id: int, *, status: str = "ACTIVE", reputation: int = 100, sent: int = 0) -> None:
        """Warmup state from outside (`warmup_details`)."""
        details = self.accounts[account_id]["warmup_details"]
        details.update(status=status, warmup_reputation=reputation, total_sent_count=sent)

    def set_sent_today(self, account_id: int, sent: int) -> None:
        """`daily_sent_count`."""
        self.accounts[account_id]["daily_sent_count"] = sent

    # vendor answers --------------------------------------------------------------------------
    def credential(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """`?api_key=` on every call; headers are not looked at."""
        return query.get("api_key", [None])[0]

    def unauthorized(self, key: str | None) -> ApiError:
        """401."""
        return ApiError(401, {"message": "Invalid API Key"})

    def payment_required(self) -> ApiError:
        """A plan without API access: 403 "Access denied" (third-party report, unconfirmed)."""
        return ApiError(403, {"message": "Access denied"})

    def rate_limited(self, retry_after: float) -> ApiError:
        """429 + Retry-After and the guide's body (doc-stated only)."""
        seconds = ceil_seconds(retry_after)
        error = {"code": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded", "retry_after": seconds}
        return ApiError(429, {"error": error}, {"Retry-After": str(seconds)})

    def limit_headers(self, method: str, limit: int, remaining: int, reset: float) -> dict[str, str]:
        """`x-ratelimit-*` on GETs ([S-rlr]); reset in seconds (unit unconfirmed)."""
        if method != "GET":
            return {}
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(ceil_seconds(reset)),
        }

    def server_error(self, status: int) -> ApiError:
        """Express's HTML error page."""
        return ApiError(status, "<!DOCTYPE html><html><body><pre>Internal Server Error</pre></body></html>")

    def bad_json(self) -> ApiError:
        """body-parser's 400."""
        return ApiError(400, "<!DOCTYPE html><html><body><pre>SyntaxError: Unexpected token</pre></body></html>")

    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any, key: str) -> tuple[int, Any]:
        """Dispatch by method and path (trailing slashes ignored)."""
        parts = [p for p in path.removeprefix(PREFIX).split("/") if p] if path.startswith(PREFIX) else []
        if parts[:1] == ["email-accounts"]:
            rest = parts[1:]
            if rest == [] and method == "GET":
                return 200, self._list(query)
            if rest == ["save"] and method == "POST":
                return 200, self._save(data)
            if rest == ["reconnect-failed-email-accounts"] and method == "POST":
                return 200, self._reconnect()
            if len(rest) == 2 and (rest[0], method) in (("suspend", "PUT"), ("unsuspend", "DELETE")):
                return 200, self._suspend(rest[1], rest[0] == "suspend")
            if rest and rest[0].isdigit():
                found = self._one(method, int(rest[0]), rest[1:], query, data)
                if found is not None:
                    return found
        raise ApiError(404, f"<!DOCTYPE html><html><body><pre>Cannot {method} {path}</pre></body></html>")

    def _one(
        self, method: str, account_id: int, rest: list[str], query: dict[str, list[str]], data: Any
    ) -> tuple[int, Any] | None:
        account = self.accounts.get(account_id)
        if (method, tuple(rest)) not in ONE_ROUTES:
            return None
        if account is None:
            raise not_found(account_id)
        if method == "GET" and not rest:
            shown = self._public(account, "plain")
            if query.get("fetch_campaigns", [""])[0] == "true":
                shown["campaign_ids"] = []
            return 200, shown
        if method == "POST" and not rest:
            for name, value in (data or {}).items():
                if name in UPDATE_KEYS:
                    account[RENAMED.get(name, name)] = value
            return 200, {"ok": True, "message": "Email account updated successfully"}
        if method == "DELETE":
            self.deleted[account_id] = self.accounts.pop(account_id)
            self.deleted[account_id]["warmup_details"]["status"] = "INACTIVE"
            return 200, {"ok": True, "message": "Email account deleted successfully!", "emailAccountId": account_id}
        if rest == ["warmup"]:
            return 200, self._warmup(account, data or {})
        details = account["warmup_details"]
        today = datetime.now(UTC).date()
        days = [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
        sent, spam = details["total_sent_count"], details["total_spam_count"]
        daily = [{"date": d, "sent": 0, "spam": 0, "delivered": 0, "opened": 0, "replied": 0} for d in days]
        daily[-1].update(sent=sent, spam=spam, delivered=sent - spam)
        stats = {"total_sent": details["total_sent_count"], "spam_count": details["total_spam_count"]}
        return 200, stats | {"reputation_score": details["warmup_reputation"], "daily_stats": daily}

    # behaviour -------------------------------------------------------------------------------
    def _public(self, account: dict[str, Any], passwords: str) -> dict[str, Any]:
        shown = {k: v for k, v in account.items() if k != "is_suspended"}
        shown["warmup_details"] = dict(account["warmup_details"])
        if passwords == "base64":
            for name in ("password", "imap_password"):
                if shown[name] is not None:
                    shown[name] = base64.b64encode(shown[name].encode()).decode()
            shown["warmup_details"]["warmup_reputation"] = f"{account['warmup_details']['warmup_reputation']}%"
        return shown

    def _save(self, data: Any) -> dict[str, Any]:
        body = data if isinstance(data, dict) else {}
        unknown = sorted(set(body) - SAVE_KEYS)
        if self.reject_unknown_keys and unknown:
            raise self._joi(f'"{unknown[0]}" is not allowed', unknown)
        missing = [name for name in REQUIRED if name not in body]
        if missing:
            raise self._joi(f'"{missing[0]}" is required', missing[:1])
        self.create_fault()
        account_id = body.get("id")
        if account_id is None and self.duplicate_without_id == "update":
            account_id = next((i for i, a in self.accounts.items() if a["from_email"] == body["from_email"]), None)
        if account_id is not None and account_id not in self.accounts:
            raise not_found(account_id)
        failed = body["from_email"] in self.fail_login
        if failed and self.login_failure == "reject":
            raise ApiError(400, {"ok": False, "message": "SMTP connection failed", "error": "Invalid credentials"})
        account = self.accounts[account_id] if account_id is not None else self.add_account(body["from_email"])
        for name, value in body.items():
            if name in ("id", "warmup_enabled", "total_warmup_per_day", "daily_rampup", "reply_rate_percentage"):
                continue
            account[RENAMED.get(str(name), str(name))] = value
        if "imap_user_name" not in body:
            account["imap_username"] = body["user_name"]
        if "imap_password" not in body:
            account["imap_password"] = body["password"]
        account["is_different_imap_account"] = "imap_user_name" in body or "imap_password" in body
        account["smtp_port_type"], account["imap_port_type"] = (
            _port_type(body["smtp_port"]),
            _port_type(body["imap_port"]),
        )
        details = account["warmup_details"]
        details["status"] = "ACTIVE" if body["warmup_enabled"] else "INACTIVE"
        details["max_email_per_day"] = body.get("total_warmup_per_day", details["max_email_per_day"])
        self.set_health(account["id"], smtp=not failed, imap=not failed)
        self.lose_create()
        if self.save_shape == "docs":
            data_ = {"id": account["id"], "from_email": account["from_email"]}
            data_ |= {"is_smtp_success": not failed, "is_imap_success": not failed}
            data_["warmup_details"] = {
                "status": details["status"],
                "total_warmup_per_day": details["max_email_per_day"],
            }
            return {"ok": True, "message": "Email account added successfully", "data": data_}
        return {
            "ok": True,
            "message": "Email account added/updated successfully!",
            "emailAccountId": account["id"],
            "warmupKey": details["warmup_key_id"],
        }

    @staticmethod
    def _joi(message: str, keys: list[str]) -> ApiError:
        body = {"statusCode": 400, "error": "Bad Request", "message": message}
        return ApiError(400, body | {"validation": {"source": "body", "keys": keys}})

    def _list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        offset, limit = integer(query, "offset", 0), integer(query, "limit", 100)
        if limit is None or limit > 100:
            raise ApiError(422, {"error": "limit must be less than or equal to 100"})
        if limit < 1:
            raise ApiError(422, {"error": "limit must be greater than or equal to 1"})
        if offset is None or offset < 0:
            raise ApiError(422, {"error": "offset must be greater than or equal to 0"})
        rows = sorted(self.accounts.values(), key=lambda a: a["id"])
        if "isSmtpSuccess" in query:
            rows = [r for r in rows if str(r["is_smtp_success"]).lower() == query["isSmtpSuccess"][0]]
        if "username" in query:
            rows = [r for r in rows if query["username"][0].lower() in r["username"].lower()]
        if "esp" in query:
            rows = [r for r in rows if r["type"] == query["esp"][0]]
        if "emailWarmupStatus" in query:
            rows = [r for r in rows if r["warmup_details"]["status"] == query["emailWarmupStatus"][0]]
        if "client_id" in query:
            rows = [r for r in rows if str(r["client_id"]) == query["client_id"][0]]
        return [self._public(r, self.list_passwords) for r in rows[offset : offset + limit]]

    def _suspend(self, raw_id: str, suspend: bool) -> dict[str, Any]:
        account = self.accounts.get(int(raw_id)) if raw_id.isdigit() else None
        if account is None:
            raise ApiError(400, {"success": False, "message": "Email account not found"})
        account["is_suspended"] = suspend
        message = "Email account suspended successfully" if suspend else "Email account unsuspended successfully"
        return {"success": True, "message": message, "data": {"accountId": account["id"], "isSuspended": suspend}}

    def _warmup(self, account: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "warmup_enabled" not in body:
            raise ApiError(422, {"error": "warmup_enabled is required"})
        for name, (low, high) in WARMUP_RANGES.items():
            if name in body and not low <= body[name] <= high:
                raise ApiError(422, {"error": f"{name} must be between {low} and {high}"})
        details = account["warmup_details"]
        details["status"] = "ACTIVE" if body["warmup_enabled"] else "INACTIVE"
        details["max_email_per_day"] = body.get("total_warmup_per_day", details["max_email_per_day"])
        details["reply_rate"] = body.get("reply_rate_percentage", details["reply_rate"])
        return {"ok": True, "message": "Warmup settings updated successfully"}

    def _reconnect(self) -> dict[str, Any]:
        for account in self.accounts.values():
            if account["from_email"] not in self.fail_login:
                self.set_health(account["id"])
        return {"ok": True, "message": "Reconnect started for failed email accounts"}
