"""Namecheap's XML API wire: parameters, envelope, error numbers, prices (../shared/reference/registrars.md §2).

Used by namecheap.py (the fake account and its commands).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

from tests.fakes.registrar_base import Response

PATH = "/xml.response"
NAMESPACE = "http://api.namecheap.com/xml.response"
OUR_DNS = ["dns1.registrar-servers.com", "dns2.registrar-servers.com"]
CONTACT_PREFIXES = ("Registrant", "Tech", "Admin", "AuxBilling")
CONTACT_FIELDS = (
    "FirstName",
    "LastName",
    "Address1",
    "City",
    "StateProvince",
    "PostalCode",
    "Country",
    "Phone",
    "EmailAddress",
)
DOMAIN = re.compile(r"^(?=.{4,70}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.([a-z]{2,63})$")
# unconfirmed numbers (the reference lists none for these): what a provider may branch on
NOT_AVAILABLE = 3019166
INSUFFICIENT_FUNDS = 2528166
MISSING_PARAMETER = 2010324
INVALID_NAMESERVERS = 2011168
PRICES_DO_NOT_MATCH = 2515610
PREMIUM_MISMATCH = 2515623
INVALID_YEARS = 2015167
TLD_NOT_SUPPORTED = 2030280


@dataclass(frozen=True)
class TldPrice:
    """Per-TLD dollars per year (what `YourPrice` shows) and the ICANN fee added per year."""

    register: Decimal
    renew: Decimal
    transfer: Decimal
    icann_fee: Decimal = Decimal("0.20")


def default_prices() -> dict[str, TldPrice]:
    """Namecheap's regular list, 2026-09-29 (reference §8.1; .io and .ai carry no ICANN fee)."""
    return {
        "com": TldPrice(Decimal("11.28"), Decimal("18.48"), Decimal("11.48")),
        "dev": TldPrice(Decimal("10.98"), Decimal("20.98"), Decimal("15.98")),
        "app": TldPrice(Decimal("10.98"), Decimal("22.98"), Decimal("17.98")),
        "studio": TldPrice(Decimal("14.98"), Decimal("52.98"), Decimal("39.98")),
        "io": TldPrice(Decimal("34.98"), Decimal("75.98"), Decimal("65.98"), Decimal("0")),
    }


class NamecheapError(Exception):
    """An `<Error Number>`."""

    def __init__(self, number: int, text: str) -> None:
        super().__init__(text)
        self.number, self.text = number, text


def money(amount: Decimal) -> str:
    """Amounts as Namecheap writes them ("11.4800")."""
    return f"{amount:.4f}"


def flag(value: bool) -> str:
    """XML booleans."""
    return "true" if value else "false"


def parameters(method: str, query: dict[str, list[str]], body: bytes) -> dict[str, str]:
    """GET query and POST form merged, names lowercased (Namecheap matches them case-insensitively)."""
    merged = dict(query)
    if method == "POST" and body:
        merged.update(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {k.lower(): v[-1] for k, v in merged.items()}


def need(params: dict[str, str], name: str) -> str:
    """A required command parameter."""
    value = params.get(name.lower(), "").strip()
    if not value:
        raise NamecheapError(MISSING_PARAMETER, f"Parameter {name} is missing")
    return value


def envelope(status: str, command: str) -> ET.Element:
    """`<ApiResponse Status=…>` with everything but CommandResponse and the errors."""
    root = ET.Element("ApiResponse", Status=status, xmlns=NAMESPACE)
    ET.SubElement(root, "Errors")
    ET.SubElement(root, "Warnings")
    ET.SubElement(root, "RequestedCommand").text = command
    ET.SubElement(root, "Server").text = "FAKE-API01"
    ET.SubElement(root, "GMTTimeDifference").text = "--5:00"
    ET.SubElement(root, "ExecutionTime").text = "0.012"
    return root


def xml(root: ET.Element) -> Response:
    """HTTP 200, text/xml, whatever the status."""
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
    return 200, {"Content-Type": "text/xml; charset=utf-8"}, text.encode()


def pricing(prices: dict[str, TldPrice], params: dict[str, str]) -> list[ET.Element]:
    """`users.getPricing` for DOMAIN, filtered by ActionName and ProductName."""
    if need(params, "ProductType").upper() != "DOMAIN":
        raise NamecheapError(MISSING_PARAMETER, "Parameter ProductType is invalid")
    actions = {"REGISTER": "register", "RENEW": "renew", "TRANSFER": "transfer"}
    wanted = params.get("actionname", "").upper()
    product = params.get("productname", "").lower()
    result = ET.Element("UserGetPricingResult")
    kind = ET.SubElement(result, "ProductType", Name="domains")
    for action, attr in actions.items():
        if wanted and wanted != action:
            continue
        category = ET.SubElement(kind, "ProductCategory", Name=attr)
        for tld, price in prices.items():
            if product and product != tld:
                continue
            amount: Decimal = getattr(price, attr)
            row = ET.SubElement(category, "Product", Name=tld)
            for years in range(1, 2 if action == "TRANSFER" else 6):
                ET.SubElement(
                    row, "Price", Duration=str(years), DurationType="YEAR", Price=f"{amount:.2f}",
                    PricingType="MULTIPLE", AdditionalCost=f"{price.icann_fee:.2f}", RegularPrice=f"{amount:.2f}",
                    RegularPriceType="MULTIPLE", RegularAdditionalCost=f"{price.icann_fee:.2f}",
                    RegularAdditionalCostType="MULTIPLE", YourPrice=f"{amount:.2f}", YourPriceType="MULTIPLE",
                    YourAdditonalCost=f"{price.icann_fee:.2f}", YourAdditonalCostType="MULTIPLE",
                    PromotionPrice="0.0", Currency="USD",
                )  # fmt: skip
    return [result]
