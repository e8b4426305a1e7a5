"""The contract every registrar (Porkbun, Namecheap) implements, and its value types.

Money is `Decimal` in the registrar's currency (USD for both), never float: a quote, a charge and
a balance are compared against the inventory's caps to the cent. A purchase is the one call that
spends money, so it is never retried blindly: a `register` whose answer was lost raises
`PurchaseUnknownError`, and the caller looks the domain up (`find`) instead of ordering again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Protocol, runtime_checkable

from email_infrastructure.core.errors import ProviderError


class RegistrarError(ProviderError):
    """A registrar refused or failed a call (its own words in the message)."""


class NotAvailableError(RegistrarError):
    """The name is taken (or the registry will not sell it)."""


class InsufficientFundsError(RegistrarError):
    """The prepaid balance does not cover the order; nothing was charged."""


class PurchaseRefusedError(RegistrarError):
    """The registrar refused the order (premium, price changed, cap, account blocked); nothing was charged."""


class PurchaseUnknownError(RegistrarError):
    """The order was sent and its answer lost: it may have gone through. Look it up, never re-order."""


class NotOptedInError(RegistrarError):
    """Porkbun: the domain is not opted in to API access (switch it on in the web UI, per domain or for all)."""


@dataclass(frozen=True)
class Quote:
    """Whether a name can be bought now, and what it costs for `years`."""

    domain: str
    available: bool
    #: the first term's total for `years` (registration + fees), None when the registrar gives no price
    price: Decimal | None
    years: int = 1
    premium: bool = False
    #: the yearly renewal price, when the registrar says
    renewal: Decimal | None = None
    currency: str = "USD"
    #: why the price or the availability is uncertain (a TLD sold on the website only …)
    note: str = ""

    def to_json(self) -> dict[str, object]:
        """JSON form (amounts as strings: never float)."""
        return {
            "domain": self.domain,
            "available": self.available,
            "price": None if self.price is None else str(self.price),
            "years": self.years,
            "premium": self.premium,
            "renewal": None if self.renewal is None else str(self.renewal),
            "currency": self.currency,
            "note": self.note,
        }


@dataclass(frozen=True)
class Purchase:
    """What a registration asks for: the name, its term and options, and the price we agreed to pay."""

    domain: str
    years: int
    auto_renew: bool
    privacy: bool
    #: the quoted total; the registrar must charge this or refuse (Porkbun checks `cost`)
    price: Decimal
    premium: bool = False
    #: our intent's id: Porkbun's Idempotency-Key (a replay within 24 h charges nothing)
    reference: str = ""


@dataclass(frozen=True)
class Registration:
    """An order that went through."""

    domain: str
    charged: Decimal
    order_id: str
    #: what went through only in part (auto-renew not set …)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountDomain:
    """A domain in our account at the registrar."""

    domain: str
    created: datetime | None = None
    expires: datetime | None = None
    auto_renew: bool | None = None
    privacy: bool | None = None
    #: Porkbun: False when the domain is not opted in to API access (nameservers cannot be set by API)
    api_access: bool = True


@runtime_checkable
class Registrar(Protocol):
    """A registrar account's API; every call goes through the client's one `request()` choke point."""

    #: the inventory's `type:` (porkbun, namecheap)
    type: ClassVar[str]
    #: False where no API switches auto-renew (Namecheap): the plan says to do it by hand
    sets_auto_renew: ClassVar[bool]
    #: the inventory's name of this account (`providers.registrars.<name>`)
    name: str

    async def quote(self, domains: Sequence[str], years: int = 1) -> dict[str, Quote]:
        """Availability and price of each name (cached briefly in-process)."""
        ...

    async def register(self, purchase: Purchase) -> Registration:
        """Buy the name once. PurchaseUnknownError when the answer was lost: `find` next, never again."""
        ...

    async def find(self, domain: str) -> AccountDomain | None:
        """The domain if it is in our account, else None."""
        ...

    async def holdings(self, domains: Sequence[str]) -> dict[str, AccountDomain | None]:
        """`find` for many names in as few calls as the registrar allows (the account's listing, paged)."""
        ...

    async def nameservers(self, domain: str) -> list[str]:
        """The nameservers the registry delegates the domain to (lowercase, no trailing dot)."""
        ...

    async def set_nameservers(self, domain: str, nameservers: Sequence[str]) -> None:
        """Replace the delegation with these nameservers."""
        ...

    async def balance(self) -> Decimal:
        """The prepaid balance available for orders."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


def clean_ns(names: Sequence[str]) -> list[str]:
    """Nameservers compared alike: lowercase, no trailing dot, sorted, once each."""
    return sorted({n.strip().lower().rstrip(".") for n in names if n.strip()})


__all__ = [
    "AccountDomain",
    "InsufficientFundsError",
    "NotAvailableError",
    "NotOptedInError",
    "Purchase",
    "PurchaseRefusedError",
    "PurchaseUnknownError",
    "Quote",
    "Registrar",
    "RegistrarError",
    "Registration",
    "clean_ns",
]
