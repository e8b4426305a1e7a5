"""A faithful fake of Namecheap's XML API: check, price, balance, create, list, nameservers (../shared/reference/registrars.md §2).

Reproduces: one endpoint `/xml.response` (the sandbox's shape: `.url` ends in it), GET query or POST
form, the global parameters `ApiUser`, `ApiKey`, `UserName`, `Command`, `ClientIp` (names matched
case-insensitively) with the documented error numbers, the ClientIp allow-list (1011150), the
`<ApiResponse Status="OK|ERROR" xmlns=…>` envelope (errors are HTTP 200), HTTP 405 before
processing once 20/min, 700/h or 8000/day is spent, and the commands `domains.check` (≤50 names,
premium prices), `users.getPricing`, `users.getBalances`, `domains.create` (Years default 2, four
contacts, premium needs `IsPremiumDomain` + `PremiumPrice`, charged once from the balance,
`WGEnabled` default no), `domains.getList` (paging, MM/DD/YYYY), `domains.getInfo`,
`domains.dns.setCustom` / `setDefault` / `getList`. **Unconfirmed** numbers and shapes are listed
in /work/notes-rfakes.md; the numbers a provider branches on are constants in namecheap_wire.py.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

from tests.fakes.namecheap_wire import (
    CONTACT_FIELDS,
    CONTACT_PREFIXES,
    DOMAIN,
    INSUFFICIENT_FUNDS,
    INVALID_NAMESERVERS,
    INVALID_YEARS,
    MISSING_PARAMETER,
    NOT_AVAILABLE,
    OUR_DNS,
    PATH,
    PREMIUM_MISMATCH,
    PRICES_DO_NOT_MATCH,
    TLD_NOT_SUPPORTED,
    NamecheapError,
    TldPrice,
    default_prices,
    envelope,
    flag,
    money,
    need,
    parameters,
    pricing,
    xml,
)
from tests.fakes.registrar_base import Charge, FakeRegistrar, Response, add_years


@dataclass
class FakeNamecheap(FakeRegistrar):
    """One Namecheap account: balance in dollars, an IPv4 allow-list, its domains."""

    api_user: str = "ncuser"
    api_key: str = "0123456789abcdef0123456789abcdef"
    #: what `ClientIp` must be (the fake cannot see the caller's public IP; Namecheap checks that one)
    allowed_ips: set[str] = field(default_factory=lambda: {"127.0.0.1"})
    client_ip: str = "127.0.0.1"
    #: API access switched off in the profile: every call gets 1011102
    api_enabled: bool = True
    balance: Decimal = Decimal("100.00")
    prices: dict[str, TldPrice] = field(default_factory=default_prices)
    #: premium names and their registration price
    premium: dict[str, Decimal] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (limit, seconds) windows per ApiUser; breach → HTTP 405 before processing
    limits: tuple[tuple[int, float], ...] = ((20, 60.0), (700, 3600.0), (8000, 86_400.0))
    max_check: int = 50
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_500_000))

    # test helpers ----------------------------------------------------------------------------
    def add_domain(self, domain: str, **fields: Any) -> dict[str, Any]:
        """A domain already in the account."""
        record = self._record(domain, years=1, privacy=True)
        record.update(fields)
        return record

    def nameservers(self, domain: str) -> list[str]:
        """The delegation Namecheap would publish."""
        return list(self.domains[domain]["ns"] or OUR_DNS)

    def _record(self, domain: str, *, years: int, privacy: bool, ns: list[str] | None = None) -> dict[str, Any]:
        created = self.now()
        record = {
            "id": next(self._ids),
            "name": domain,
            "created": created,
            "expires": add_years(created, years),
            "privacy": privacy,
            "auto_renew": False,
            "locked": False,
            "premium": domain in self.premium,
            "ns": ns,
        }
        self.domains[domain] = record
        return record

    # pipeline --------------------------------------------------------------------------------
    def label(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> str:
        """The `Command` (lowercased), never the other parameters."""
        if path != PATH:
            return path
        return parameters(method, query, body).get("command", "").lower() or PATH

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        """Fault → 405 limit → global parameters → command, in the ApiResponse envelope."""
        status = self.random_fault()
        if status is not None:
            self._outcome = str(status)
            return self.server_error(status)
        if path != PATH or method not in ("GET", "POST"):
            self._outcome = "404"
            return (
                404,
                {"Content-Type": "text/html"},
                b"<html><body><h1>404 - File or directory not found.</h1></body></html>",
            )
        given = parameters(method, query, body)
        user = given.get("apiuser", "")
        if self.limits and self.limiter.hit(f"user:{user}", self.limits)[0] is not None:
            self._outcome = "405"
            return 405, {"Content-Type": "text/html"}, b"<html><body><h1>405 - Too many requests</h1></body></html>"
        command = given.get("command", "").lower()
        try:
            self._authorise(given)
            result = self._route(command, given)
        except NamecheapError as exc:
            self._outcome = str(exc.number)
            root = envelope("ERROR", command)
            errors = root.find("Errors")
            assert errors is not None  # envelope() always makes it
            ET.SubElement(errors, "Error", Number=str(exc.number)).text = exc.text
            return xml(root)
        self._outcome = "OK"
        root = envelope("OK", command)
        response = ET.Element("CommandResponse", Type=command)
        response.extend(result)
        root.insert(3, response)
        return xml(root)

    def _authorise(self, params: dict[str, str]) -> None:
        for name, number, shown in (
            ("apiuser", 1010101, "APIUser"),
            ("apikey", 1010102, "APIKey"),
            ("command", 1010104, "Command"),
            ("clientip", 1010105, "ClientIp"),
        ):
            if not params.get(name):
                raise NamecheapError(number, f"Parameter {shown} is missing")
        if not self.api_enabled or params["apiuser"] != self.api_user or params["apikey"] != self.api_key:
            raise NamecheapError(1011102, "API Key is invalid or API access has not been enabled")
        if params.get("username", "") != self.api_user:
            raise NamecheapError(1016103, "UserName is not authorized for this ApiUser")
        if params["clientip"] not in self.allowed_ips:
            raise NamecheapError(1011150, f"Invalid request IP: {params['clientip']}")

    def _route(self, command: str, params: dict[str, str]) -> list[ET.Element]:
        routes: dict[str, Callable[[dict[str, str]], list[ET.Element]]] = {
            "namecheap.domains.check": self._check,
            "namecheap.users.getpricing": lambda given: pricing(self.prices, given),
            "namecheap.users.getbalances": self._balances,
            "namecheap.domains.create": self._create,
            "namecheap.domains.getlist": self._list,
            "namecheap.domains.getinfo": self._info,
            "namecheap.domains.dns.setcustom": self._set_custom,
            "namecheap.domains.dns.setdefault": self._set_default,
            "namecheap.domains.dns.getlist": self._dns_list,
        }
        if command not in routes:
            raise NamecheapError(1010104, f"Command {command} is not supported")
        return routes[command](params)

    # commands --------------------------------------------------------------------------------
    def _available(self, domain: str) -> bool:
        return domain not in self.taken and domain not in self.domains

    def _check(self, params: dict[str, str]) -> list[ET.Element]:
        names = [n.strip().lower() for n in need(params, "DomainList").split(",") if n.strip()]
        if len(names) > self.max_check:
            raise NamecheapError(2011169, f"Only {self.max_check} domains are allowed in a single check command")
        rows = []
        for name in names:
            match = DOMAIN.match(name)
            tld = self.prices.get(match.group(2)) if match else None
            attrs = {"Domain": name, "Available": "false", "ErrorNo": "0", "Description": "", "IsPremiumName": "false"}
            if tld is None:
                attrs.update(ErrorNo=str(TLD_NOT_SUPPORTED), Description="TLD is not supported")
            else:
                premium = self.premium.get(name)
                attrs["Available"] = flag(self._available(name))
                attrs["IsPremiumName"] = flag(premium is not None)
                for kind in ("Registration", "Renewal", "Restore", "Transfer"):
                    attrs[f"Premium{kind}Price"] = money(premium) if premium is not None else "0"
                attrs["IcannFee"] = money(tld.icann_fee) if premium is not None else "0"
                attrs["EapFee"] = "0"
            rows.append(ET.Element("DomainCheckResult", attrs))
        return rows

    def _balances(self, params: dict[str, str]) -> list[ET.Element]:
        due = sum(
            (self.prices[d.rsplit(".", 1)[1]].renew for d, r in self.domains.items() if r["auto_renew"]), Decimal(0)
        )
        attrs = {
            "Currency": "USD",
            "AvailableBalance": f"{self.balance:.2f}",
            "AccountBalance": f"{self.balance:.2f}",
            "EarnedAmount": "0.00",
            "WithdrawableAmount": "0.00",
            "FundsRequiredForAutoRenew": f"{due:.2f}",
        }
        return [ET.Element("UserGetBalancesResult", attrs)]

    def _create(self, params: dict[str, str]) -> list[ET.Element]:
        domain = need(params, "DomainName").lower()
        match = DOMAIN.match(domain)
        if not match or match.group(2) not in self.prices:
            raise NamecheapError(TLD_NOT_SUPPORTED, "TLD is not supported in API")
        price = self.prices[match.group(2)]
        raw_years = params.get("years", "2")  # the documented default is 2, not 1
        if not raw_years.isdigit() or not 1 <= int(raw_years) <= 10:
            raise NamecheapError(INVALID_YEARS, "Validation error from Years")
        years = int(raw_years)
        for prefix in CONTACT_PREFIXES:
            for name in CONTACT_FIELDS:
                need(params, f"{prefix}{name}")
        if not self._available(domain):
            raise NamecheapError(NOT_AVAILABLE, f"Domain name not available: {domain}")
        premium = self.premium.get(domain)
        claimed = params.get("ispremiumdomain", "false").lower() == "true"
        if claimed != (premium is not None):
            raise NamecheapError(
                PREMIUM_MISMATCH, "Domain is premium while considered regular or is regular while considered premium"
            )
        if premium is not None and params.get("premiumprice", "") not in (
            f"{premium}",
            f"{premium:.2f}",
            money(premium),
        ):
            raise NamecheapError(PRICES_DO_NOT_MATCH, "Prices do not match")
        first = premium if premium is not None else price.register
        amount = first + price.renew * (years - 1) + price.icann_fee * years
        if amount > self.balance:
            raise NamecheapError(INSUFFICIENT_FUNDS, "Order creation failed: insufficient funds in the account balance")
        ns = [n.strip().lower() for n in params.get("nameservers", "").split(",") if n.strip()] or None
        privacy = params.get("wgenabled", "no").lower() in ("yes", "true")
        record = self._record(domain, years=years, privacy=privacy, ns=ns)
        self.balance -= amount
        order_id, transaction_id = next(self._ids), next(self._ids)
        self.charges.append(Charge(domain, money(amount), order_id))
        self._outcome = "OK"  # stored and charged: a lost answer still leaves the order behind
        self.lose_answer()
        attrs = {
            "Domain": domain,
            "Registered": "true",
            "ChargedAmount": money(amount),
            "DomainID": str(record["id"]),
            "OrderID": str(order_id),
            "TransactionID": str(transaction_id),
            "WhoisguardEnable": flag(privacy),
            "NonRealTimeDomain": "false",
        }
        return [ET.Element("DomainCreateResult", attrs)]

    def _list(self, params: dict[str, str]) -> list[ET.Element]:
        page, size = params.get("page", "1"), params.get("pagesize", "20")
        if not page.isdigit() or not size.isdigit() or int(page) < 1 or not 10 <= int(size) <= 100:
            raise NamecheapError(MISSING_PARAMETER, "Page must be 1 or more and PageSize between 10 and 100")
        now, term = self.now(), params.get("searchterm", "").lower()
        rows = [r for r in self.domains.values() if term in r["name"]]
        kind = params.get("listtype", "ALL").upper()
        if kind == "EXPIRED":
            rows = [r for r in rows if r["expires"] <= now]
        elif kind == "EXPIRING":
            rows = [r for r in rows if now < r["expires"] and (r["expires"] - now).days <= 30]
        sort = params.get("sortby", "NAME").upper()
        key = {"NAME": "name", "EXPIREDATE": "expires", "CREATEDATE": "created"}.get(sort.removesuffix("_DESC"), "name")
        rows.sort(key=lambda r: r[key], reverse=sort.endswith("_DESC"))
        start = (int(page) - 1) * int(size)
        result = ET.Element("DomainGetListResult")
        for r in rows[start : start + int(size)]:
            ET.SubElement(
                result, "Domain", ID=str(r["id"]), Name=r["name"], User=self.api_user,
                Created=r["created"].strftime("%m/%d/%Y"), Expires=r["expires"].strftime("%m/%d/%Y"),
                IsExpired=flag(r["expires"] <= now), IsLocked=flag(r["locked"]), AutoRenew=flag(r["auto_renew"]),
                WhoisGuard="ENABLED" if r["privacy"] else "NOTPRESENT", IsPremium=flag(r["premium"]),
                IsOurDNS=flag(r["ns"] is None),
            )  # fmt: skip
        paging = ET.Element("Paging")
        for tag, value in (("TotalItems", len(rows)), ("CurrentPage", page), ("PageSize", size)):
            ET.SubElement(paging, tag).text = str(value)
        return [result, paging]

    def _owned(self, domain: str) -> dict[str, Any]:
        if domain not in self.domains:
            raise NamecheapError(2019166, "Domain not found")
        return self.domains[domain]

    def _info(self, params: dict[str, str]) -> list[ET.Element]:
        r = self._owned(need(params, "DomainName").lower())
        result = ET.Element(
            "DomainGetInfoResult", Status="Ok", ID=str(r["id"]), DomainName=r["name"], OwnerName=self.api_user,
            IsOwner="true", IsPremium=flag(r["premium"]),
        )  # fmt: skip
        details = ET.SubElement(result, "DomainDetails")
        ET.SubElement(details, "CreatedDate").text = r["created"].strftime("%m/%d/%Y")
        ET.SubElement(details, "ExpiredDate").text = r["expires"].strftime("%m/%d/%Y")
        ET.SubElement(result, "LockDetails")
        guard = ET.SubElement(result, "Whoisguard", Enabled=flag(r["privacy"]).title())
        ET.SubElement(guard, "ID").text = str(r["id"] + 7)
        ET.SubElement(guard, "ExpiredDate").text = r["expires"].strftime("%m/%d/%Y")
        dns = ET.SubElement(
            result,
            "DnsDetails",
            ProviderType="FREE" if r["ns"] is None else "CUSTOM",
            IsUsingOurDNS=flag(r["ns"] is None),
        )
        for name in self.nameservers(r["name"]):
            ET.SubElement(dns, "Nameserver").text = name
        ET.SubElement(result, "Modificationrights", All="true")
        return [result]

    def _sld_tld(self, params: dict[str, str]) -> dict[str, Any]:
        return self._owned(f"{need(params, 'SLD')}.{need(params, 'TLD')}".lower())

    def _set_custom(self, params: dict[str, str]) -> list[ET.Element]:
        r = self._sld_tld(params)
        raw = need(params, "Nameservers")
        names = [n.strip().lower().rstrip(".") for n in raw.split(",") if n.strip()]
        if (
            len(raw) > 1200
            or len(names) < 2
            or not all(re.fullmatch(r"(?:[a-z0-9-]+\.)+[a-z]{2,63}", n) for n in names)
        ):
            raise NamecheapError(INVALID_NAMESERVERS, "Nameservers are not valid")
        r["ns"] = names
        return [ET.Element("DomainDNSSetCustomResult", Domain=r["name"], Updated="true")]

    def _set_default(self, params: dict[str, str]) -> list[ET.Element]:
        r = self._sld_tld(params)
        r["ns"] = None
        return [ET.Element("DomainDNSSetDefaultResult", Domain=r["name"], Updated="true")]

    def _dns_list(self, params: dict[str, str]) -> list[ET.Element]:
        r = self._sld_tld(params)
        ours = r["ns"] is None
        result = ET.Element(
            "DomainDNSGetListResult",
            Domain=r["name"],
            IsUsingOurDNS=flag(ours),
            IsPremiumDNS="false",
            IsUsingFreeDNS="false",
        )
        for name in self.nameservers(r["name"]):
            ET.SubElement(result, "Nameserver").text = name
        return [result]
