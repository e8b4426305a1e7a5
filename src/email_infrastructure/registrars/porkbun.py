"""Porkbun API v3 (reference: registrars.md §1): quotes, purchases, nameservers, balance.

Keys go in the JSON body of every POST (never in a URL). Errors are `{"status":"ERROR","message",
"code"}`, mostly HTTP 400: the code is what we branch on. Limits are read from the answers too:
`N out of M checks within 10 seconds used.` (and the create-attempt twin) means "not done, wait"
and is retried after the window; a purchase is never retried on a lost answer.

Quirks: a purchase is always for the registry's minimum term and `cost` must equal the quote in
cents (else `COST_MISMATCH`); orders over $100 and premium names are refused by API; per-domain
calls need the domain opted in to API access (no API switches it on: the web UI does).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from email_infrastructure.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
)
from email_infrastructure.core.http import RateLimiter, Sleep, VendorClient, windows
from email_infrastructure.core.logging import redact_text, register_secret
from email_infrastructure.registrars.common import QuoteCache, cents, money
from email_infrastructure.registrars.provider import (
    AccountDomain,
    InsufficientFundsError,
    NotAvailableError,
    NotOptedInError,
    Purchase,
    PurchaseRefusedError,
    PurchaseUnknownError,
    Quote,
    Registration,
    clean_ns,
)

_log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://api.porkbun.com/api/json/v3"
#: "3 out of 10 checks within 10 seconds used." / "1 out of 1 create attempts within 1 seconds used."
_USED = re.compile(r"out of \d+ .*within ([\d.]+) seconds used", re.IGNORECASE)
#: codes of an order refused before any money moved
_REFUSED = {
    "COST_MISMATCH",
    "ORDER_TOO_LARGE",
    "ORDERS_BLOCKED",
    "FRAUD_BLOCK",
    "TLD_NOT_API_REGISTERABLE",
    "TERMS_NOT_ACCEPTED",
    "CREATE_SUCCESS_LIMIT",
    "IP_NOT_ALLOWED",
    "DOMAIN_NOT_ALLOWED",
}
#: `listAll` pages hold 1000 domains; a shorter page is the last
_PAGE = 1000
#: more names than this are looked up in the account's listing, not one `domain/get` each
_GET_UP_TO = 2
#: how often a "limit used" answer is waited out before the call fails
_LIMIT_RETRIES = 3


class _PorkbunClient(VendorClient):
    provider = "porkbun"

    @staticmethod
    def _body(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def error_message(self, response: httpx.Response) -> str:
        """The envelope's `message` (never the raw body: a proxy page may echo the request)."""
        message = self._body(response).get("message")
        return str(message)[:300] if message else response.reason_phrase

    def error_details(self, response: httpx.Response) -> tuple[str | None, list[dict[str, Any]]]:
        """The envelope's machine `code`."""
        code = self._body(response).get("code")
        return (str(code) if code else None), []

    def error_for(self, response: httpx.Response, method: str, path: str) -> ProviderError:
        """Bad keys are auth errors and "N out of M … used" a rate limit, whatever the HTTP status."""
        words = self.error_message(response)
        code, _ = self.error_details(response)
        message = redact_text(f"{method} {path}: HTTP {response.status_code}: {words}")
        if words.startswith("Invalid API key") or (code or "").startswith("INVALID_API_KEY"):
            return ProviderAuthError(message, provider=self.provider, status=response.status_code, code=code)
        if (used := _USED.search(words)) is not None:
            wait = float(used.group(1))
            return ProviderRateLimitError(
                message, provider=self.provider, status=response.status_code, retry_after=wait, code=code
            )
        return super().error_for(response, method, path)


def _when(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


class PorkbunRegistrar:
    """One Porkbun account (`providers.registrars.<name>` of type porkbun)."""

    type: ClassVar[str] = "porkbun"
    sets_auto_renew: ClassVar[bool] = True

    def __init__(
        self,
        apikey: str,
        secretapikey: str,
        *,
        name: str = "porkbun",
        api_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        quote_cache: QuoteCache | None = None,
    ) -> None:
        register_secret(apikey)
        register_secret(secretapikey)
        self.name = name
        self._keys = {"apikey": apikey, "secretapikey": secretapikey}
        self._sleep = sleep
        # support's "about 2/s, bursts to 5"; checks 10 per 10 s; one create attempt per second
        general = RateLimiter(5, 2.5, clock=clock)
        self._checks = windows((10, 10.0), clock=clock)
        self._creates = windows((1, 1.0), clock=clock)
        self.client = _PorkbunClient(
            (api_url or DEFAULT_API_URL).rstrip("/"), rate_limiter=general, transport=transport, sleep=sleep
        )
        self.quotes = quote_cache or QuoteCache(clock=clock)

    async def _call(self, path: str, body: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """POST with the keys; an ERROR envelope under HTTP 200 is an error too; limits waited out."""
        for attempt in range(_LIMIT_RETRIES + 1):
            try:
                data = await self.client.json("POST", path, json={**self._keys, **(body or {})}, **options)
            except ProviderRateLimitError as exc:
                if attempt >= _LIMIT_RETRIES or exc.retry_after is None:
                    raise
                await self._sleep(exc.retry_after + 0.1)
                continue
            if not isinstance(data, dict):
                raise ProviderError(f"POST {path}: the answer is not an object", provider="porkbun")
            if data.get("status") != "SUCCESS":
                words = str(data.get("message") or "no message")[:300]
                raise ProviderError(f"POST {path}: {words}", provider="porkbun", code=data.get("code"))
            return data
        raise AssertionError("unreachable")

    def _domain_error(self, exc: ProviderError) -> ProviderError:
        if "not opted in" in str(exc).lower() or (exc.code or "").startswith("DOMAIN_IS_NOT_OPTED_IN"):
            return NotOptedInError(
                f"{exc} (switch on API access for the domain in Porkbun's web UI: Domain Management → Details → "
                "API Access, or the account's 'Opt In All Domains')",
                provider="porkbun",
                code=exc.code,
            )
        return exc

    async def quote(self, domains: Sequence[str], years: int = 1) -> dict[str, Quote]:
        """`checkDomain` per name (Porkbun sells the registry's minimum term only)."""
        out: dict[str, Quote] = {}
        for domain in domains:
            cached = self.quotes.get(domain, years)
            if cached is not None:
                out[domain] = cached
                continue
            async with self._checks.held(self._sleep):
                data = await self._call(f"/domain/checkDomain/{domain}")
            raw = data.get("response") or {}
            term = int(raw.get("minDuration") or 1)
            yearly = money(raw.get("price", "0"), provider="porkbun")
            renewal = (raw.get("additional") or {}).get("renewal") or {}
            note = ""
            if term != years:
                note = f"Porkbun registers {domain} for the registry minimum of {term} year(s) only"
            quote = Quote(
                domain=domain,
                available=raw.get("avail") == "yes",
                price=yearly * term,
                years=term,
                premium=raw.get("premium") == "yes",
                renewal=money(renewal["price"], provider="porkbun") if renewal.get("price") else None,
                note=note,
            )
            self.quotes.put(quote)
            out[domain] = quote
        return out

    async def register(self, purchase: Purchase) -> Registration:
        """`domain/create` with `cost` in cents and the intent as Idempotency-Key; never sent twice."""
        body = {"cost": cents(purchase.price), "agreeToTerms": "yes", "whoisPrivacy": purchase.privacy}
        headers = {"Idempotency-Key": purchase.reference} if purchase.reference else {}
        try:
            async with self._creates.held(self._sleep):
                data = await self._call(
                    f"/domain/create/{purchase.domain}",
                    body,
                    headers=headers,
                    idempotent=False,
                    retry_unavailable=False,
                )
        except (ProviderTimeoutError, ProviderServerError) as exc:
            raise PurchaseUnknownError(
                f"the order for {purchase.domain} was sent but its answer was lost ({exc}); "
                "looking it up, never ordering again",
                provider="porkbun",
            ) from None
        except ProviderError as exc:
            code = exc.code or ""
            if code == "INSUFFICIENT_FUNDS":
                raise InsufficientFundsError(str(exc), provider="porkbun", code=code) from None
            if code == "DOMAIN_NOT_AVAILABLE":
                raise NotAvailableError(str(exc), provider="porkbun", code=code) from None
            if code in _REFUSED:
                raise PurchaseRefusedError(str(exc), provider="porkbun", code=code) from None
            raise
        self.quotes.forget(purchase.domain)
        charged = (Decimal(int(data.get("cost", 0))) / 100).quantize(Decimal("0.01"))
        notes: list[str] = []
        try:
            await self._call(
                f"/domain/updateAutoRenew/{purchase.domain}", {"status": "on" if purchase.auto_renew else "off"}
            )
        except ProviderError as exc:
            notes.append(f"auto-renew not set ({exc}); set it in Porkbun's web UI")
        return Registration(purchase.domain, charged, str(data.get("orderId", "")), tuple(notes))

    async def find(self, domain: str) -> AccountDomain | None:
        """`domain/get` (DOMAIN_NOT_FOUND: not ours); where that newer route is missing, `listAll` pages.

        Only the registrar's explicit "not in this account" counts as absent: a purchase follows an absence,
        so a 404 of an unknown route must never be read as one.
        """
        try:
            data = await self._call(f"/domain/get/{domain}")
        except ProviderNotFoundError as exc:
            if exc.code == "DOMAIN_NOT_FOUND":
                return None
            return await self._find_listed(domain)
        return self._account_domain(domain, data.get("domain") or {})

    async def _find_listed(self, domain: str) -> AccountDomain | None:
        return (await self._listed()).get(domain)

    async def holdings(self, domains: Sequence[str]) -> dict[str, AccountDomain | None]:
        """`domain/get` for a name or two; for more, `listAll`'s pages once (1,000 names a call)."""
        if len(domains) <= _GET_UP_TO:
            return {domain: await self.find(domain) for domain in domains}
        listed = await self._listed()
        return {domain: listed.get(domain) for domain in domains}

    async def _listed(self) -> dict[str, AccountDomain]:
        """Every domain of the account, paged until a page is short (the whole listing: absence is explicit)."""
        found: dict[str, AccountDomain] = {}
        start = 0
        while True:
            rows = (await self._call("/domain/listAll", {"start": str(start)})).get("domains") or []
            for row in rows:
                name = str(row.get("domain", "")).lower()
                found[name] = self._account_domain(name, row)
            if len(rows) < _PAGE:
                return found
            start += len(rows)

    @staticmethod
    def _account_domain(domain: str, raw: dict[str, Any]) -> AccountDomain:
        return AccountDomain(
            domain=domain,
            created=_when(raw.get("createDate")),
            expires=_when(raw.get("expireDate")),
            auto_renew=bool(int(raw.get("autoRenew") or 0)),
            privacy=bool(int(raw.get("whoisPrivacy") or 0)),
            api_access=bool(int(raw.get("apiAccess", 1) or 0)),
        )

    async def nameservers(self, domain: str) -> list[str]:
        """`domain/getNs` (some TLDs answer with trailing dots)."""
        try:
            data = await self._call(f"/domain/getNs/{domain}")
        except ProviderError as exc:
            raise self._domain_error(exc) from None
        return clean_ns([str(n) for n in data.get("ns") or []])

    async def set_nameservers(self, domain: str, nameservers: Sequence[str]) -> None:
        """`domain/updateNs`: a full replacement (2 to 13 names); turns Porkbun's own DNS off."""
        try:
            await self._call(f"/domain/updateNs/{domain}", {"ns": clean_ns(nameservers)}, idempotent=True)
        except ProviderError as exc:
            raise self._domain_error(exc) from None

    async def balance(self) -> Decimal:
        """`account/balance` (cents)."""
        data = await self._call("/account/balance")
        return (money(data.get("balance", 0), provider="porkbun") / 100).quantize(Decimal("0.01"))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
