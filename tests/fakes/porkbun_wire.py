"""Porkbun API v3 wire: constants, prices, the ERROR envelope's exception, auth (../shared/reference/registrars.md §1).

Used by porkbun.py (the fake account and its routes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PREFIX = "/api/json/v3"
API_VERSION = "3.44"
PORKBUN_NS = ["curitiba.ns.porkbun.com", "fortaleza.ns.porkbun.com", "maceio.ns.porkbun.com", "salvador.ns.porkbun.com"]
DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HOST = DOMAIN
PAGE = 1000


@dataclass(frozen=True)
class TldPrice:
    """Per-TLD prices in cents per year; `listed` is what `pricing/get` shows when the quote ignores a promo."""

    registration: int
    renewal: int
    transfer: int
    min_years: int = 1
    #: `firstYearPromo: "yes"`: the quote is below `renewal` (which is then the regular price)
    promo: bool = False
    listed: int | None = None


def default_prices() -> dict[str, TldPrice]:
    """The sandbox quotes of 2026-09-29 (reference §1.3.7, §8.1)."""
    return {
        "com": TldPrice(1108, 1108, 1108),
        "dev": TldPrice(875, 1287, 1287, promo=True),
        "app": TldPrice(875, 1493, 1493, promo=True),
        "io": TldPrice(5180, 5180, 5180, listed=2812),
        "studio": TldPrice(3244, 3244, 3244, listed=1184),
        "ai": TldPrice(8270, 8270, 16509, min_years=2),
    }


class PorkbunError(Exception):
    """An ERROR envelope: HTTP status, message, machine code."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def dollars(cents: int) -> str:
    """Porkbun's price strings: "11.08", "1,039.98"."""
    return f"{cents / 100:,.2f}"


def authenticate(apikey: str, secretapikey: str, headers: dict[str, str], data: dict[str, Any]) -> None:
    """Keys from the body, or from the headers when the body carries none (reference §1.1)."""
    has_body_keys = "apikey" in data or "secretapikey" in data
    key = data.get("apikey") if has_body_keys else headers.get("x-api-key")
    secret = data.get("secretapikey") if has_body_keys else headers.get("x-secret-api-key")
    if not key and not secret:
        raise PorkbunError(400, "API key required.", "API_KEY_REQUIRED")
    if key != apikey:
        raise PorkbunError(400, "Invalid API key. (001)", "INVALID_API_KEYS_001")
    if secret != secretapikey:
        raise PorkbunError(400, "Invalid API key. (002)", "INVALID_API_KEYS_002")


def price_row(price: TldPrice) -> dict[str, Any]:
    """One TLD of `pricing/get`: strings, the listed (maybe promo) registration price."""
    shown = price.listed if price.listed is not None else price.registration
    return {
        "registration": dollars(shown),
        "renewal": dollars(price.renewal),
        "transfer": dollars(price.transfer),
        "coupons": [],
        "specialType": None,
    }
