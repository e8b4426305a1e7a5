"""The Porkbun registrar against the loopback fake: quotes, purchases, lost answers, limits, opt-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from email_infrastructure.core.errors import ProviderAuthError
from email_infrastructure.registrars.porkbun import PorkbunRegistrar
from email_infrastructure.registrars.provider import (
    InsufficientFundsError,
    NotAvailableError,
    NotOptedInError,
    Purchase,
    PurchaseRefusedError,
    PurchaseUnknownError,
)
from tests.fakes.porkbun import FakePorkbun
from tests.fakes.porkbun_wire import PORKBUN_NS


def registrar(fake: FakePorkbun, **options: object) -> PorkbunRegistrar:
    """A client on the fake's clock: its waits move the fake's time, never the test's."""

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)

    keys = {"apikey": fake.apikey, "secretapikey": fake.secretapikey, **options}
    return PorkbunRegistrar(
        str(keys.pop("apikey")), str(keys.pop("secretapikey")), api_url=fake.url, clock=fake.clock, sleep=sleep
    )


@pytest.fixture
async def pb(porkbun: FakePorkbun) -> AsyncIterator[PorkbunRegistrar]:
    client = registrar(porkbun)
    yield client
    await client.aclose()


def buy(domain: str, price: str, **options: object) -> Purchase:
    fields: dict[str, object] = {"years": 1, "auto_renew": False, "privacy": True, **options}
    return Purchase(domain, price=Decimal(price), **fields)  # type: ignore[arg-type]  # a test's loose options


async def test_quote_available_taken_premium_and_minimum_term(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.taken.add("taken-1.com")
    porkbun.premium["cash.com"] = 250_000
    quotes = await pb.quote(["coldmail-7.com", "taken-1.com", "cash.com", "coldmail-7.ai"])
    free, taken, premium, two = (quotes[d] for d in ("coldmail-7.com", "taken-1.com", "cash.com", "coldmail-7.ai"))
    assert (free.available, free.price, free.premium, free.years) == (True, Decimal("11.08"), False, 1)
    assert isinstance(free.price, Decimal) and free.renewal == Decimal("11.08")
    assert taken.available is False
    assert premium.premium is True and premium.price == Decimal("2500.00")
    # .ai sells for two years at least: the price is the whole term, and the quote says so
    assert (two.years, two.price) == (2, Decimal("165.40")) and "minimum of 2 year" in two.note


async def test_quotes_are_cached_briefly(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    await pb.quote(["coldmail-7.com"])
    await pb.quote(["coldmail-7.com"])
    assert len(porkbun.calls("checkDomain")) == 1
    porkbun.clock.advance(121)
    await pb.quote(["coldmail-7.com"])
    assert len(porkbun.calls("checkDomain")) == 2


async def test_check_limit_is_waited_out(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.check_limit = (2, 10.0)  # the historical, stricter limit: our window of 10 lets the third through
    names = [f"coldmail-{i}.com" for i in range(4)]
    quotes = await pb.quote(names)
    assert all(quotes[n].available for n in names)
    refused = [c for c in porkbun.calls("checkDomain") if c.status != 200]
    assert refused and refused[0].outcome.endswith("CHECKS_WITHIN_10_SECONDS_USED")


async def test_register_charges_once_and_sets_auto_renew(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    done = await pb.register(buy("coldmail-7.com", "11.08", auto_renew=False, reference="intent-1"))
    assert (done.charged, done.domain, bool(done.order_id)) == (Decimal("11.08"), "coldmail-7.com", True)
    assert [c.amount for c in porkbun.charged("coldmail-7.com")] == ["1108"]
    assert porkbun.domains["coldmail-7.com"]["autoRenew"] == 0
    found = await pb.find("coldmail-7.com")
    assert found is not None and found.api_access and found.expires is not None
    assert await pb.find("elsewhere-1.com") is None
    assert await pb.balance() == Decimal("988.92")


async def test_price_change_is_refused_and_nothing_charged(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    with pytest.raises(PurchaseRefusedError, match="Expected: 1108 cents"):
        await pb.register(buy("coldmail-7.com", "9.99"))
    assert not porkbun.charges


async def test_balance_too_low_premium_and_taken(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.balance = 500
    with pytest.raises(InsufficientFundsError):
        await pb.register(buy("coldmail-7.com", "11.08"))
    porkbun.balance = 100_000
    porkbun.premium["cash.com"] = 5_000
    porkbun.clock.advance(2)
    with pytest.raises(NotAvailableError):
        await pb.register(buy("cash.com", "50.00", premium=True))
    porkbun.taken.add("taken-1.com")
    porkbun.clock.advance(2)
    with pytest.raises(NotAvailableError):
        await pb.register(buy("taken-1.com", "11.08"))
    assert not porkbun.charges


async def test_lost_answer_is_never_a_second_order(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.faults.lose_next_creates = 1
    with pytest.raises(PurchaseUnknownError, match="looking it up"):
        await pb.register(buy("coldmail-7.com", "11.08"))
    assert len(porkbun.calls("domain/create")) == 1  # not retried
    assert await pb.find("coldmail-7.com") is not None
    assert len(porkbun.charges) == 1


async def test_a_500_on_create_is_not_retried(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.faults.lose_next_creates = 1
    porkbun.faults.lost_as = "500"
    with pytest.raises(PurchaseUnknownError):
        await pb.register(buy("coldmail-7.com", "11.08"))
    assert len(porkbun.calls("domain/create")) == 1 and len(porkbun.charges) == 1


async def test_nameservers_and_opt_in(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.add_domain("mine-1.com")
    porkbun.add_domain("moved-in.com", api_access=False)
    assert await pb.nameservers("mine-1.com") == sorted(PORKBUN_NS)
    await pb.set_nameservers("mine-1.com", ["NS2.Example.net.", "ns1.example.net"])
    assert await pb.nameservers("mine-1.com") == ["ns1.example.net", "ns2.example.net"]
    with pytest.raises(NotOptedInError, match="API Access"):
        await pb.set_nameservers("moved-in.com", ["ns1.example.net", "ns2.example.net"])
    assert porkbun.nameservers["moved-in.com"] == PORKBUN_NS


async def test_bad_keys_are_an_auth_error_without_the_secret(porkbun: FakePorkbun) -> None:
    client = registrar(porkbun, secretapikey="sk1_wrong-secret-value")
    with pytest.raises(ProviderAuthError) as caught:
        await client.balance()
    await client.aclose()
    assert "Invalid API key" in str(caught.value) and "sk1_wrong-secret-value" not in str(caught.value)


async def test_without_the_newer_get_route_find_pages_the_list(
    porkbun: FakePorkbun, pb: PorkbunRegistrar, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.porkbun_wire import PorkbunError

    route = porkbun._route

    def older(method: str, path: str, *args: object) -> object:
        if path.startswith("/domain/get/"):
            raise PorkbunError(404, "Endpoint not found.", "ENDPOINT_NOT_FOUND")
        return route(method, path, *args)  # type: ignore[arg-type]  # the fake's own arguments, passed on

    monkeypatch.setattr(porkbun, "_route", older)
    porkbun.add_domain("mine-1.com")
    found = await pb.find("mine-1.com")
    assert found is not None and found.domain == "mine-1.com"
    # "not ours" comes from the list, never from the missing route's 404
    assert await pb.find("elsewhere-1.com") is None
    assert len(porkbun.calls("domain/listAll")) == 2


async def test_holdings_of_several_names_read_the_listing_once_per_thousand(
    porkbun: FakePorkbun, pb: PorkbunRegistrar
) -> None:
    for n in range(1001):
        porkbun.add_domain(f"fleet-{n}.com")
    names = ["fleet-0.com", "fleet-1000.com", "fleet-500.com", "elsewhere-1.com"]
    held = await pb.holdings(names)
    assert len(porkbun.calls("domain/listAll")) == 2 and not porkbun.calls("domain/get/")
    assert held["elsewhere-1.com"] is None
    one = await pb.find("fleet-500.com")  # the same facts as the one-name route gives
    assert held["fleet-500.com"] == one and one is not None and one.expires is not None


async def test_holdings_of_one_or_two_names_ask_for_each(porkbun: FakePorkbun, pb: PorkbunRegistrar) -> None:
    porkbun.add_domain("mine-1.com")
    held = await pb.holdings(["mine-1.com", "elsewhere-1.com"])
    assert held["mine-1.com"] is not None and held["elsewhere-1.com"] is None
    assert len(porkbun.calls("domain/get/")) == 2 and not porkbun.calls("domain/listAll")
