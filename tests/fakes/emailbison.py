"""A faithful fake of EmailBison sender emails and warmup (../shared/reference/sequencer-apis.md §3).

Reproduces: bearer tokens bound to one workspace (a super-admin token sees them all at
`/api/workspaces/v1.1`), integer ids, create `POST /api/sender-emails/imap-smtp` → **201**
`{"data":{…}}` without the password, duplicate email → **422** with the validation envelope nested
under `data` ("The email has already been taken."), the intermittent 500 on create (a random
fraction, and `create_cooldown`: a create too soon after other traffic fails, as the integrator
observed), Laravel pagination (`data`, `links`, `meta.current_page/last_page/per_page/total`, 15 per
page), PATCH updates, warmup list requiring both dates (422) and PATCH enable/disable keyed by
`sender_email_ids`. **Unconfirmed**, chosen here: 401 `{"message":"Unauthenticated."}`, 404 and
delete bodies in the nested envelope, `per_page` accepted up to `max_per_page`, status strings
other than "Connected" ("Disconnected" for a failed login), warmup list fields, no rate limit
unless `limits` is set (then Laravel's 429 `{"message":"Too Many Attempts."}` + headers).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.sequencer_base import ApiError, FakeSequencer, ceil_seconds, integer

REQUIRED = ("name", "email", "password", "imap_server", "imap_port", "smtp_server", "smtp_port")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)
COUNTS = (  # noqa: SIM905  # the reference's field list, kept readable
    "emails_sent_count total_replied_count total_opened_count unsubscribed_count bounced_count "
    "unique_replied_count unique_opened_count total_leads_contacted_count interested_leads_count"
).split()


def invalid(errors: dict[str, list[str]], status: int = 422) -> ApiError:
    """The validation envelope, nested under `data` as observed."""
    first = next(iter(errors.values()))[0]
    return ApiError(status, {"data": {"success": False, "message": first, "errors": errors}})


def not_found() -> ApiError:
    """Unknown sender email (body unconfirmed)."""
    return ApiError(404, {"data": {"success": False, "message": "Sender email not found."}})


@dataclass
class FakeEmailBison(FakeSequencer):
    """EmailBison sender emails; `accounts` by integer id (password under `_password`, never rendered)."""

    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: token → workspace id (a token not listed is in workspace 1)
    workspace_of: dict[str, int] = field(default_factory=dict)
    #: super-admin tokens: they see every workspace in `/api/workspaces/v1.1`
    super_admins: set[str] = field(default_factory=set)
    #: 201 as observed; the spec says 200
    create_status: int = 201
    #: a create less than this many clock seconds after the previous request answers 500
    create_cooldown: float = 0.0
    #: unconfirmed: the largest `per_page` honoured
    max_per_page: int = 100
    #: emails whose login fails: created with status "Disconnected" (unconfirmed string)
    fail_login: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last_request: float | None = None

    # test helpers ----------------------------------------------------------------------------
    def add_account(self, email: str, workspace: int = 1, **fields: Any) -> dict[str, Any]:
        """Store a sender email directly."""
        account_id = next(self._ids)
        now = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=account_id)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        account: dict[str, Any] = {
            "id": account_id,
            "name": email.split("@")[0],
            "email": email,
            "email_signature": None,
            "imap_server": "mail.example.com",
            "imap_port": 993,
            "smtp_server": "mail.example.com",
            "smtp_port": 587,
            "daily_limit": 30,
            "type": "Inbox",
            "status": "Connected",
            "warmup_enabled": False,
            **dict.fromkeys(COUNTS, 0),
            "created_at": now,
            "updated_at": now,
            "tags": [],
            "_workspace": workspace,
            "_password": "",
            "_warmup_score": None,
            "_warmup_sent": 0,
        }
        account.update(fields)
        self.accounts[account_id] = account
        return account

    def set_status(self, account_id: int, status: str) -> None:
        """Health from outside ("Connected", "Disconnected", …)."""
        self.accounts[account_id]["status"] = status

    def set_warmup(self, account_id: int, *, enabled: bool = True, score: int | None = None, sent: int = 0) -> None:
        """Warmup state from outside."""
        account = self.accounts[account_id]
        account["warmup_enabled"], account["_warmup_score"], account["_warmup_sent"] = enabled, score, sent

    def set_sent(self, account_id: int, sent: int) -> None:
        """`emails_sent_count`."""
        self.accounts[account_id]["emails_sent_count"] = sent

    # vendor answers --------------------------------------------------------------------------
    def credential(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """`Authorization: Bearer <token>`."""
        value = headers.get("authorization")
        return None if value is None else value.removeprefix("Bearer ").strip()

    def unauthorized(self, key: str | None) -> ApiError:
        """Laravel's 401 (unconfirmed)."""
        return ApiError(401, {"message": "Unauthenticated."})

    def payment_required(self) -> ApiError:
        """No documented plan refusal: Laravel's 403."""
        return ApiError(403, {"message": "This action is unauthorized."})

    def rate_limited(self, retry_after: float) -> ApiError:
        """Laravel's throttle answer (EmailBison's limits are unconfirmed)."""
        seconds = str(ceil_seconds(retry_after))
        return ApiError(429, {"message": "Too Many Attempts."}, {"Retry-After": seconds, "X-RateLimit-Remaining": "0"})

    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any, key: str) -> tuple[int, Any]:
        """Dispatch by method and path."""
        now, last = self.clock(), self._last_request
        self._last_request = now
        workspace = self.workspace_of.get(key, 1)
        parts = [p for p in path.split("/") if p]
        if parts == ["api", "workspaces", "v1.1"] and method == "GET":
            seen = {a["_workspace"] for a in self.accounts.values()} | set(self.workspace_of.values()) | {1}
            ids = sorted(seen) if key in self.super_admins else [workspace]
            return 200, {"data": [{"id": i, "name": f"Workspace {i}"} for i in ids]}
        if parts == ["api", "sender-emails", "imap-smtp"] and method == "POST":
            if last is not None and now - last < self.create_cooldown:
                raise self.server_error(500)
            return self.create_status, {"data": self._create(data, workspace)}
        if parts == ["api", "sender-emails"] and method == "GET":
            return 200, self._page(self._mine(workspace, query), query, path, self._render)
        if len(parts) == 3 and parts[:2] == ["api", "sender-emails"] and parts[2].isdigit():
            return 200, self._one(method, int(parts[2]), workspace, data)
        if parts[:3] == ["api", "warmup", "sender-emails"]:
            return 200, self._warmup(method, parts[3:], workspace, query, data, path)
        raise ApiError(404, {"message": f"The route {path.lstrip('/')} could not be found."})

    # behaviour -------------------------------------------------------------------------------
    @staticmethod
    def _render(account: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in account.items() if not k.startswith("_")}

    def _create(self, data: Any, workspace: int) -> dict[str, Any]:
        body = data if isinstance(data, dict) else {}
        errors: dict[str, list[str]] = {}
        for name in REQUIRED:
            if body.get(name) in (None, ""):
                errors[name] = [f"The {name.replace('_', ' ')} field is required."]
        for name in ("imap_server", "smtp_server"):
            if name not in errors and not DOMAIN.match(str(body[name])):
                errors[name] = [f"The {name.replace('_', ' ')} must be a valid domain."]
        for name in ("imap_port", "smtp_port"):
            if name not in errors and not isinstance(body[name], int):
                errors[name] = [f"The {name.replace('_', ' ')} field must be an integer."]
        if "email" not in errors and "@" not in str(body["email"]):
            errors["email"] = ["The email field must be a valid email address."]
        if "email" not in errors and any(a["email"] == body["email"] for a in self.accounts.values()):
            errors["email"] = ["The email has already been taken."]
        if errors:
            raise invalid(errors)
        self.create_fault()
        fields = {k: body[k] for k in ("name", "imap_server", "imap_port", "smtp_server", "smtp_port")}
        account = self.add_account(body["email"], workspace, **fields, _password=body["password"])
        account["email_signature"] = body.get("email_signature")
        if body["email"] in self.fail_login:
            account["status"] = "Disconnected"
        self.lose_create()
        return self._render(account)

    def _mine(self, workspace: int, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        rows = [a for a in sorted(self.accounts.values(), key=lambda a: a["id"]) if a["_workspace"] == workspace]
        if query.get("search"):
            needle = query["search"][0].lower()
            rows = [r for r in rows if needle in r["email"].lower() or needle in r["name"].lower()]
        if query.get("status"):
            rows = [r for r in rows if r["status"] == query["status"][0]]
        return rows

    def _page(self, rows: list[dict[str, Any]], query: dict[str, list[str]], path: str, render: Any) -> dict[str, Any]:
        number, per_page = integer(query, "page", 1), integer(query, "per_page", 15)
        if number is None or number < 1 or per_page is None or per_page < 1:
            raise invalid({"page": ["The page field must be at least 1."]})
        per_page = min(per_page, self.max_per_page)
        last_page = max(1, math.ceil(len(rows) / per_page))
        chunk = rows[(number - 1) * per_page : number * per_page]
        url = f"{self.url}{path}"
        meta: dict[str, Any] = {
            "current_page": number,
            "from": (number - 1) * per_page + 1 if chunk else None,
            "last_page": last_page,
        }
        meta |= {"path": url, "per_page": per_page, "to": (number - 1) * per_page + len(chunk) if chunk else None}
        links: dict[str, Any] = {"first": f"{url}?page=1", "last": f"{url}?page={last_page}"}
        links |= {"prev": f"{url}?page={number - 1}" if number > 1 else None}
        links |= {"next": f"{url}?page={number + 1}" if number < last_page else None}
        return {"data": [render(r) for r in chunk], "links": links, "meta": meta | {"total": len(rows)}}

    def _one(self, method: str, account_id: int, workspace: int, data: Any) -> Any:
        account = self.accounts.get(account_id)
        if account is None or account["_workspace"] != workspace:
            raise not_found()
        if method == "GET":
            return {"data": self._render(account)}
        if method == "PATCH":
            body = data if isinstance(data, dict) else {}
            account.update({k: body[k] for k in ("daily_limit", "name", "email_signature") if k in body})
            return {"data": self._render(account)}
        if method == "DELETE":
            del self.accounts[account_id]
            return {"data": {"success": True, "message": "Sender email deleted successfully."}}
        raise ApiError(405, {"message": f"The {method} method is not supported for this route."})

    def _warmup_row(self, account: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": account["id"],
            "email": account["email"],
            "name": account["name"],
            "warmup_status": "enabled" if account["warmup_enabled"] else "disabled",
            "warmup_score": account["_warmup_score"],
            "warmup_emails_sent": account["_warmup_sent"],
            "warmup_replies_received": 0,
            "warmup_emails_saved_from_spam": 0,
            "tags": account["tags"],
        }

    def _warmup(
        self, method: str, rest: list[str], workspace: int, query: dict[str, list[str]], data: Any, path: str
    ) -> Any:
        if method == "PATCH" and rest in (["enable"], ["disable"]):
            ids = (data or {}).get("sender_email_ids")
            if not isinstance(ids, list) or not ids:
                raise invalid({"sender_email_ids": ["The sender email ids field is required."]})
            mine = [self.accounts[i] for i in ids if i in self.accounts and self.accounts[i]["_workspace"] == workspace]
            for account in mine:
                account["warmup_enabled"] = rest == ["enable"]
            word = "enabled" if rest == ["enable"] else "disabled"
            return {"data": {"success": True, "message": f"Warmup {word} for {len(mine)} sender emails."}}
        if method != "GET" or len(rest) > 1:
            raise ApiError(404, {"message": f"The route {path.lstrip('/')} could not be found."})
        missing = {n: [f"The {n.replace('_', ' ')} field is required."] for n in ("start_date", "end_date")}
        missing = {n: m for n, m in missing.items() if not query.get(n)}
        if missing:
            raise invalid(missing)
        rows = self._mine(workspace, query)
        if rest:
            found = [r for r in rows if str(r["id"]) == rest[0]]
            if not found:
                raise not_found()
            return {"data": self._warmup_row(found[0])}
        if query.get("warmup_status"):
            rows = [r for r in rows if self._warmup_row(r)["warmup_status"] == query["warmup_status"][0]]
        return self._page(rows, query, path, self._warmup_row)
