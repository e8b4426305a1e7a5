"""What the registrar clients share: the brief in-process quote cache and money parsing."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from email_infrastructure.core.errors import ProviderError
from email_infrastructure.registrars.provider import Quote

#: how long a quote is reused: a plan and the apply right after it ask once (prices move slowly,
#: availability can change any minute, and apply re-checks the price the registrar charges anyway)
QUOTE_TTL = 120.0


class QuoteCache:
    """Quotes by (domain, years) for `ttl` seconds, in this process only."""

    def __init__(self, ttl: float = QUOTE_TTL, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._quotes: dict[tuple[str, int], tuple[float, Quote]] = {}

    def get(self, domain: str, years: int) -> Quote | None:
        """The cached quote, if still fresh."""
        hit = self._quotes.get((domain, years))
        if hit is None or self._clock() - hit[0] >= self.ttl:
            return None
        return hit[1]

    def put(self, quote: Quote) -> None:
        """Remember a quote from now on."""
        self._quotes[(quote.domain, quote.years)] = (self._clock(), quote)

    def forget(self, domain: str) -> None:
        """Drop a name's quotes (after buying it, it is no longer available)."""
        for key in [k for k in self._quotes if k[0] == domain]:
            del self._quotes[key]


def money(value: object, *, provider: str) -> Decimal:
    """A vendor amount ("1,039.98", "11.4800", 1108 as a string) as Decimal; never through float."""
    text = str(value).replace(",", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ProviderError(
            f"{provider} sent an amount that is not a number: {text[:40]!r}", provider=provider
        ) from None
    if not amount.is_finite():
        raise ProviderError(f"{provider} sent an amount that is not a number: {text[:40]!r}", provider=provider)
    return amount


def cents(amount: Decimal) -> int:
    """Dollars as whole cents (Porkbun's `cost`)."""
    return int((amount * 100).to_integral_value())
