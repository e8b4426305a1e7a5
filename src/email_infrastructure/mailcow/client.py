"""A typed async client of Mailcow's REST API (mailcow-api.md), on the shared VendorClient.

Mailcow answers writes with HTTP 200 whatever happened: an array of `{type, log, msg}` entries,
or one object when the business function produced none. Every entry is scanned: a `danger` is a
failure even under 200, and callers decide per message key (the automatic DKIM step of
`add/domain` may fail while the domain is created). Reads return raw objects and `{}` for
missing. The client keeps no cookies: a PHP session cookie of an API call grants admin without
the key.
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from email_infrastructure.core.errors import ProviderAuthError, ProviderError
from email_infrastructure.core.http import RetryPolicy, Sleep, VendorClient
from email_infrastructure.core.logging import redact_text

API = "/api/v1"
READ_ONLY = "API read/write access denied"


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that stores nothing: every request stands on its API key alone."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Refuse."""

    def extract_cookies(self, response: Any, request: urllib.request.Request) -> None:
        """Refuse."""


@dataclass(frozen=True)
class Message:
    """One entry of a write's answer: `type` (success, danger, warning, info), `msg` key and args."""

    type: str
    key: str
    args: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """A `danger` (or an `error` object) means the item it names failed."""
        return self.type in ("danger", "error")

    def __str__(self) -> str:
        return self.key + (f" ({', '.join(self.args)})" if self.args else "")


class MailcowWriteError(ProviderError):
    """A write answered HTTP 200 with a `danger` entry; `code` is the first failing message key."""


def _messages(body: Any) -> list[Message]:
    """Every entry of a write's answer, whether an array or a single object."""
    entries = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        msg = entry.get("msg")
        parts = [str(m) for m in msg] if isinstance(msg, list) else [str(msg or "")]
        out.append(Message(str(entry.get("type", "")), parts[0] if parts else "", tuple(parts[1:])))
    return out


class MailcowClient(VendorClient):
    """GET for `get/*`, POST for `add`/`edit`/`delete`; `X-API-Key`; no cookie jar."""

    provider = "mailcow"

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        verify_tls: bool = True,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        super().__init__(
            url.rstrip("/"),
            # No Sec-Fetch-Dest: Mailcow answers a bare 403 to anything that looks like a browser.
            headers={"X-API-Key": api_key, "Accept": "application/json"},
            timeout=timeout,
            retry=retry,
            transport=transport or httpx.AsyncHTTPTransport(verify=verify_tls),
            **kwargs,
        )
        self._client.cookies = _NoCookies()  # a jar, used as is (Cookies(...) would copy into a normal one)

    @property
    def cookies(self) -> httpx.Cookies:
        """The client's cookies (always empty)."""
        return self._client.cookies

    # errors ---------------------------------------------------------------------------------
    def error_message(self, response: httpx.Response) -> str:
        """Mailcow's `msg`, in words that say what to do for the auth failures."""
        message = super().error_message(response)
        if response.status_code == 403 and READ_ONLY in message:
            return f"{message}: the API key is read-only; writes need the read-write key (API_KEY in mailcow.conf)"
        if response.status_code == 401 and "access denied for ip" in message:
            return f"{message}: add this address to the key's allowed IPs (API_ALLOW_FROM)"
        if response.status_code == 401:
            return f"{message}: the API key was refused (wrong or inactive key; repeated failures trip fail2ban)"
        return message

    def error_details(self, response: httpx.Response) -> tuple[str | None, list[dict[str, Any]]]:
        """Mailcow's error object: {"type": "error", "msg": "…"}."""
        try:
            body = response.json()
        except ValueError:
            return None, []
        if isinstance(body, dict) and isinstance(body.get("msg"), str):
            return str(body["msg"]), [{"type": str(body.get("type", "")), "msg": str(body["msg"])}]
        return None, []

    # the two kinds of calls -----------------------------------------------------------------
    async def get(self, path: str) -> Any:
        """A raw read; `{}` (or `[]`) for nothing. An empty body means the key was not taken."""
        response = await self.request("GET", f"{API}/get/{path}")
        if not response.content.strip():
            raise ProviderAuthError(
                f"GET get/{path}: empty answer (Mailcow answers so when no API key was accepted)",
                provider=self.provider,
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"GET get/{path}: the answer is not JSON", provider=self.provider) from None

    async def write(
        self, action: str, category: str, body: Any, *, tolerate: Iterable[str] = (), idempotent: bool = False
    ) -> list[Message]:
        """POST `action/category`; raise MailcowWriteError for any `danger` whose key is not tolerated."""
        path = f"{API}/{action}/{category}"
        response = await self.request("POST", path, json=body, idempotent=idempotent)
        try:
            decoded = response.json()
        except ValueError:
            raise ProviderError(f"POST {action}/{category}: the answer is not JSON", provider=self.provider) from None
        messages = _messages(decoded) if isinstance(decoded, list) else []
        if isinstance(decoded, dict) and decoded.get("type") == "error":
            messages = _messages(decoded)
        allowed = set(tolerate)
        failures = [m for m in messages if m.failed and m.key not in allowed]
        if failures or not messages:
            # A single object means no entry was produced: "Task completed" may mean nothing was done.
            what = "; ".join(str(m) for m in failures) or f"no answer entries ({_text(decoded)!r}: nothing was done)"
            raise MailcowWriteError(
                redact_text(f"{action}/{category} failed: {what}"),
                provider=self.provider,
                status=response.status_code,
                code=failures[0].key if failures else None,
                details=[{"type": m.type, "msg": m.key, "args": list(m.args)} for m in failures],
            )
        return messages

    # domains ----------------------------------------------------------------------------------
    async def domains(self) -> list[dict[str, Any]]:
        """Every mail domain (`{}` means none)."""
        return _as_list(await self.get("domain/all"))

    async def domain(self, name: str) -> dict[str, Any] | None:
        """One domain, or None."""
        return _as_object(await self.get(f"domain/{name}"))

    async def add_domain(self, attrs: Mapping[str, Any]) -> list[Message]:
        """Create a domain; a failing automatic DKIM step is tolerated (the DKIM step reads back)."""
        return await self.write("add", "domain", dict(attrs), tolerate={"dkim_domain_or_sel_invalid"})

    async def edit_domain(self, name: str, attrs: Mapping[str, Any]) -> list[Message]:
        """Change a domain's attributes (absent keys keep their values)."""
        return await self.write("edit", "domain", {"items": [name], "attr": dict(attrs)}, idempotent=True)

    async def delete_domains(self, names: Sequence[str]) -> list[Message]:
        """Delete empty domains (their DKIM keys stay: delete those too)."""
        return await self.write("delete", "domain", list(names))

    # DKIM -------------------------------------------------------------------------------------
    async def dkim(self, domain: str) -> dict[str, Any] | None:
        """The domain's DKIM key (`pubkey`, `length`, `dkim_selector`, `dkim_txt`), or None."""
        return _as_object(await self.get(f"dkim/{domain}"))

    async def add_dkim(self, domain: str, selector: str, bits: int) -> list[Message]:
        """Generate a key: `domains` (plural, or nothing happens) and `key_size` always sent."""
        body = {"domains": domain, "dkim_selector": selector, "key_size": str(bits)}
        return await self.write("add", "dkim", body)

    async def delete_dkim(self, domains: Sequence[str]) -> list[Message]:
        """Delete DKIM keys (answers success whether or not one existed)."""
        return await self.write("delete", "dkim", list(domains), idempotent=True)

    # mailboxes --------------------------------------------------------------------------------
    async def mailboxes(self, domain: str) -> list[dict[str, Any]]:
        """Every mailbox of a domain, with its rate limit (`rl`, `rl_scope`)."""
        return _as_list(await self.get(f"mailbox/all/{domain}"))

    async def mailbox(self, address: str) -> dict[str, Any] | None:
        """One mailbox, or None."""
        return _as_object(await self.get(f"mailbox/{address}"))

    async def add_mailbox(self, attrs: Mapping[str, Any]) -> list[Message]:
        """Create a mailbox (answers `rl_saved` before `mailbox_added`)."""
        return await self.write("add", "mailbox", dict(attrs))

    async def edit_mailbox(self, address: str, attrs: Mapping[str, Any]) -> list[Message]:
        """Change a mailbox's attributes."""
        return await self.write("edit", "mailbox", {"items": [address], "attr": dict(attrs)}, idempotent=True)

    async def delete_mailboxes(self, addresses: Sequence[str]) -> list[Message]:
        """Delete mailboxes."""
        return await self.write("delete", "mailbox", list(addresses))

    async def mailbox_rate_limit(self, address: str) -> dict[str, Any] | None:
        """`{"value": "30", "frame": "d"}`, or None without a limit."""
        return _as_object(await self.get(f"rl-mbox/{address}"))

    async def set_mailbox_rate_limit(self, address: str, value: int, frame: str) -> list[Message]:
        """Set a mailbox's outbound limit (read it back: a wrong field deletes it and says `rl_saved`)."""
        body = {"items": [address], "attr": {"rl_value": str(value), "rl_frame": frame}}
        return await self.write("edit", "rl-mbox", body, idempotent=True)

    # aliases ----------------------------------------------------------------------------------
    async def aliases(self, domain: str) -> list[dict[str, Any]]:
        """The aliases of a domain (mailbox self-aliases excluded)."""
        return _as_list(await self.get(f"alias/all/{domain}"))

    async def add_alias(self, address: str, goto: str, *, active: bool = True, comment: str = "") -> list[Message]:
        """Create an alias (`@domain`: the catch-all); `active` is always sent (omitted means inactive);
        `comment` is its private comment (at most 160 characters)."""
        body = {"address": address, "goto": goto, "active": "1" if active else "0"}
        return await self.write("add", "alias", {**body, **({"private_comment": comment} if comment else {})})

    async def edit_alias(self, alias_id: str, attrs: Mapping[str, Any]) -> list[Message]:
        """Change an alias (by id)."""
        return await self.write("edit", "alias", {"items": [alias_id], "attr": dict(attrs)}, idempotent=True)

    async def delete_aliases(self, ids: Sequence[str]) -> list[Message]:
        """Delete aliases by id (ids as strings)."""
        return await self.write("delete", "alias", [str(i) for i in ids])

    # status -----------------------------------------------------------------------------------
    async def containers(self) -> dict[str, dict[str, Any]]:
        """Containers by service name, each with its `state`."""
        body = await self.get("status/containers")
        return {str(k): v for k, v in body.items() if isinstance(v, dict)} if isinstance(body, dict) else {}

    async def version(self) -> str:
        """Mailcow's version (MAILCOW_GIT_VERSION)."""
        body = await self.get("status/version")
        return str(body.get("version", "")) if isinstance(body, dict) else ""


def _text(body: Any) -> str:
    return str(body.get("msg", "")) if isinstance(body, dict) else str(body)[:80]


def _as_list(body: Any) -> list[dict[str, Any]]:
    """A list answer; `{}` is an empty list, one object a list of one."""
    if isinstance(body, list):
        return [b for b in body if isinstance(b, dict)]
    if isinstance(body, dict) and body:
        return [body]
    return []


def _as_object(body: Any) -> dict[str, Any] | None:
    """An object answer; `{}` (and `[]`) is None."""
    if isinstance(body, dict) and body:
        return body
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0]
    return None
