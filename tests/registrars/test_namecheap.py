"""The Namecheap registrar against the loopback fake: XML envelope, error numbers, 405 limits, lost answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from email_infrastructure.core.errors import ProviderAuthError, ProviderError
from email_infrastructure.registrars.namecheap import NamecheapRegistrar
from email_infrastructure.registrars.provider import (
    InsufficientFundsError,
    NotAvailableError,
    Purchase,
    PurchaseRefusedError,
    PurchaseUnknownError,
)
from tests.fakes.namecheap import FakeNamecheap
from tests.fakes.namecheap_wire import OUR_DNS

CONTACT = {
    "first_name": "Ann",
    "last_name": "Lee",
    "address1": "1 Main St",
    "city": "Springfield",
    "state_province": "IL",
    "postal_code": "62701",
    "country": "US",
    "phone": "+1.5555550100",
    "email": "ann@example.net",
}


def registrar(fake: FakeNamecheap, *, client_ip: str = "127.0.0.1", **options: object) -> NamecheapRegistrar:
    """A client on the fake's clock (its waits move the fake's time)."""

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)

    return NamecheapRegistrar(
        fake.api_user,
        str(options.pop("api_key", fake.api_key)),
        client_ip,
        api_url=fake.url,
        contact=options.pop("contact", CONTACT),  # type: ignore[arg-type]  # a test's loose options
        clock=fake.clock,
        sleep=sleep,
    )


@pytest.fixture
async def nc(namecheap: FakeNamecheap) -> AsyncIterator[NamecheapRegistrar]:
    client = registrar(namecheap)
    yield client
    await client.aclose()


def buy(domain: str, price: str, years: int = 1, **options: object) -> Purchase:
    fields: dict[str, object] = {"auto_renew": False, "privacy": True, **options}
    return Purchase(domain, years=years, price=Decimal(price), **fields)  # type: ignore[arg-type]  # a test's loose options


async def test_quote_prices_a_term_with_the_icann_fee(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    namecheap.taken.add("taken-1.com")
    namecheap.premium["cash.com"] = Decimal("2500.00")
    one = await nc.quote(["coldmail-7.com", "taken-1.com", "cash.com", "bad.zzz"])
    two = await nc.quote(["coldmail-7.com"], years=2)
    assert (one["coldmail-7.com"].available, one["coldmail-7.com"].price) == (True, Decimal("11.48"))
    assert one["taken-1.com"].available is False
    assert one["cash.com"].premium and one["cash.com"].price == Decimal("2500.20")
    assert one["bad.zzz"].price is None and one["bad.zzz"].note
    # first year at the register price, the second at the renewal price, the fee each year
    assert two["coldmail-7.com"].price == Decimal("11.28") + Decimal("18.48") + Decimal("0.40")
    assert len(namecheap.calls("domains.check")) == 2  # one per term; prices were read once per TLD


async def test_register_charges_what_was_quoted(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    quote = (await nc.quote(["coldmail-7.com"], years=2))["coldmail-7.com"]
    assert quote.price is not None
    done = await nc.register(buy("coldmail-7.com", str(quote.price), years=2, auto_renew=True))
    assert done.charged == quote.price and done.order_id
    assert "auto-renew" in done.notes[0]
    assert namecheap.domains["coldmail-7.com"]["privacy"] is True  # WGEnabled sent, not left to its default
    found = await nc.find("coldmail-7.com")
    assert found is not None and found.expires is not None and found.privacy
    assert await nc.find("elsewhere-1.com") is None
    assert await nc.balance() == Decimal("100.00") - quote.price


async def test_refusals_charge_nothing(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    namecheap.balance = Decimal("5.00")
    with pytest.raises(InsufficientFundsError):
        await nc.register(buy("coldmail-7.com", "11.48"))
    namecheap.balance = Decimal("100.00")
    namecheap.taken.add("taken-1.com")
    with pytest.raises(NotAvailableError):
        await nc.register(buy("taken-1.com", "11.48"))
    namecheap.premium["cash.com"] = Decimal("50.00")
    with pytest.raises(PurchaseRefusedError):
        await nc.register(buy("cash.com", "11.48"))  # premium but ordered as regular
    assert not namecheap.charges


async def test_no_contact_no_order(namecheap: FakeNamecheap) -> None:
    client = registrar(namecheap, contact={})
    with pytest.raises(PurchaseRefusedError, match="contact"):
        await client.register(buy("coldmail-7.com", "11.48"))
    await client.aclose()
    assert not namecheap.calls("domains.create")


async def test_lost_answer_is_never_a_second_order(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    namecheap.faults.lose_next_creates = 1
    with pytest.raises(PurchaseUnknownError):
        await nc.register(buy("coldmail-7.com", "11.48"))
    assert len(namecheap.calls("domains.create")) == 1
    assert await nc.find("coldmail-7.com") is not None and len(namecheap.charges) == 1


async def test_405_is_waited_out(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    namecheap.limits = ((2, 60.0),)  # stricter than our 20/min: the fake answers 405 first
    for _ in range(3):
        await nc.balance()
    statuses = [c.status for c in namecheap.calls("getbalances")]
    assert 405 in statuses and statuses[-1] == 200


async def test_nameservers_set_and_read_back(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    namecheap.add_domain("mine-1.com")
    assert await nc.nameservers("mine-1.com") == sorted(OUR_DNS)
    await nc.set_nameservers("mine-1.com", ["ns2.example.net.", "NS1.example.net"])
    assert await nc.nameservers("mine-1.com") == ["ns1.example.net", "ns2.example.net"]


async def test_ip_not_allow_listed_and_bad_key(namecheap: FakeNamecheap) -> None:
    other = registrar(namecheap, client_ip="203.0.113.9")
    with pytest.raises(ProviderAuthError, match="allow-list"):
        await other.balance()
    await other.aclose()
    wrong = registrar(namecheap, api_key="wrong-key-0123456789")
    with pytest.raises(ProviderAuthError) as caught:
        await wrong.balance()
    await wrong.aclose()
    assert "1011102" in str(caught.value) and "wrong-key-0123456789" not in str(caught.value)


async def test_a_dtd_is_refused(
    namecheap: FakeNamecheap, nc: NamecheapRegistrar, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><ApiResponse Status="OK"/>'
    monkeypatch.setattr(namecheap, "answer", lambda *a: (200, {"Content-Type": "text/xml"}, evil))
    with pytest.raises(ProviderError, match="DTD"):
        await nc.balance()


async def test_holdings_of_several_names_page_the_domain_list(namecheap: FakeNamecheap, nc: NamecheapRegistrar) -> None:
    for n in range(150):
        namecheap.add_domain(f"fleet-{n}.com", auto_renew=n == 7)
    held = await nc.holdings(["fleet-7.com", "fleet-149.com", "fleet-0.com", "elsewhere-1.com"])
    assert len(namecheap.calls("domains.getlist")) == 2 and not namecheap.calls("domains.getinfo")
    assert held["elsewhere-1.com"] is None
    seven, zero = held["fleet-7.com"], held["fleet-0.com"]
    assert seven is not None and seven.auto_renew is True and zero is not None and zero.auto_renew is False
    one = await nc.find("fleet-7.com")  # the facts getInfo gives agree
    assert one is not None and (seven.created, seven.expires, seven.privacy) == (one.created, one.expires, one.privacy)
