"""A faithful fake of Instantly API v2 accounts (../shared/reference/sequencer-apis.md §1).

Reproduces: bearer auth (401 envelope; 402 with `unpaid`; 403 for a key without the scope, that
status **unconfirmed**), the email as the account key (raw `@` or `%40`), strict bodies
(`additionalProperties: false` → 400 "body must NOT have additional properties", missing field →
"body must have required property 'x'"), create → 200 Account, responses without any credential
or host, `limit` 1-100 + `starting_after` cursor `timestamp_created&email` → `{items,
next_starting_after}`, pause/resume/mark-fixed, warmup toggles as BackgroundJobs that finish after
`job_polls` reads, warmup-analytics, daily analytics, 429 per workspace (100/s and 6,000/min),
Fastify's unknown-route 404. **Unconfirmed** choices are knobs: `duplicate_status`,
`cursor_on_last_page`, `reject_empty_json_body`, `retry_after_header`; list order is ascending by
(timestamp_created, email); `mark-fixed` sets status 1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from tests.fakes.sequencer_base import ApiError, FakeSequencer, ceil_seconds, integer

PREFIX = "/api/v2"
ORGANIZATION = "0b5a3c4e-1f2d-4e6a-9b8c-7d6e5f4a3b2c"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
REQUIRED = (  # noqa: SIM905  # the reference's field lists, kept readable
    "email first_name last_name provider_code imap_username imap_password imap_host imap_port "
    "smtp_username smtp_password smtp_host smtp_port"
).split()
OPTIONAL = (  # noqa: SIM905  # the spec's field list, pasted as one string reads like the spec
    "daily_limit sending_gap enable_slow_ramp inbox_placement_test_limit tracking_domain_name "
    "tracking_domain_status skip_cname_check signature reply_to warmup_custom_ftag warmup"
).split()
PATCHABLE = (  # noqa: SIM905  # as above
    "first_name last_name warmup daily_limit tracking_domain_name tracking_domain_status enable_slow_ramp "
    "inbox_placement_test_limit sending_gap signature reply_to skip_cname_check remove_tracking_domain"
).split()
WARMUP_KEYS = {"limit", "increment", "reply_rate", "advanced", "warmup_custom_ftag"}
PROVIDER_CODES = {1, 2, 3, 4, 8, 11}
STATUSES = {1, 2, 3, -1, -2, -3}
SECRET = {"imap_username", "imap_password", "imap_host", "imap_port", "smtp_username", "smtp_password"}
SECRET |= {"smtp_host", "smtp_port"}
#: Account fields that start out null
NULLABLE = (  # noqa: SIM905  # as above
    "status_message autofix_failed daily_limit daily_limit_max warmup_limit_max inbox_placement_test_limit "
    "signature reply_to tracking_domain_name tracking_domain_status stat_warmup_score timestamp_warmup_start "
    "added_by modified_by"
).split()
LOGIN_ERROR = {
    "code": "EAUTH",
    "command": "AUTH PLAIN",
    "response": "535 5.7.8 Authentication failed",
    "e_message": "Invalid login: 535 5.7.8 Authentication failed",
    "responseCode": 535,
}


def err(status: int, message: str) -> ApiError:
    """Instantly's `{statusCode, error, message}` envelope (`error` is the status phrase)."""
    return ApiError(status, {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message})


def _stamp(seq: int) -> str:
    return (EPOCH + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _strict(data: Any, allowed: set[str], where: str = "body") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise err(400, f"{where} must be object")
    if set(data) - allowed:
        raise err(400, f"{where} must NOT have additional properties")
    return data


def _emails(data: Any) -> list[str]:
    emails = _strict(data, {"emails"}).get("emails")
    if not isinstance(emails, list):
        raise err(400, "body must have required property 'emails'")
    if not 1 <= len(emails) <= 100:
        raise err(400, f"body/emails must NOT have {'fewer than 1' if not emails else 'more than 100'} items")
    return [str(e) for e in emails]


@dataclass
class FakeInstantly(FakeSequencer):
    """Instantly v2 accounts; `accounts` by email (credentials under `_secret`, never rendered)."""

    limits: tuple[tuple[int, float], ...] = ((100, 1.0), (6000, 60.0))
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: token → scopes (`accounts:read`, `all:all`…); a token not listed has `all:all`
    scopes: dict[str, set[str]] = field(default_factory=dict)
    #: unconfirmed: status of a second create of the same email (None = 200 with the existing account)
    duplicate_status: int | None = 400
    #: unconfirmed: the last full page still carries `next_starting_after` (the next page is empty)
    cursor_on_last_page: bool = False
    #: unconfirmed: Fastify refuses `Content-Type: application/json` with an empty body
    reject_empty_json_body: bool = True
    #: unconfirmed: a 429 carries `Retry-After`
    retry_after_header: bool = False
    #: reads of a background job before it is `success` (and its change applied)
    job_polls: int = 1
    #: emails whose SMTP/IMAP login fails: created with status -1 (the check is asynchronous)
    fail_login: set[str] = field(default_factory=set)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # test helpers ----------------------------------------------------------------------------
    def add_account(self, email: str, **fields: Any) -> dict[str, Any]:
        """Store an account directly (e.g. one added in the UI)."""
        seq = next(self._seq)
        account: dict[str, Any] = {
            "email": email,
            "timestamp_created": _stamp(seq),
            "timestamp_updated": _stamp(seq),
            "first_name": "",
            "last_name": "",
            "organization": ORGANIZATION,
            "provider_code": 1,
            "status": 1,
            "warmup_status": 0,
            "setup_pending": False,
            "is_managed_account": False,
            "warmup": {"limit": 10, "increment": "disabled", "reply_rate": 0.1},
            "sending_gap": 10,
            "enable_slow_ramp": False,
            **dict.fromkeys(NULLABLE),
            "_secret": {},
            "_sent_today": 0,
            "_warmup_sent": 0,
        }
        account.update(fields)
        self.accounts[email] = account
        return account

    def set_status(self, email: str, status: int, message: dict[str, Any] | None = None) -> None:
        """Health from outside: -1 Connection Error (with a login error message), 1 Active, …"""
        account = self.accounts[email]
        account["status"] = status
        account["status_message"] = message or (LOGIN_ERROR if status == -1 else None)
        account["autofix_failed"] = True if status == -1 else None

    def set_warmup(self, email: str, *, status: int | None = None, score: int | None = None, sent: int = 0) -> None:
        """Warmup state from outside: `warmup_status`, `stat_warmup_score`, warmup mails sent."""
        account = self.accounts[email]
        if status is not None:
            account["warmup_status"] = status
        account["stat_warmup_score"], account["_warmup_sent"] = score, sent

    def set_sent_today(self, email: str, sent: int) -> None:
        """Campaign mails sent today (daily analytics)."""
        self.accounts[email]["_sent_today"] = sent

    # vendor answers --------------------------------------------------------------------------
    def credential(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """`Authorization: Bearer <key>`."""
        value = headers.get("authorization")
        return None if value is None else value.removeprefix("Bearer ").strip()

    def unauthorized(self, key: str | None) -> ApiError:
        """401; the text for a bad (not missing) key is unconfirmed."""
        return err(401, "Missing Authorization header" if key is None else "Invalid API key")

    def payment_required(self) -> ApiError:
        """402."""
        return err(402, "Workspace does not have an active paid plan")

    def rate_limited(self, retry_after: float) -> ApiError:
        """429 envelope; headers unconfirmed."""
        error = err(429, "Rate limit exceeded")
        if self.retry_after_header:
            error.headers["Retry-After"] = str(ceil_seconds(retry_after))
        return error

    def server_error(self, status: int) -> ApiError:
        """Fastify's 5xx envelope."""
        return err(status, HTTPStatus(status).phrase)

    def bad_json(self) -> ApiError:
        """A body that does not parse."""
        return err(400, "Body is not valid JSON but content-type is set to 'application/json'")

    def rate_key(self, key: str) -> str:
        """Counted per workspace across all its keys."""
        return ORGANIZATION

    def check_body(self, method: str, headers: dict[str, str], body: bytes) -> None:
        """Fastify: a JSON content type with an empty body is refused."""
        json_type = headers.get("content-type", "").startswith("application/json")
        if self.reject_empty_json_body and json_type and not body:
            raise err(400, "Body cannot be empty when content-type is set to 'application/json'")

    def _need(self, key: str, action: str) -> None:
        scopes = self.scopes.get(key, {"all:all"})
        if not scopes & {f"accounts:{action}", "accounts:all", f"all:{action}", "all:all"}:
            raise err(403, "Forbidden")

    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any, key: str) -> tuple[int, Any]:
        """Dispatch by method and path."""
        parts = [unquote(p) for p in path.removeprefix(PREFIX).split("/") if p] if path.startswith(PREFIX) else []
        if parts == ["workspaces", "current"] and method == "GET":
            return 200, {"id": ORGANIZATION, "name": "Fake workspace", "owner": None}
        if len(parts) == 2 and parts[0] == "background-jobs" and method == "GET":
            return 200, self._job(parts[1])
        if parts[:1] == ["accounts"]:
            found = self._accounts(method, parts[1:], query, data, key)
            if found is not None:
                return found
        raise ApiError(404, {"message": f"Route {method}:{path} not found", "error": "Not Found", "statusCode": 404})

    def _accounts(
        self, method: str, rest: list[str], query: dict[str, list[str]], data: Any, key: str
    ) -> tuple[int, Any] | None:
        bulk = {("POST", "pause"), ("POST", "warmup-analytics"), ("GET", "analytics"), ("POST", "warmup")}
        if not rest:
            self._need(key, "create" if method == "POST" else "read")
            if method == "POST":
                return 200, self._create(data)
            return (200, self._list(query)) if method == "GET" else None
        if (method, rest[0]) in bulk:
            return self._bulk(method, rest, query, data, key)
        account = self.accounts.get(rest[0])
        action = {"GET": "read", "PATCH": "update", "DELETE": "delete", "POST": "update"}.get(method, "read")
        self._need(key, action)
        known = (len(rest) == 1 and method in ("GET", "PATCH", "DELETE")) or (len(rest) == 2 and method == "POST")
        if known and account is None:
            raise err(404, "Resource not found")
        if len(rest) == 1 and method == "GET":
            return 200, self._render(account)
        if len(rest) == 1 and method == "PATCH":
            return 200, self._patch(account, data)
        if len(rest) == 1 and method == "DELETE":
            return 200, self._render(self.accounts.pop(rest[0]))
        if len(rest) == 2 and method == "POST" and rest[1] in ("pause", "resume", "mark-fixed"):
            self.set_status(rest[0], 2 if rest[1] == "pause" else 1)
            return 200, self._render(account)
        return None

    def _bulk(
        self, method: str, rest: list[str], query: dict[str, list[str]], data: Any, key: str
    ) -> tuple[int, Any] | None:
        if rest == ["pause"]:
            self._need(key, "update")
            unique = list(dict.fromkeys(_emails(data)))
            paused = [e for e in unique if e in self.accounts]
            for email in paused:
                self.set_status(email, 2)
            return 200, {"paused_emails": paused, "failed_emails": [e for e in unique if e not in self.accounts]}
        if len(rest) == 2 and rest[0] == "warmup" and rest[1] in ("enable", "disable"):
            self._need(key, "update")
            return 200, self._warmup_job(data, rest[1] == "enable")
        if rest == ["warmup-analytics"]:
            self._need(key, "read")
            return 200, self._analytics([e for e in _emails(data) if e in self.accounts])
        if rest == ["analytics", "daily"] and method == "GET":
            self._need(key, "read")
            emails = query.get("emails", []) + query.get("emails[]", [])
            today = datetime.now(UTC).date().isoformat()
            return 200, [self._daily(e, today) for e in emails if e in self.accounts]
        return None

    # behaviour -------------------------------------------------------------------------------
    @staticmethod
    def _render(account: dict[str, Any] | None) -> dict[str, Any]:
        assert account is not None
        return {k: v for k, v in account.items() if not k.startswith("_")}

    def _create(self, data: Any) -> dict[str, Any]:
        body = _strict(data, set(REQUIRED) | set(OPTIONAL))
        for name in REQUIRED:
            if name not in body:
                raise err(400, f"body must have required property '{name}'")
        if body["provider_code"] not in PROVIDER_CODES:
            raise err(400, "body/provider_code must be equal to one of the allowed values")
        for name in ("imap_port", "smtp_port"):
            if not isinstance(body[name], int | float) or isinstance(body[name], bool):
                raise err(400, f"body/{name} must be number")
        if "warmup" in body:
            _strict(body["warmup"], WARMUP_KEYS, "body/warmup")
        self.create_fault()
        if body["email"] in self.accounts:
            if self.duplicate_status is not None:
                raise err(self.duplicate_status, "Account already exists")
            return self._render(self.accounts[body["email"]])
        public = {k: v for k, v in body.items() if k not in SECRET}
        account = self.add_account(**public)
        account["_secret"] = {k: body[k] for k in SECRET}
        if body["email"] in self.fail_login:
            self.set_status(body["email"], -1)
        self.lose_create()
        return self._render(account)

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = integer(query, "limit", 100)
        if limit is None or not 1 <= limit <= 100:
            raise err(400, "querystring/limit must be <= 100")
        rows = sorted(self.accounts.values(), key=lambda a: (a["timestamp_created"], a["email"]))
        if "starting_after" in query:
            created, _, email = query["starting_after"][0].partition("&")
            rows = [r for r in rows if (r["timestamp_created"], r["email"] if email else "") > (created, email)]
        if "search" in query:
            rows = [r for r in rows if query["search"][0].lower() in r["email"].lower()]
        for name in ("status", "provider_code"):
            if name in query:
                rows = [r for r in rows if str(r[name]) == query[name][0]]
        skip = integer(query, "skip", 0) or 0
        page = rows[skip : skip + limit]
        answer: dict[str, Any] = {"items": [self._render(r) for r in page]}
        more = len(rows) > skip + limit
        if page and (more or (self.cursor_on_last_page and len(page) == limit)):
            answer["next_starting_after"] = f"{page[-1]['timestamp_created']}&{page[-1]['email']}"
        return answer

    def _patch(self, account: dict[str, Any] | None, data: Any) -> dict[str, Any]:
        assert account is not None
        body = _strict(data, set(PATCHABLE))
        if "warmup" in body:
            account["warmup"] = {**account["warmup"], **_strict(body.pop("warmup"), WARMUP_KEYS, "body/warmup")}
        if body.pop("remove_tracking_domain", False):
            account["tracking_domain_name"] = account["tracking_domain_status"] = None
        account.update(body)
        account["timestamp_updated"] = _stamp(next(self._seq))
        return self._render(account)

    def _warmup_job(self, data: Any, enable: bool) -> dict[str, Any]:
        allowed = {"emails", "include_all_emails", "excluded_emails", "filter", "search"}
        body = _strict(data, allowed)
        if body.get("include_all_emails") is True:
            excluded = set(body.get("excluded_emails") or [])
            emails = [e for e in self.accounts if e not in excluded]
        elif isinstance(body.get("emails"), list) and 1 <= len(body["emails"]) <= 100:
            emails = list(body["emails"])
        else:
            raise err(400, "body must have required property 'emails'")
        job_id = f"{len(self.jobs) + 1:024x}"
        now = datetime.now(UTC).isoformat()
        self.jobs[job_id] = {
            "id": job_id,
            "workspace_id": ORGANIZATION,
            "user_id": None,
            "type": "update-warmup-accounts",
            "entity_id": ORGANIZATION,
            "entity_type": "workspace",
            "data": {"emails": emails, "enable": enable},
            "progress": 0,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
            "_reads": 0,
        }
        return self._render(self.jobs[job_id])

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise err(404, "Resource not found")
        job["_reads"] += 1
        if job["status"] == "pending" and job["_reads"] >= self.job_polls:
            job.update(status="success", progress=100, updated_at=datetime.now(UTC).isoformat())
            for email in job["data"]["emails"]:
                if email in self.accounts:
                    account = self.accounts[email]
                    account["warmup_status"] = 1 if job["data"]["enable"] else 0
                    account["timestamp_warmup_start"] = account["timestamp_warmup_start"] or job["updated_at"]
        return self._render(job)

    def _analytics(self, emails: list[str]) -> dict[str, Any]:
        today = datetime.now(UTC).date().isoformat()
        dates, aggregate = {}, {}
        for email in emails:
            account = self.accounts[email]
            sent, score = account["_warmup_sent"], account["stat_warmup_score"]
            dates[email] = {today: {"sent": sent, "landed_inbox": sent, "received": sent}} if sent else {}
            aggregate[email] = {"sent": sent, "landed_inbox": sent, "received": sent}
            if score is not None:
                aggregate[email] |= {"health_score": score, "health_score_label": f"{score}%"}
        return {"email_date_data": dates, "aggregate_data": aggregate}

    def _daily(self, email: str, today: str) -> dict[str, Any]:
        sent = self.accounts[email]["_sent_today"]
        counts = dict.fromkeys(("bounced", "opened", "unique_opened", "replies", "unique_replies"), 0)
        return {"date": today, "email_account": email, "sent": sent, "contacted": sent, "new_leads_contacted": sent} | (
            counts
        )
