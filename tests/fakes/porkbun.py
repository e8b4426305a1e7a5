"""A faithful fake of Porkbun API v3: prices, availability, registration, nameservers (../shared/reference/registrars.md §1).

Reproduces: keys `apikey`/`secretapikey` in the JSON body (or `X-API-Key`/`X-Secret-API-Key` when
the body has none), the `{"status":"SUCCESS"|"ERROR","message"}` envelope with the newer `code` and
`requestId`, `X-Request-Id`/`X-API-Version` headers; `/ping`, `/ip`, `/pricing/get` (no auth, prices
as strings, a promo the quote does not honour), `/domain/checkDomain/{d}` with `limits`, 10 checks
per 10 s; `/domain/create/{d}` with `cost` in cents = quote x minimum years (`COST_MISMATCH`),
`agreeToTerms`, `dryRun`, `Idempotency-Key` replay/409, the $100 cap (`ORDER_TOO_LARGE`), prepaid
balance (`INSUFFICIENT_FUNDS`), premium refused, 1 attempt/s and 1000 successes/day; `listAll`
(1000 per page), `domain/get`, `getNs`/`updateNs` (2-13 names), `updateAutoRenew`,
`/account/balance`; per-domain opt-in ("Domain is not opted in to API access."). **Unconfirmed**
choices are listed in /work/notes-rfakes.md and, where cheap, are knobs below.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.porkbun_wire import (
    API_VERSION,
    DOMAIN,
    HOST,
    PAGE,
    PORKBUN_NS,
    PREFIX,
    PorkbunError,
    TldPrice,
    authenticate,
    default_prices,
    dollars,
    price_row,
)
from tests.fakes.registrar_base import Charge, FakeRegistrar, Response, add_years


@dataclass
class FakePorkbun(FakeRegistrar):
    """One Porkbun account: prepaid balance in cents, its domains, the registry outside."""

    apikey: str = "pk1_" + "a1" * 32
    secretapikey: str = "sk1_" + "b2" * 32
    balance: int = 100_000
    prices: dict[str, TldPrice] = field(default_factory=default_prices)
    #: premium names and their quote in cents per year
    premium: dict[str, int] = field(default_factory=dict)
    #: names registered elsewhere
    taken: set[str] = field(default_factory=set)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    nameservers: dict[str, list[str]] = field(default_factory=dict)
    #: the account's "Opt In All Domains" switch
    opt_in_all: bool = False
    #: sandbox: domains created by API come back with apiAccess 1
    new_domains_opted_in: bool = True
    #: account not verified (email/phone/ID): every create refused
    orders_blocked: bool = False
    #: TLDs sold on the website only (`apiRegisterable: false`; .us/.ca/.eu/.au per the register guide)
    website_only: set[str] = field(default_factory=lambda: {"us", "ca", "eu", "au"})
    #: TLDs whose creates meet the undocumented `FRAUD_BLOCK` (every sandbox .io create); empty by default
    fraud_block: set[str] = field(default_factory=set)
    #: unconfirmed knob: premium names stay refused unless this is on (then the premium quote must match)
    premium_by_api: bool = False
    order_cap: int = 10_000
    check_limit: tuple[int, float] = (10, 10.0)
    create_attempts: tuple[int, float] = (1, 1.0)
    create_successes: tuple[int, float] = (1000, 86_400.0)
    #: unconfirmed: the HTTP status of an over-limit checkDomain (clients saw 200/400/202/503)
    check_limit_status: int = 400
    #: "sandbox": HTTP 400 `1_OUT_OF_1_CREATE_ATTEMPTS_WITHIN_1_SECONDS_USED` (observed); "documented": 429
    attempt_limit_as: str = "sandbox"
    #: sandbox artefact: own names look available and a repeated create charges again
    sandbox_rebuy: bool = False
    #: TLDs whose getNs names carry a trailing dot (.de in DNSControl's notes)
    trailing_dot_tlds: set[str] = field(default_factory=lambda: {"de"})
    your_ip: str = "127.0.0.1"
    #: Idempotency-Key → (when, request digest, answer); replayed for 24 h
    idempotency: dict[str, tuple[float, str, dict[str, Any]]] = field(default_factory=dict)
    _orders: itertools.count[int] = field(default_factory=lambda: itertools.count(9_913_724))

    # test helpers ----------------------------------------------------------------------------
    def add_domain(self, domain: str, *, api_access: bool = True, **fields: Any) -> dict[str, Any]:
        """A domain already in the account (e.g. transferred in: `api_access=False`)."""
        record = self._record(domain, api_access=api_access)
        record.update(fields)
        return record

    def _record(self, domain: str, *, api_access: bool, whois_privacy: bool = True) -> dict[str, Any]:
        created = self.now()
        tld = domain.rsplit(".", 1)[1]
        years = self.prices[tld].min_years if tld in self.prices else 1
        record = {
            "domain": domain,
            "status": "ACTIVE",
            "tld": tld,
            "createDate": created.strftime("%Y-%m-%d %H:%M:%S"),
            "expireDate": add_years(created, years).strftime("%Y-%m-%d %H:%M:%S"),
            "securityLock": 1,
            "whoisPrivacy": int(whois_privacy),
            "autoRenew": 1,
            "notLocal": 0,
            "apiAccess": int(api_access),
            "labels": [],
        }
        self.domains[domain] = record
        self.nameservers[domain] = list(PORKBUN_NS)
        return record

    # pipeline --------------------------------------------------------------------------------
    def label(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> str:
        """The URL path below the base."""
        return path.removeprefix(PREFIX)

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        """Fault → auth → route, wrapped in the envelope."""
        request_id = uuid.uuid4().hex
        out = {"Content-Type": "application/json", "X-Request-Id": request_id, "X-API-Version": API_VERSION}
        status = self.random_fault()
        if status is not None:
            self._outcome = str(status)
            return self.server_error(status)
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = None
        try:
            if not isinstance(data, dict):
                raise PorkbunError(400, "Invalid JSON.", "INVALID_JSON")
            result = self._route(method, path.removeprefix(PREFIX), query, headers, data, out)
        except PorkbunError as exc:
            self._outcome = exc.code or "ERROR"
            payload: dict[str, Any] = {"status": "ERROR", "message": exc.message}
            if exc.code:
                payload.update(code=exc.code, requestId=request_id)
            return exc.status, out, json.dumps(payload).encode()
        self._outcome = "SUCCESS"
        return 200, out, json.dumps({"status": "SUCCESS", **result}).encode()

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        data: dict[str, Any],
        out: dict[str, str],
    ) -> dict[str, Any]:
        if path == "/ip" and method == "GET":
            return {"yourIp": self.your_ip}
        if path == "/pricing/get" and method in ("GET", "POST"):
            wanted = {t for raw in query.get("tlds", []) for t in raw.split(",") if t}
            return {"pricing": {t: price_row(p) for t, p in self.prices.items() if not wanted or t in wanted}}
        authenticate(self.apikey, self.secretapikey, headers, data)
        parts = path.strip("/").split("/")
        head, arg = "/".join(parts[:2]), "/".join(parts[2:]).lower()
        if path == "/ping" and method == "POST":
            return {"yourIp": self.your_ip, "credentialsValid": True}
        if path == "/account/balance" and method in ("GET", "POST"):
            return {"balance": self.balance}
        if path == "/domain/listAll" and method in ("GET", "POST"):
            return self._list(data)
        if head == "domain/checkDomain" and method == "POST" and arg:
            return self._check(arg)
        if head == "domain/create" and method == "POST" and arg:
            return self._create(arg, data, headers, out)
        if head == "domain/getRegistrationRequirements" and method == "GET" and arg:
            return self._requirements(arg)
        if head == "domain/get" and method in ("GET", "POST") and arg:
            return {"domain": self._owned(arg)}
        if head == "domain/getNs" and method == "POST" and arg:
            self._opted_in(arg)
            dot = "." if self.domains[arg]["tld"] in self.trailing_dot_tlds else ""
            return {"ns": [f"{name}{dot}" for name in self.nameservers[arg]]}
        if head == "domain/updateNs" and method == "POST" and arg:
            return self._update_ns(arg, data)
        if head == "domain/updateAutoRenew" and method == "POST":
            return self._auto_renew(arg, data)
        raise PorkbunError(404, "Endpoint not found.", "ENDPOINT_NOT_FOUND")

    # routes ----------------------------------------------------------------------------------
    def _tld(self, domain: str) -> TldPrice:
        if not DOMAIN.match(domain) or domain.rsplit(".", 1)[1] not in self.prices:
            raise PorkbunError(400, "Invalid domain.", "INVALID_DOMAIN")
        return self.prices[domain.rsplit(".", 1)[1]]

    def _available(self, domain: str) -> bool:
        ours = domain in self.domains and not self.sandbox_rebuy
        return domain not in self.taken and not ours

    def _quote(self, domain: str, price: TldPrice) -> int:
        return self.premium.get(domain, price.registration)

    def _check(self, domain: str) -> dict[str, Any]:
        price = self._tld(domain)
        limit, seconds = self.check_limit
        wait, _, remaining, _ = self.limiter.hit(f"check:{self.apikey}", (self.check_limit,))
        used = limit if wait is not None else limit - remaining
        words = f"{used} out of {limit} checks within {seconds:g} seconds used."
        limits = {"TTL": f"{seconds:g}", "limit": str(limit), "used": used, "naturalLanguage": words}
        if wait is not None:
            raise PorkbunError(
                self.check_limit_status, words, f"{limit}_OUT_OF_{limit}_CHECKS_WITHIN_{seconds:g}_SECONDS_USED"
            )
        quote, premium = self._quote(domain, price), domain in self.premium
        regular = price.renewal if price.promo and not premium else quote
        response = {
            "avail": "yes" if self._available(domain) else "no",
            "type": "registration",
            "price": dollars(quote),
            "firstYearPromo": "yes" if price.promo and not premium else "no",
            "regularPrice": dollars(regular),
            "premium": "yes" if premium else "no",
            "minDuration": price.min_years,
            "additional": {
                "renewal": {"type": "renewal", "price": dollars(price.renewal), "regularPrice": dollars(price.renewal)},
                "transfer": {
                    "type": "transfer",
                    "price": dollars(price.transfer),
                    "regularPrice": dollars(price.transfer),
                },
            },
        }
        return {"response": response, "limits": limits}

    def _create(
        self, domain: str, data: dict[str, Any], headers: dict[str, str], out: dict[str, str]
    ) -> dict[str, Any]:
        key = headers.get("idempotency-key")
        digest = hashlib.sha256(json.dumps([domain, data], sort_keys=True).encode()).hexdigest()
        if key and key in self.idempotency and self.clock() - self.idempotency[key][0] < 86_400:
            _, seen, result = self.idempotency[key]
            if seen != digest:
                raise PorkbunError(409, "Idempotency key reused with a different request.", "IDEMPOTENCY_KEY_MISMATCH")
            out["idempotent-replayed"] = "true"
            return result
        dry_run = data.get("dryRun") is True
        if not dry_run:
            self._attempt()
        if str(data.get("agreeToTerms", "")).lower() != "yes":
            raise PorkbunError(400, "You must agree to the terms (agreeToTerms: yes).", "TERMS_NOT_ACCEPTED")
        tld = domain.rsplit(".", 1)[-1]
        if tld in self.website_only:
            raise PorkbunError(400, f"The .{tld} TLD cannot be registered via API.", "TLD_NOT_API_REGISTERABLE")
        price = self._tld(domain)
        if self.orders_blocked:
            raise PorkbunError(403, "Orders are blocked on this account.", "ORDERS_BLOCKED")
        if not self._available(domain):
            raise PorkbunError(400, "Domain is not available.", "DOMAIN_NOT_AVAILABLE")
        if domain in self.premium and not self.premium_by_api:
            raise PorkbunError(400, "Premium domains cannot be registered via API.", "DOMAIN_NOT_AVAILABLE")
        expected = self._quote(domain, price) * price.min_years
        cost = data.get("cost")
        if not (dry_run and cost in (0, None)) and (
            not isinstance(cost, int) or isinstance(cost, bool) or cost != expected
        ):
            minimum = f"minimum allowed duration ({price.min_years} years). " if price.min_years > 1 else ""
            raise PorkbunError(400, f"{minimum}Expected: {expected} cents (${expected / 100:.2f})", "COST_MISMATCH")
        if tld in self.fraud_block:
            raise PorkbunError(400, "Unable to process order at this time. (001)", "FRAUD_BLOCK")
        if expected > self.order_cap:
            raise PorkbunError(400, "Registrations over $100 are not currently supported via API.", "ORDER_TOO_LARGE")
        if expected > self.balance:
            raise PorkbunError(
                400,
                f"Insufficient funds: the order costs {expected} cents, the balance is {self.balance} cents.",
                "INSUFFICIENT_FUNDS",
            )
        if dry_run:
            return {"dryRun": True, "wouldSucceed": True, "domain": domain, "cost": expected, "balance": self.balance}
        limit, seconds = self.create_successes
        wait, _, left, _ = self.limiter.hit(f"success:{self.apikey}", (self.create_successes,))
        if wait is not None:
            raise PorkbunError(
                400,
                f"{limit} out of {limit} successful creates within {seconds:g} seconds used.",
                "CREATE_SUCCESS_LIMIT",
            )
        self._record(
            domain, api_access=self.new_domains_opted_in, whois_privacy=data.get("whoisPrivacy", True) is not False
        )
        self.balance -= expected
        order_id = next(self._orders)
        self.charges.append(Charge(domain, str(expected), order_id))
        attempts_limit, _ = self.create_attempts
        result = {
            "domain": domain,
            "cost": expected,
            "orderId": order_id,
            "balance": self.balance,
            "limits": {
                "attempts": {"limit": attempts_limit, "used": 1},
                "success": {"limit": limit, "used": limit - left},
            },
        }
        if key:
            self.idempotency[key] = (self.clock(), digest, result)
        self._outcome = "SUCCESS"  # the log shows the order went through even when the answer is lost
        self.lose_answer()
        return result

    def _attempt(self) -> None:
        limit, seconds = self.create_attempts
        wait, _, _, _ = self.limiter.hit(f"attempt:{self.apikey}", (self.create_attempts,))
        if wait is None:
            return
        if self.attempt_limit_as == "documented":
            raise PorkbunError(429, "Rate limit exceeded.", "RATE_LIMIT_EXCEEDED")
        raise PorkbunError(
            400,
            f"{limit} out of {limit} create attempts within {seconds:g} seconds used.",
            f"{limit}_OUT_OF_{limit}_CREATE_ATTEMPTS_WITHIN_{seconds:g}_SECONDS_USED",
        )

    def _requirements(self, tld: str) -> dict[str, Any]:
        if tld not in self.prices and tld not in self.website_only:
            raise PorkbunError(404, "TLD not supported.", "TLD_NOT_SUPPORTED")
        return {
            "tld": tld,
            "apiRegisterable": tld not in self.website_only,
            "registrationDurationYears": self.prices[tld].min_years if tld in self.prices else 1,
            "maxRegistrationYears": None,
            "whoisPrivacySupported": True,
            "requiresValidatedAddress": False,
        }

    def _owned(self, domain: str) -> dict[str, Any]:
        if domain not in self.domains:
            raise PorkbunError(404, "Domain not found in this account.", "DOMAIN_NOT_FOUND")
        return self.domains[domain]

    def _opted_in(self, domain: str) -> None:
        if not (self._owned(domain)["apiAccess"] or self.opt_in_all):
            raise PorkbunError(400, "Domain is not opted in to API access.", "DOMAIN_IS_NOT_OPTED_IN_TO_API_ACCESS")

    def _list(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            start = int(data.get("start", 0))
        except (TypeError, ValueError):
            raise PorkbunError(400, "Invalid start.", "INVALID_START") from None
        labels = str(data.get("includeLabels", "")).lower() == "yes"
        rows = [r if labels else {k: v for k, v in r.items() if k != "labels"} for r in self.domains.values()]
        return {"domains": rows[start : start + PAGE]}

    def _update_ns(self, domain: str, data: dict[str, Any]) -> dict[str, Any]:
        self._opted_in(domain)
        names = data.get("ns")
        if not isinstance(names, list) or not 2 <= len(names) <= 13 or not all(isinstance(n, str) for n in names):
            raise PorkbunError(400, "Between 2 and 13 nameservers are required.", "INVALID_NAMESERVERS")
        clean = [n.strip().lower().rstrip(".") for n in names]
        if not all(HOST.match(n) for n in clean):
            raise PorkbunError(400, "Invalid nameserver.", "INVALID_NAMESERVERS")
        if data.get("dryRun") is not True:
            self.nameservers[domain] = clean
        return {}

    def _auto_renew(self, path_domain: str, data: dict[str, Any]) -> dict[str, Any]:
        status = str(data.get("status", "")).lower()
        if status not in ("on", "off"):
            raise PorkbunError(400, "Status must be on or off.", "INVALID_STATUS")
        names = [path_domain] if path_domain else [str(d).lower() for d in data.get("domains") or []]
        results: dict[str, dict[str, str]] = {}
        for name in names:
            try:
                self._opted_in(name)
            except PorkbunError as exc:
                results[name] = {"status": "ERROR", "message": exc.message}
                continue
            self.domains[name]["autoRenew"] = int(status == "on")
            results[name] = {"status": "SUCCESS", "message": f"Auto renew {status}."}
        return {"results": results}
