"""A faithful fake of ReachInbox's account list and warmup toggles (../shared/reference/sequencer-apis.md §4).

ReachInbox has no public account-create API (mailboxes arrive by CSV or UI): tests seed accounts
with `add_account`, and every other route, a create included, answers 404. Reproduces: bearer auth,
`GET /api/v1/account/all` with `contains`, `status`, `limit`, `offset`, `sortField`, `order` and
the envelope `{status, message, data{totalEmailsConnected, totalActiveEmails, totalCount,
emailsConnected[…]}}`, integer ids, no password in reads, `POST /api/v1/account/warmup/enable` and
`/pause` keyed by `{"ids": […]}`. **Unconfirmed**, chosen here: 401/404/429 bodies (`{status,
message}`), the warmup answers, `limit` default 10 and at most `max_limit`, id order unless `sortField` is given (then `order`
defaults to DESC), `status` values (`all`,
`active`, `inactive`, `disconnected`), no rate limit unless `limits` is set.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.sequencer_base import ApiError, FakeSequencer, ceil_seconds, integer

PREFIX = "/api/v1/account"


def answer(status: int, message: str) -> ApiError:
    """ReachInbox's `{status, message}` body."""
    return ApiError(status, {"status": status, "message": message})


def _state(account: dict[str, Any]) -> str:
    if account["isDisconnected"]:
        return "disconnected"
    return "active" if account["isActive"] else "inactive"


@dataclass
class FakeReachInbox(FakeSequencer):
    """ReachInbox accounts by integer id."""

    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: unconfirmed: the largest `limit` honoured
    max_limit: int = 100
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(51234))

    # test helpers ----------------------------------------------------------------------------
    def add_account(self, email: str, **fields: Any) -> dict[str, Any]:
        """Store an account (as if imported by CSV)."""
        account_id = next(self._ids)
        local, _, domain = email.partition("@")
        account: dict[str, Any] = {
            "id": account_id,
            "email": email,
            "firstName": local,
            "lastName": "",
            "isActive": True,
            "limits": 30,
            "mailsSentToday": 0,
            "bouncesToday": 0,
            "warmupEnabled": False,
            "warmupHealthScore": 0,
            "warmupEmailSentPastWeek": 0,
            "warmupEmailSent": 0,
            "statusConnection": 100,
            "statusMessage": "Success",
            "isDisconnected": False,
            "type": "smtp",
            "error": False,
            "trackingDomain": None,
            "provider": "custom",
            "imapHost": f"mail.{domain}",
            "imapPort": 993,
            "imapUsername": email,
            "smtpHost": f"mail.{domain}",
            "smtpPort": 587,
            "smtpUsername": email,
            "signature": "",
            "monitorBlacklists": False,
            "campaignEmailSent": 0,
        }
        account.update(fields)
        self.accounts[account_id] = account
        return account

    def set_health(self, account_id: int, *, disconnected: bool, message: str = "Authentication failed") -> None:
        """Connection state from outside (`isDisconnected`, `error`, `statusMessage`)."""
        account = self.accounts[account_id]
        account["isDisconnected"] = account["error"] = disconnected
        account["statusMessage"] = message if disconnected else "Success"
        account["statusConnection"] = 0 if disconnected else 100

    def set_warmup(self, account_id: int, *, enabled: bool = True, score: int = 0, sent_week: int = 0) -> None:
        """Warmup state from outside."""
        account = self.accounts[account_id]
        account.update(warmupEnabled=enabled, warmupHealthScore=score, warmupEmailSentPastWeek=sent_week)

    def set_sent_today(self, account_id: int, sent: int) -> None:
        """`mailsSentToday`."""
        self.accounts[account_id]["mailsSentToday"] = sent

    # vendor answers --------------------------------------------------------------------------
    def credential(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """`Authorization: Bearer <token>`."""
        value = headers.get("authorization")
        return None if value is None else value.removeprefix("Bearer ").strip()

    def unauthorized(self, key: str | None) -> ApiError:
        """401 (body unconfirmed)."""
        return answer(401, "Unauthorized")

    def payment_required(self) -> ApiError:
        """No documented plan refusal: 402 in the same body."""
        return answer(402, "Payment Required")

    def rate_limited(self, retry_after: float) -> ApiError:
        """429 (unconfirmed)."""
        error = answer(429, "Too many requests, please try again later.")
        error.headers["Retry-After"] = str(ceil_seconds(retry_after))
        return error

    def server_error(self, status: int) -> ApiError:
        """5xx."""
        return answer(status, "Internal Server Error")

    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any, key: str) -> tuple[int, Any]:
        """The list and the two warmup toggles; anything else (a create too) is 404."""
        if path.rstrip("/") == f"{PREFIX}/all" and method == "GET":
            return 200, self._list(query)
        if path in (f"{PREFIX}/warmup/enable", f"{PREFIX}/warmup/pause") and method == "POST":
            ids = (data or {}).get("ids") if isinstance(data, dict) else None
            if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
                raise answer(400, '"ids" must be a non-empty array of account ids')
            enable = path.endswith("/enable")
            for account_id in ids:
                if account_id in self.accounts:
                    self.accounts[account_id]["warmupEnabled"] = enable
            word = "enabled" if enable else "paused"
            return 200, {"status": 200, "message": f"Warmup {word} successfully."}
        raise answer(404, f"Cannot {method} {path}")

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit, offset = integer(query, "limit", 10), integer(query, "offset", 0)
        if limit is None or offset is None or limit < 1 or offset < 0:
            raise answer(400, '"limit" and "offset" must be non-negative integers')
        limit = min(limit, self.max_limit)
        every = list(self.accounts.values())
        rows = every
        needle = query.get("contains", [""])[0].lower()
        if needle:
            rows = [r for r in rows if needle in r["email"].lower()]
        status = query.get("status", ["all"])[0]
        if status in ("active", "inactive", "disconnected"):
            rows = [r for r in rows if _state(r) == status]
        # the docs sort by `warmup_health_score` while accounts carry camelCase names
        head, *tail = query.get("sortField", ["id"])[0].split("_")
        sort_field = head + "".join(word.title() for word in tail)
        if "sortField" in query and rows and sort_field in rows[0]:
            descending = query.get("order", ["DESC"])[0].upper() == "DESC"
            rows = sorted(rows, key=lambda r: (r[sort_field] is None, r[sort_field], r["id"]), reverse=descending)
        data = {
            "totalEmailsConnected": len(every),
            "totalActiveEmails": sum(1 for r in every if _state(r) == "active"),
            "totalCount": len(rows),
            "emailsConnected": [dict(r) for r in rows[offset : offset + limit]],
        }
        return {"status": 200, "message": "Email accounts fetched successfully.", "data": data}
