"""Namecheap's XML API (reference: registrars.md §2): check, price, create, nameservers, balance.

Every call is a POST form to the one endpoint (the key stays out of URLs and so out of logs) with
`ApiUser`, `ApiKey`, `UserName`, `ClientIp` and `Command`. Errors come as HTTP 200 with
`Status="ERROR"` and an `<Error Number>`; HTTP 405 means the rate limit was hit before anything was
processed, so it is waited out and sent again. Answers are parsed with the stdlib parser after
refusing any DTD or entity declaration (what defusedxml guards against).

Price of a term: the first year at the `REGISTER` price, further years at `RENEW`, plus the ICANN
fee per year (our reading of `users.getPricing`; the fake charges the same). Namecheap has no API
to switch auto-renew, so a purchase says so instead of pretending.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import httpx

from email_infrastructure.core.errors import (
    ProviderError,
    ProviderServerError,
    ProviderTimeoutError,
)
from email_infrastructure.core.http import Sleep, VendorClient, windows
from email_infrastructure.core.logging import register_secret
from email_infrastructure.registrars.common import QuoteCache, money
from email_infrastructure.registrars.namecheap_xml import NamecheapApiError, envelope, find_all, us_date
from email_infrastructure.registrars.provider import (
    AccountDomain,
    InsufficientFundsError,
    NotAvailableError,
    Purchase,
    PurchaseRefusedError,
    PurchaseUnknownError,
    Quote,
    Registration,
    clean_ns,
)

DEFAULT_API_URL = "https://api.namecheap.com/xml.response"
SANDBOX_API_URL = "https://api.sandbox.namecheap.com/xml.response"
_NOT_OURS = {2019166, 2016166}
#: unconfirmed numbers (reference §9): matched with the words as well
_INSUFFICIENT, _NOT_AVAILABLE, _PRICE_MISMATCH, _PREMIUM_MISMATCH = 2528166, 3019166, 2515610, 2515623
_CONTACT_FIELDS = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "address1": "Address1",
    "city": "City",
    "state_province": "StateProvince",
    "postal_code": "PostalCode",
    "country": "Country",
    "phone": "Phone",
    "email": "EmailAddress",
    "organization": "OrganizationName",
}
_LIMIT_RETRIES = 2
#: more names than this are looked up in the account's listing (`getList`, its largest page), not one `getInfo` each
_GET_UP_TO, _LIST_PAGE = 2, 100
#: how long TLD prices are reused (users.getPricing asks callers to cache it)
PRICE_TTL = 3600.0


class NamecheapRegistrar:
    """One Namecheap account (`providers.registrars.<name>` of type namecheap)."""

    type: ClassVar[str] = "namecheap"
    sets_auto_renew: ClassVar[bool] = False

    def __init__(
        self,
        api_user: str,
        api_key: str,
        client_ip: str,
        *,
        name: str = "namecheap",
        username: str | None = None,
        api_url: str | None = None,
        contact: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        quote_cache: QuoteCache | None = None,
    ) -> None:
        register_secret(api_key)
        self.name = name
        self._globals = {
            "ApiUser": api_user,
            "ApiKey": api_key,
            "UserName": username or api_user,
            "ClientIp": client_ip,
        }
        self.contact = dict(contact or {})
        url = urlsplit(api_url or DEFAULT_API_URL)
        self._path = url.path or "/xml.response"
        self._sleep = sleep
        # the SDK's budget (20/min, 700/h, 8000/day): the strictest figure in the reference
        limiter = windows((20, 60.0), (700, 3600.0), (8000, 86_400.0), clock=clock)
        self.client = VendorClient(
            f"{url.scheme}://{url.netloc}", rate_limiter=limiter, transport=transport, sleep=sleep
        )
        self.client.provider = "namecheap"
        self.quotes = quote_cache or QuoteCache(clock=clock)
        self._clock = clock
        #: (action, tld) → (when read, price per year, ICANN fee per year)
        self._price_rows: dict[tuple[str, str], tuple[float, Decimal, Decimal]] = {}

    async def _call(self, command: str, params: Mapping[str, str] | None = None, **options: Any) -> ET.Element:
        """POST one command; the CommandResponse element, or the envelope's error raised."""
        form = {**self._globals, "Command": command, **(params or {})}
        for attempt in range(_LIMIT_RETRIES + 1):
            try:
                response = await self.client.request("POST", self._path, data=form, **options)
            except ProviderError as exc:
                if exc.status == 405 and attempt < _LIMIT_RETRIES:  # refused before processing: safe to resend
                    await self._sleep(60.0)
                    continue
                raise
            break
        return envelope(command, response.text)

    async def _price(self, tld: str) -> tuple[Decimal, Decimal, Decimal]:
        """(register per year, renew per year, ICANN fee per year) for one TLD, kept an hour (docs ask to cache)."""
        out: list[Decimal] = []
        fee = Decimal(0)
        for action in ("REGISTER", "RENEW"):
            kept = self._price_rows.get((action, tld))
            if kept is None or self._clock() - kept[0] >= PRICE_TTL:
                params = {
                    "ProductType": "DOMAIN",
                    "ProductCategory": "DOMAINS",
                    "ActionName": action,
                    "ProductName": tld,
                }
                result = await self._call("namecheap.users.getPricing", params)
                rows = [p for p in find_all(result, "Price") if p.get("Duration") == "1"]
                if not rows:
                    raise ProviderError(f"no {action.lower()} price for .{tld}", provider="namecheap")
                row = rows[0]
                amount = money(row.get("YourPrice") or row.get("Price", "0"), provider="namecheap")
                extra = money(row.get("YourAdditonalCost") or row.get("AdditionalCost") or "0", provider="namecheap")
                kept = (self._clock(), amount, extra)
                self._price_rows[(action, tld)] = kept
            out.append(kept[1])
            fee = kept[2]
        return out[0], out[1], fee

    async def quote(self, domains: Sequence[str], years: int = 1) -> dict[str, Quote]:
        """`domains.check` (50 names a call) and the TLD's prices for `years`."""
        out = {d: q for d in domains if (q := self.quotes.get(d, years)) is not None}
        todo = [d for d in domains if d not in out]
        for start in range(0, len(todo), 50):
            result = await self._call("namecheap.domains.check", {"DomainList": ",".join(todo[start : start + 50])})
            for row in find_all(result, "DomainCheckResult"):
                domain = row.get("Domain", "").lower()
                premium = row.get("IsPremiumName", "false").lower() == "true"
                note = row.get("Description", "") if row.get("ErrorNo", "0") != "0" else ""
                price: Decimal | None = None
                renewal: Decimal | None = None
                if not note:
                    register, renewal, fee = await self._price(domain.split(".", 1)[1])
                    if premium:
                        first = money(row.get("PremiumRegistrationPrice", "0"), provider="namecheap")
                        fee = money(row.get("IcannFee", "0"), provider="namecheap")
                        register = first
                    price = register + renewal * (years - 1) + fee * years
                quote = Quote(
                    domain=domain,
                    available=row.get("Available", "false").lower() == "true",
                    price=price,
                    years=years,
                    premium=premium,
                    renewal=renewal,
                    note=note,
                )
                self.quotes.put(quote)
                out[domain] = quote
        return out

    def _contacts(self) -> dict[str, str]:
        missing = [k for k in ("first_name", "last_name", "address1", "city", "state_province", "postal_code",
                               "country", "phone", "email") if not self.contact.get(k)]  # fmt: skip
        if missing:
            raise PurchaseRefusedError(
                f"registrar {self.name}: `contact` lacks {', '.join(missing)} (Namecheap needs the registrant's)",
                provider="namecheap",
            )
        form: dict[str, str] = {}
        for prefix in ("Registrant", "Tech", "Admin", "AuxBilling"):
            for ours, theirs in _CONTACT_FIELDS.items():
                if self.contact.get(ours):
                    form[f"{prefix}{theirs}"] = str(self.contact[ours])
        return form

    async def register(self, purchase: Purchase) -> Registration:
        """`domains.create` (no idempotency key exists: a lost answer is looked up, never resent)."""
        form = {
            "DomainName": purchase.domain,
            "Years": str(purchase.years),
            "AddFreeWhoisguard": "yes",
            "WGEnabled": "yes" if purchase.privacy else "no",  # its default is No (reference §2.4)
            **self._contacts(),
        }
        if purchase.premium:
            form.update(IsPremiumDomain="true", PremiumPrice=f"{purchase.price:.2f}")
        try:
            result = await self._call("namecheap.domains.create", form, idempotent=False, retry_unavailable=False)
        except (ProviderTimeoutError, ProviderServerError) as exc:
            raise PurchaseUnknownError(
                f"the order for {purchase.domain} was sent but its answer was lost ({exc}); "
                "looking it up, never ordering again",
                provider="namecheap",
            ) from None
        except NamecheapApiError as exc:
            words = str(exc).lower()
            if exc.number == _INSUFFICIENT or "insufficient funds" in words:
                raise InsufficientFundsError(str(exc), provider="namecheap", code=exc.code) from None
            if exc.number == _NOT_AVAILABLE or "not available" in words:
                raise NotAvailableError(str(exc), provider="namecheap", code=exc.code) from None
            raise PurchaseRefusedError(str(exc), provider="namecheap", code=exc.code) from None
        self.quotes.forget(purchase.domain)
        row = find_all(result, "DomainCreateResult")
        attrs = row[0].attrib if row else {}
        notes = ("Namecheap has no API to switch auto-renew: turn it on in the web UI",) if purchase.auto_renew else ()
        return Registration(
            purchase.domain,
            money(attrs.get("ChargedAmount", "0"), provider="namecheap"),
            attrs.get("OrderID", ""),
            notes,
        )

    async def find(self, domain: str) -> AccountDomain | None:
        """`domains.getInfo` (2019166/2016166: not in this account)."""
        try:
            result = await self._call("namecheap.domains.getInfo", {"DomainName": domain})
        except NamecheapApiError as exc:
            if exc.number in _NOT_OURS:
                return None
            raise
        guard = find_all(result, "Whoisguard")
        created = find_all(result, "CreatedDate")
        expires = find_all(result, "ExpiredDate")
        return AccountDomain(
            domain=domain,
            created=us_date(created[0].text) if created else None,
            expires=us_date(expires[0].text) if expires else None,
            privacy=guard[0].get("Enabled", "").lower() == "true" if guard else None,
        )

    def _sld_tld(self, domain: str) -> dict[str, str]:
        sld, tld = domain.split(".", 1)
        return {"SLD": sld, "TLD": tld}

    async def holdings(self, domains: Sequence[str]) -> dict[str, AccountDomain | None]:
        """`domains.getInfo` for a name or two; for more, `domains.getList`'s pages once (100 names a call)."""
        if len(domains) <= _GET_UP_TO:
            return {domain: await self.find(domain) for domain in domains}
        listed: dict[str, AccountDomain] = {}
        page = 1
        while True:
            params = {"ListType": "ALL", "Page": str(page), "PageSize": str(_LIST_PAGE)}
            result = await self._call("namecheap.domains.getList", params)
            rows = find_all(result, "Domain")
            for row in rows:
                name = row.get("Name", "").lower()
                listed[name] = AccountDomain(
                    domain=name,
                    created=us_date(row.get("Created")),
                    expires=us_date(row.get("Expires")),
                    auto_renew=row.get("AutoRenew", "").lower() == "true",
                    privacy=row.get("WhoisGuard", "").upper() == "ENABLED",
                )
            total = find_all(result, "TotalItems")
            count = int(total[0].text or 0) if total and (total[0].text or "").isdigit() else 0
            if len(rows) < _LIST_PAGE or page * _LIST_PAGE >= count:
                return {domain: listed.get(domain) for domain in domains}
            page += 1

    async def nameservers(self, domain: str) -> list[str]:
        """`domains.dns.getList`; for a FreeDNS domain (2019166) `getInfo`'s DnsDetails, as the SDK does."""
        try:
            result = await self._call("namecheap.domains.dns.getList", self._sld_tld(domain))
        except NamecheapApiError as exc:
            if exc.number != 2019166:
                raise
            result = await self._call("namecheap.domains.getInfo", {"DomainName": domain})
        return clean_ns([e.text or "" for e in find_all(result, "Nameserver")])

    async def set_nameservers(self, domain: str, nameservers: Sequence[str]) -> None:
        """`domains.dns.setCustom` (Namecheap's URL and email forwarding stop working)."""
        params = {**self._sld_tld(domain), "Nameservers": ",".join(clean_ns(nameservers))}
        await self._call("namecheap.domains.dns.setCustom", params, idempotent=True)

    async def balance(self) -> Decimal:
        """`users.getBalances` AvailableBalance."""
        result = await self._call("namecheap.users.getBalances")
        rows = find_all(result, "UserGetBalancesResult")
        return money(rows[0].get("AvailableBalance", "0") if rows else "0", provider="namecheap")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
