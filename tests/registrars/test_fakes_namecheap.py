"""The Namecheap fake against ../shared/reference/registrars.md §2, driven with httpx as the reference documents."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.fakes.namecheap import FakeNamecheap
from tests.fakes.namecheap_wire import (
    INSUFFICIENT_FUNDS,
    INVALID_NAMESERVERS,
    MISSING_PARAMETER,
    NAMESPACE,
    NOT_AVAILABLE,
    OUR_DNS,
    PREMIUM_MISMATCH,
    PRICES_DO_NOT_MATCH,
)

NS = {"nc": NAMESPACE}
CONTACT = {
    "FirstName": "Jon",
    "LastName": "Doe",
    "Address1": "1 Main St",
    "City": "Springfield",
    "StateProvince": "IL",
    "PostalCode": "62701",
    "Country": "US",
    "Phone": "+1.5555550100",
    "EmailAddress": "ops@example.net",
}
CONTACTS = {f"{prefix}{k}": v for prefix in ("Registrant", "Tech", "Admin", "AuxBilling") for k, v in CONTACT.items()}


def call(fake: FakeNamecheap, command: str, method: str = "GET", **params: str) -> httpx.Response:
    """One API call with the five global parameters (GET query, or POST form as recommended for create)."""
    every = {
        "ApiUser": fake.api_user,
        "ApiKey": fake.api_key,
        "UserName": fake.api_user,
        "ClientIp": fake.client_ip,
        "Command": command,
        **params,
    }
    if method == "POST":
        return httpx.post(fake.url, data=every)
    return httpx.get(fake.url, params=every)


def root(response: httpx.Response) -> ET.Element:
    """The parsed ApiResponse (errors come back as HTTP 200 too)."""
    assert response.status_code == 200
    return ET.fromstring(response.content)  # noqa: S314  # our own fake on loopback, not untrusted input


def error(response: httpx.Response) -> tuple[str, int, str]:
    """(Status, Error Number, text)."""
    tree = root(response)
    found = tree.find("nc:Errors/nc:Error", NS)
    assert found is not None
    return tree.get("Status", ""), int(found.get("Number", "0")), found.text or ""


def result(response: httpx.Response, tag: str) -> ET.Element:
    """The first `tag` under CommandResponse of an OK answer."""
    tree = root(response)
    assert tree.get("Status") == "OK", ET.tostring(tree)
    found = tree.find(f"nc:CommandResponse/nc:{tag}", NS)
    assert found is not None
    return found


def create(fake: FakeNamecheap, domain: str, **params: str) -> httpx.Response:
    """`domains.create` by POST with the four contacts."""
    return call(fake, "namecheap.domains.create", "POST", DomainName=domain, **CONTACTS, **params)


def test_global_parameters_and_their_errors(namecheap: FakeNamecheap) -> None:
    bare = httpx.get(namecheap.url)
    no_key = httpx.get(namecheap.url, params={"ApiUser": "x"})
    no_command = httpx.get(namecheap.url, params={"ApiUser": "x", "ApiKey": "y"})
    no_ip = httpx.get(namecheap.url, params={"ApiUser": "x", "ApiKey": "y", "Command": "namecheap.users.getBalances"})
    bad_key = call(namecheap, "namecheap.users.getBalances", ApiKey="bogus")
    other_user = call(namecheap, "namecheap.users.getBalances", UserName="someone")
    assert error(bare) == ("ERROR", 1010101, "Parameter APIUser is missing")
    assert error(no_key)[1] == 1010102 and error(no_command)[1] == 1010104 and error(no_ip)[1] == 1010105
    assert error(bad_key) == ("ERROR", 1011102, "API Key is invalid or API access has not been enabled")
    assert error(other_user)[1] == 1016103
    namecheap.api_enabled = False
    assert error(call(namecheap, "namecheap.users.getBalances"))[1] == 1011102
    assert namecheap.api_key not in repr(namecheap.log)
    assert (namecheap.log[-1].path, namecheap.log[-1].status, namecheap.log[-1].outcome) == (
        "namecheap.users.getbalances",
        200,
        "1011102",
    )


def test_client_ip_must_be_on_the_allow_list(namecheap: FakeNamecheap) -> None:
    refused = create(namecheap, "coldmail-7.com", Years="1", ClientIp="203.0.113.9")
    namecheap.allowed_ips.add("203.0.113.9")
    allowed = call(namecheap, "namecheap.users.getBalances", ClientIp="203.0.113.9")
    assert error(refused)[:2] == ("ERROR", 1011150)
    assert not namecheap.domains and namecheap.balance == Decimal("100.00")
    assert result(allowed, "UserGetBalancesResult").get("AvailableBalance") == "100.00"


def test_envelope_by_get_and_post(namecheap: FakeNamecheap) -> None:
    by_get = root(call(namecheap, "namecheap.users.getBalances"))
    by_post = root(call(namecheap, "namecheap.users.getBalances", "POST"))
    assert by_get.tag == f"{{{NAMESPACE}}}ApiResponse" and by_get.get("Status") == "OK"
    children = [child.tag.removeprefix(f"{{{NAMESPACE}}}") for child in by_get]
    assert children[:4] == ["Errors", "Warnings", "RequestedCommand", "CommandResponse"]
    assert by_get.findtext("nc:RequestedCommand", namespaces=NS) == "namecheap.users.getbalances"
    response = by_get.find("nc:CommandResponse", NS)
    assert response is not None and response.get("Type") == "namecheap.users.getbalances"
    assert ET.tostring(by_get) == ET.tostring(by_post)


def test_check_available_taken_premium_and_the_50_cap(namecheap: FakeNamecheap) -> None:
    namecheap.taken.add("google.com")
    namecheap.premium["cash.com"] = Decimal("2500")
    answer = root(call(namecheap, "namecheap.domains.check", DomainList="coldmail-7.com,google.com,cash.com,x.zz"))
    rows = {r.get("Domain"): r for r in answer.iterfind("nc:CommandResponse/nc:DomainCheckResult", NS)}
    too_many = call(namecheap, "namecheap.domains.check", DomainList=",".join(f"d{i}.com" for i in range(51)))
    assert rows["coldmail-7.com"].get("Available") == "true" and rows["coldmail-7.com"].get("IsPremiumName") == "false"
    assert rows["google.com"].get("Available") == "false"
    premium = rows["cash.com"]
    assert (premium.get("IsPremiumName"), premium.get("PremiumRegistrationPrice")) == ("true", "2500.0000")
    assert rows["x.zz"].get("Available") == "false" and rows["x.zz"].get("ErrorNo") != "0"
    assert error(too_many)[1] == 2011169


def test_pricing_and_balance(namecheap: FakeNamecheap) -> None:
    pricing = root(
        call(namecheap, "namecheap.users.getPricing", ProductType="DOMAIN", ActionName="REGISTER", ProductName="COM")
    )
    prices = pricing.findall("nc:CommandResponse/nc:UserGetPricingResult/nc:ProductType/nc:ProductCategory", NS)
    missing = call(namecheap, "namecheap.users.getPricing")
    balances = result(call(namecheap, "namecheap.users.getBalances"), "UserGetBalancesResult")
    assert [c.get("Name") for c in prices] == ["register"]
    products = prices[0].findall("nc:Product", NS)
    assert [p.get("Name") for p in products] == ["com"]
    one_year = products[0].find("nc:Price[@Duration='1']", NS)
    assert one_year is not None
    assert (one_year.get("YourPrice"), one_year.get("AdditionalCost"), one_year.get("Currency")) == (
        "11.28",
        "0.20",
        "USD",
    )
    assert error(missing)[1] == MISSING_PARAMETER
    assert (balances.get("Currency"), balances.get("AvailableBalance")) == ("USD", "100.00")


def test_create_charges_once_and_defaults_to_two_years(namecheap: FakeNamecheap) -> None:
    made = result(create(namecheap, "coldmail-7.com", Years="1", WGEnabled="yes"), "DomainCreateResult")
    again = create(namecheap, "coldmail-7.com", Years="1")
    two = result(create(namecheap, "coldmail-8.com"), "DomainCreateResult")
    assert (made.get("Registered"), made.get("ChargedAmount"), made.get("WhoisguardEnable")) == (
        "true",
        "11.4800",
        "true",
    )
    assert made.get("OrderID") and made.get("TransactionID") and made.get("DomainID")
    assert error(again)[1] == NOT_AVAILABLE
    # Years omitted → 2: first year at the register price, the second at the renewal price, ICANN fee each year
    assert two.get("ChargedAmount") == "30.1600" and two.get("WhoisguardEnable") == "false"
    assert namecheap.balance == Decimal("100.00") - Decimal("11.48") - Decimal("30.16")
    assert [c.domain for c in namecheap.charges] == ["coldmail-7.com", "coldmail-8.com"]
    info = result(call(namecheap, "namecheap.domains.getInfo", DomainName="coldmail-8.com"), "DomainGetInfoResult")
    assert info.findtext("nc:DomainDetails/nc:ExpiredDate", namespaces=NS) == "12/05/2028"


def test_insufficient_funds_and_missing_contacts_charge_nothing(namecheap: FakeNamecheap) -> None:
    namecheap.balance = Decimal("5.00")
    poor = create(namecheap, "coldmail-7.com", Years="1")
    namecheap.balance = Decimal("100.00")
    contacts = {k: v for k, v in CONTACTS.items() if k != "AdminPhone"}
    incomplete = call(namecheap, "namecheap.domains.create", "POST", DomainName="coldmail-7.com", Years="1", **contacts)
    assert error(poor)[1] == INSUFFICIENT_FUNDS and error(incomplete)[1] == MISSING_PARAMETER
    assert not namecheap.domains and not namecheap.charges and namecheap.balance == Decimal("100.00")


def test_premium_needs_the_flag_and_the_price(namecheap: FakeNamecheap) -> None:
    namecheap.premium["cash.com"] = Decimal("50.00")
    unflagged = create(namecheap, "cash.com", Years="1")
    wrong = create(namecheap, "cash.com", Years="1", IsPremiumDomain="true", PremiumPrice="40.00")
    flagged_regular = create(namecheap, "coldmail-7.com", Years="1", IsPremiumDomain="true", PremiumPrice="11.28")
    bought = result(
        create(namecheap, "cash.com", Years="1", IsPremiumDomain="true", PremiumPrice="50.00"), "DomainCreateResult"
    )
    assert error(unflagged)[1] == PREMIUM_MISMATCH and error(flagged_regular)[1] == PREMIUM_MISMATCH
    assert error(wrong)[1] == PRICES_DO_NOT_MATCH
    assert bought.get("ChargedAmount") == "50.2000" and len(namecheap.charges) == 1


def test_nameservers_set_read_back_and_reset(namecheap: FakeNamecheap) -> None:
    create(namecheap, "coldmail-7.com", Years="1")
    before = result(
        call(namecheap, "namecheap.domains.dns.getList", SLD="coldmail-7", TLD="com"), "DomainDNSGetListResult"
    )
    done = result(
        call(
            namecheap,
            "namecheap.domains.dns.setCustom",
            SLD="coldmail-7",
            TLD="com",
            Nameservers="A.ns.example.net,b.ns.example.net",
        ),
        "DomainDNSSetCustomResult",
    )
    after = result(
        call(namecheap, "namecheap.domains.dns.getList", SLD="coldmail-7", TLD="com"), "DomainDNSGetListResult"
    )
    info = result(call(namecheap, "namecheap.domains.getInfo", DomainName="coldmail-7.com"), "DomainGetInfoResult")
    one = call(
        namecheap, "namecheap.domains.dns.setCustom", SLD="coldmail-7", TLD="com", Nameservers="a.ns.example.net"
    )
    foreign = call(namecheap, "namecheap.domains.dns.setCustom", SLD="other", TLD="com", Nameservers="a.x.net,b.x.net")
    call(namecheap, "namecheap.domains.dns.setDefault", SLD="coldmail-7", TLD="com")
    assert before.get("IsUsingOurDNS") == "true" and [n.text for n in before] == OUR_DNS
    assert (done.get("Domain"), done.get("Updated")) == ("coldmail-7.com", "true")
    assert after.get("IsUsingOurDNS") == "false" and [n.text for n in after] == ["a.ns.example.net", "b.ns.example.net"]
    dns = info.find("nc:DnsDetails", NS)
    assert dns is not None and dns.get("ProviderType") == "CUSTOM"
    assert error(one)[1] == INVALID_NAMESERVERS and error(foreign)[1] == 2019166
    assert namecheap.nameservers("coldmail-7.com") == OUR_DNS


def test_get_list_pages_and_dates(namecheap: FakeNamecheap) -> None:
    for i in range(25):
        namecheap.add_domain(f"d{i:02}.com")
    page3 = root(call(namecheap, "namecheap.domains.getList", Page="3", PageSize="10"))
    rows = page3.findall("nc:CommandResponse/nc:DomainGetListResult/nc:Domain", NS)
    paging = page3.find("nc:CommandResponse/nc:Paging", NS)
    newest = result(
        call(namecheap, "namecheap.domains.getList", SortBy="NAME_DESC", PageSize="10"), "DomainGetListResult"
    )
    small = call(namecheap, "namecheap.domains.getList", PageSize="5")
    assert [r.get("Name") for r in rows] == [f"d{i}.com" for i in range(20, 25)]
    assert paging is not None and paging.findtext("nc:TotalItems", namespaces=NS) == "25"
    assert (rows[0].get("Created"), rows[0].get("Expires"), rows[0].get("IsOurDNS")) == (
        "12/05/2026",
        "12/05/2027",
        "true",
    )
    assert newest[0].get("Name") == "d24.com" and error(small)[0] == "ERROR"


def test_rate_limit_is_http_405_before_processing(namecheap: FakeNamecheap) -> None:
    answers = [call(namecheap, "namecheap.users.getBalances") for _ in range(20)]
    refused = create(namecheap, "coldmail-7.com", Years="1")
    namecheap.clock.advance(60)
    later = call(namecheap, "namecheap.users.getBalances")
    assert {a.status_code for a in answers} == {200}
    assert refused.status_code == 405 and not namecheap.domains and not namecheap.charges
    assert later.status_code == 200


def test_lost_answer_leaves_one_registration_and_one_charge(namecheap: FakeNamecheap) -> None:
    namecheap.faults.lose_next_creates = 1
    with pytest.raises(httpx.RemoteProtocolError):
        create(namecheap, "coldmail-7.com", Years="1")
    listed = root(call(namecheap, "namecheap.domains.getList", SearchTerm="coldmail"))
    retry = create(namecheap, "coldmail-7.com", Years="1")
    assert [d.get("Name") for d in listed.iterfind("nc:CommandResponse/nc:DomainGetListResult/nc:Domain", NS)] == [
        "coldmail-7.com"
    ]
    assert error(retry)[1] == NOT_AVAILABLE
    assert len(namecheap.charges) == 1 and namecheap.balance == Decimal("88.52")
    lost = namecheap.calls("domains.create")[0]
    assert (lost.status, lost.lost, lost.outcome) == (0, True, "OK")


def test_lost_as_500_and_seeded_faults_and_unknown_paths(namecheap: FakeNamecheap) -> None:
    namecheap.faults.lose_next_creates, namecheap.faults.lost_as = 1, "500"
    failed = create(namecheap, "coldmail-7.com", Years="1")
    namecheap.faults.next_statuses = [502]
    gateway = call(namecheap, "namecheap.users.getBalances")
    wrong_path = httpx.get(namecheap.url.removesuffix("/xml.response") + "/api.response")
    unknown = call(namecheap, "namecheap.domains.transferOut")
    assert failed.status_code == 500 and "coldmail-7.com" in namecheap.domains and len(namecheap.charges) == 1
    assert gateway.status_code == 502 and wrong_path.status_code == 404
    assert error(unknown)[0] == "ERROR"
