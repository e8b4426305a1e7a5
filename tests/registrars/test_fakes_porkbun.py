"""The Porkbun fake against ../shared/reference/registrars.md §1, driven with httpx as the reference documents."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.fakes.porkbun import FakePorkbun
from tests.fakes.porkbun_wire import PORKBUN_NS, TldPrice


def post(fake: FakePorkbun, path: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    """POST with the keys in the JSON body, as every v3 call does."""
    payload = {"apikey": fake.apikey, "secretapikey": fake.secretapikey, **body}
    return httpx.post(f"{fake.url}{path}", json=payload, headers=headers)


def buy(
    fake: FakePorkbun, domain: str, cost: int, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    """`domain/create` as the register guide shows it; the clock moves past the 1/s attempt limit."""
    fake.clock.advance(1)
    return post(fake, f"/domain/create/{domain}", headers, cost=cost, agreeToTerms="yes", **body)


def test_auth_in_body_or_headers_and_the_errors(porkbun: FakePorkbun) -> None:
    none = httpx.post(f"{porkbun.url}/ping", json={})
    bad_key = post(porkbun, "/ping", apikey="pk1_wrong")
    bad_secret = post(porkbun, "/ping", secretapikey="sk1_wrong")
    ping = post(porkbun, "/ping")
    keys = {"X-API-Key": porkbun.apikey, "X-Secret-API-Key": porkbun.secretapikey}
    balance = httpx.get(f"{porkbun.url}/account/balance", headers=keys)
    assert none.status_code == bad_key.status_code == bad_secret.status_code == 400
    assert none.json()["status"] == "ERROR" and none.json()["code"] == "API_KEY_REQUIRED"
    assert bad_key.json()["message"] == "Invalid API key. (001)"
    assert bad_secret.json()["message"] == "Invalid API key. (002)"
    assert ping.json() == {"status": "SUCCESS", "yourIp": "127.0.0.1", "credentialsValid": True}
    assert ping.headers["X-API-Version"] == "3.44" and ping.headers["X-Request-Id"]
    assert balance.json() == {"status": "SUCCESS", "balance": 100_000}
    logged = repr(porkbun.log)
    assert porkbun.secretapikey not in logged and porkbun.apikey not in logged
    assert [(c.path, c.status, c.outcome) for c in porkbun.log][:2] == [
        ("/ping", 400, "API_KEY_REQUIRED"),
        ("/ping", 400, "INVALID_API_KEYS_001"),
    ]


def test_pricing_needs_no_key_and_shows_strings_and_promos(porkbun: FakePorkbun) -> None:
    porkbun.prices["xyz"] = TldPrice(103_998, 103_998, 103_998)
    every = httpx.post(f"{porkbun.url}/pricing/get").json()
    some = httpx.get(f"{porkbun.url}/pricing/get", params={"tlds": "com,io"}).json()
    check = post(porkbun, "/domain/checkDomain/mosshatch-zz.io").json()["response"]
    assert every["status"] == "SUCCESS" and every["pricing"]["com"]["registration"] == "11.08"
    assert every["pricing"]["xyz"]["renewal"] == "1,039.98"
    assert set(some["pricing"]) == {"com", "io"}
    # the public list shows the .io first-year sale; the quote (and so the bill) does not honour it
    assert some["pricing"]["io"]["registration"] == "28.12" and check["price"] == "51.80"


def test_check_available_taken_premium(porkbun: FakePorkbun) -> None:
    porkbun.taken.add("google.com")
    porkbun.premium["cash.com"] = 250_000
    free = post(porkbun, "/domain/checkDomain/coldmail-7.com").json()
    taken = post(porkbun, "/domain/checkDomain/google.com").json()["response"]
    premium = post(porkbun, "/domain/checkDomain/cash.com").json()["response"]
    two_years = post(porkbun, "/domain/checkDomain/coldmail-7.ai").json()["response"]
    promo = post(porkbun, "/domain/checkDomain/coldmail-7.dev").json()["response"]
    bad = post(porkbun, "/domain/checkDomain/not_a_domain")
    response = free["response"]
    assert (response["avail"], response["price"], response["premium"], response["minDuration"]) == (
        "yes",
        "11.08",
        "no",
        1,
    )
    assert response["additional"]["renewal"]["price"] == "11.08"
    assert free["limits"] == {
        "TTL": "10",
        "limit": "10",
        "used": 1,
        "naturalLanguage": "1 out of 10 checks within 10 seconds used.",
    }
    assert taken["avail"] == "no"
    assert (premium["avail"], premium["premium"], premium["price"]) == ("yes", "yes", "2,500.00")
    assert (two_years["price"], two_years["minDuration"]) == ("82.70", 2)
    assert (promo["firstYearPromo"], promo["price"], promo["regularPrice"]) == ("yes", "8.75", "12.87")
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid domain."


def test_check_limit_is_ten_per_ten_seconds(porkbun: FakePorkbun) -> None:
    answers = [post(porkbun, f"/domain/checkDomain/name{i}.com") for i in range(11)]
    porkbun.clock.advance(10)
    later = post(porkbun, "/domain/checkDomain/name11.com")
    assert all(a.json()["status"] == "SUCCESS" for a in answers[:10])
    over = answers[10]
    assert over.status_code == 400 and over.json()["status"] == "ERROR"
    assert over.json()["message"] == "10 out of 10 checks within 10 seconds used."
    assert later.json()["limits"]["used"] == 1


def test_register_charges_the_balance_once(porkbun: FakePorkbun) -> None:
    first = buy(porkbun, "coldmail-7.com", 1108)
    again = buy(porkbun, "coldmail-7.com", 1108)
    listed = post(porkbun, "/domain/listAll", start="0").json()["domains"]
    got = httpx.get(
        f"{porkbun.url}/domain/get/coldmail-7.com",
        headers={"X-API-Key": porkbun.apikey, "X-Secret-API-Key": porkbun.secretapikey},
    ).json()["domain"]
    body = first.json()
    assert first.status_code == 200 and body["status"] == "SUCCESS"
    assert (body["domain"], body["cost"], body["balance"]) == ("coldmail-7.com", 1108, 100_000 - 1108)
    assert body["limits"] == {"attempts": {"limit": 1, "used": 1}, "success": {"limit": 1000, "used": 1}}
    assert again.status_code == 400 and again.json()["code"] == "DOMAIN_NOT_AVAILABLE"
    assert porkbun.balance == 100_000 - 1108 and len(porkbun.charges) == 1
    assert [d["domain"] for d in listed] == ["coldmail-7.com"] and "labels" not in listed[0]
    assert (got["status"], got["apiAccess"], got["whoisPrivacy"]) == ("ACTIVE", 1, 1)
    assert got["createDate"] == "2026-12-05 12:00:01" and got["expireDate"].startswith("2027-12-05")


@pytest.mark.parametrize(
    ("domain", "cost", "code", "message"),
    [
        ("coldmail-7.com", 1000, "COST_MISMATCH", "Expected: 1108 cents ($11.08)"),
        ("coldmail-7.com", "1108", "COST_MISMATCH", "Expected: 1108 cents ($11.08)"),
        ("coldmail-7.ai", 8270, "COST_MISMATCH", "minimum allowed duration (2 years). Expected: 16540 cents ($165.40)"),
        ("coldmail-7.ai", 16540, "ORDER_TOO_LARGE", "Registrations over $100 are not currently supported via API."),
    ],
    ids=["wrong-cost", "cost-as-string", "ai-one-year", "ai-over-the-cap"],
)
def test_cost_must_match_the_quote_and_stay_under_the_cap(
    porkbun: FakePorkbun, domain: str, cost: int, code: str, message: str
) -> None:
    refused = buy(porkbun, domain, cost)
    assert refused.status_code == 400 and refused.json()["code"] == code
    assert refused.json()["message"] == message
    assert porkbun.balance == 100_000 and not porkbun.charges and not porkbun.domains


def test_registration_requirements_website_only_tlds_and_fraud_block(porkbun: FakePorkbun) -> None:
    keys = {"X-API-Key": porkbun.apikey, "X-Secret-API-Key": porkbun.secretapikey}
    ai = httpx.get(f"{porkbun.url}/domain/getRegistrationRequirements/ai", headers=keys).json()
    us = httpx.get(f"{porkbun.url}/domain/getRegistrationRequirements/us", headers=keys).json()
    website = buy(porkbun, "coldmail-7.us", 1000)
    porkbun.fraud_block.add("io")
    mismatch = buy(porkbun, "coldmail-7.io", 2812)
    fraud = buy(porkbun, "coldmail-7.io", 5180)
    assert (ai["apiRegisterable"], ai["registrationDurationYears"]) == (True, 2)
    assert us["apiRegisterable"] is False and website.json()["code"] == "TLD_NOT_API_REGISTERABLE"
    # COST_MISMATCH is checked before FRAUD_BLOCK, as in the sandbox
    assert mismatch.json()["code"] == "COST_MISMATCH" and fraud.json()["code"] == "FRAUD_BLOCK"
    assert not porkbun.charges


def test_insufficient_balance_is_refused_and_nothing_charged(porkbun: FakePorkbun) -> None:
    porkbun.balance = 1000
    refused = buy(porkbun, "coldmail-7.com", 1108)
    assert refused.status_code == 400 and refused.json()["code"] == "INSUFFICIENT_FUNDS"
    assert porkbun.balance == 1000 and not porkbun.charges and "coldmail-7.com" not in porkbun.domains


def test_premium_terms_blocked_orders_and_dry_run(porkbun: FakePorkbun) -> None:
    porkbun.premium["cash.com"] = 5000
    premium = buy(porkbun, "cash.com", 5000)
    porkbun.premium_by_api = True
    premium_allowed = buy(porkbun, "cash.com", 5000, whoisPrivacy=False)
    no_terms = post(porkbun, "/domain/create/coldmail-7.com", cost=1108)
    dry = post(porkbun, "/domain/create/coldmail-7.com", cost=0, agreeToTerms="yes", dryRun=True).json()
    porkbun.orders_blocked = True
    blocked = buy(porkbun, "coldmail-8.com", 1108)
    assert premium.json()["code"] == "DOMAIN_NOT_AVAILABLE" and premium.status_code == 400
    assert premium_allowed.json()["cost"] == 5000 and porkbun.domains["cash.com"]["whoisPrivacy"] == 0
    assert no_terms.status_code == 400 and no_terms.json()["status"] == "ERROR"
    assert dry == {
        "status": "SUCCESS",
        "dryRun": True,
        "wouldSucceed": True,
        "domain": "coldmail-7.com",
        "cost": 1108,
        "balance": 95_000,
    }
    assert blocked.status_code == 403 and blocked.json()["code"] == "ORDERS_BLOCKED"
    assert [c.domain for c in porkbun.charges] == ["cash.com"]


def test_opt_in_off_is_refused_per_domain(porkbun: FakePorkbun) -> None:
    porkbun.add_domain("moved-in.com", api_access=False)
    get_ns = post(porkbun, "/domain/getNs/moved-in.com")
    update = post(porkbun, "/domain/updateNs/moved-in.com", ns=["a.ns.example.net", "b.ns.example.net"])
    renew = post(porkbun, "/domain/updateAutoRenew/moved-in.com", status="off")
    listed = post(porkbun, "/domain/listAll").json()["domains"]
    porkbun.opt_in_all = True
    allowed = post(porkbun, "/domain/getNs/moved-in.com")
    assert get_ns.status_code == update.status_code == 400
    assert get_ns.json()["message"] == update.json()["message"] == "Domain is not opted in to API access."
    assert renew.status_code == 200 and renew.json()["results"]["moved-in.com"]["status"] == "ERROR"
    assert porkbun.domains["moved-in.com"]["autoRenew"] == 1 and porkbun.nameservers["moved-in.com"] == PORKBUN_NS
    assert listed[0]["apiAccess"] == 0
    assert allowed.json() == {"status": "SUCCESS", "ns": PORKBUN_NS}


def test_bought_without_opt_in_cannot_be_delegated(porkbun: FakePorkbun) -> None:
    porkbun.new_domains_opted_in = False
    assert buy(porkbun, "coldmail-7.com", 1108).status_code == 200
    update = post(porkbun, "/domain/updateNs/coldmail-7.com", ns=["a.ns.example.net", "b.ns.example.net"])
    assert update.json()["message"] == "Domain is not opted in to API access."


def test_nameservers_set_and_read_back(porkbun: FakePorkbun) -> None:
    buy(porkbun, "coldmail-7.com", 1108)
    before = post(porkbun, "/domain/getNs/coldmail-7.com").json()["ns"]
    dry = post(porkbun, "/domain/updateNs/coldmail-7.com", ns=["x.example.net", "y.example.net"], dryRun=True)
    still = post(porkbun, "/domain/getNs/coldmail-7.com").json()["ns"]
    done = post(porkbun, "/domain/updateNs/coldmail-7.com", ns=["A.NS.example.net.", "b.ns.example.net"])
    after = post(porkbun, "/domain/getNs/coldmail-7.com").json()["ns"]
    one = post(porkbun, "/domain/updateNs/coldmail-7.com", ns=["a.ns.example.net"])
    many = post(porkbun, "/domain/updateNs/coldmail-7.com", ns=[f"ns{i}.example.net" for i in range(14)])
    foreign = post(porkbun, "/domain/getNs/someone-else.com")
    porkbun.add_domain("coldmail-7.de")
    dotted = post(porkbun, "/domain/getNs/coldmail-7.de").json()["ns"]
    broken = httpx.post(f"{porkbun.url}/ping", content=b"{not json", headers={"Content-Type": "application/json"})
    assert before == still == PORKBUN_NS and dry.json() == {"status": "SUCCESS"}
    assert done.json() == {"status": "SUCCESS"} and after == ["a.ns.example.net", "b.ns.example.net"]
    assert one.status_code == many.status_code == 400
    assert foreign.status_code == 404 and foreign.json()["code"] == "DOMAIN_NOT_FOUND"
    assert dotted == [f"{name}." for name in PORKBUN_NS]
    assert broken.status_code == 400 and broken.json()["status"] == "ERROR"


def test_list_all_pages_by_a_thousand(porkbun: FakePorkbun) -> None:
    for i in range(1001):
        porkbun.add_domain(f"d{i:04}.com")
    first = post(porkbun, "/domain/listAll", start="0", includeLabels="yes").json()["domains"]
    second = post(porkbun, "/domain/listAll", start=1000).json()["domains"]
    assert len(first) == 1000 and first[0]["labels"] == []
    assert [d["domain"] for d in second] == ["d1000.com"]


def test_create_attempts_limit_as_seen_in_the_sandbox_or_as_documented(porkbun: FakePorkbun) -> None:
    first = buy(porkbun, "coldmail-7.com", 1108)
    second = post(porkbun, "/domain/create/coldmail-8.com", cost=1108, agreeToTerms="yes")
    porkbun.attempt_limit_as = "documented"
    third = post(porkbun, "/domain/create/coldmail-9.com", cost=1108, agreeToTerms="yes")
    assert first.status_code == 200
    assert second.status_code == 400 and second.json()["code"] == "1_OUT_OF_1_CREATE_ATTEMPTS_WITHIN_1_SECONDS_USED"
    assert third.status_code == 429 and third.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert len(porkbun.charges) == 1


def test_lost_answer_leaves_one_registration_and_one_charge(porkbun: FakePorkbun) -> None:
    porkbun.faults.lose_next_creates = 1
    with pytest.raises(httpx.RemoteProtocolError):
        buy(porkbun, "coldmail-7.com", 1108)
    check = post(porkbun, "/domain/checkDomain/coldmail-7.com").json()["response"]
    retry = buy(porkbun, "coldmail-7.com", 1108)
    assert check["avail"] == "no" and retry.json()["code"] == "DOMAIN_NOT_AVAILABLE"
    assert list(porkbun.domains) == ["coldmail-7.com"] and len(porkbun.charges) == 1
    assert porkbun.balance == 100_000 - 1108
    lost = porkbun.calls("/domain/create")[0]
    assert (lost.status, lost.lost, lost.outcome) == (0, True, "SUCCESS")


def test_paused_order_is_stored_and_charged_before_any_answer(porkbun: FakePorkbun) -> None:
    porkbun.pause_orders = True
    failures: list[Exception] = []

    def purchase() -> None:
        try:
            buy(porkbun, "coldmail-7.com", 1108)
        except httpx.HTTPError as exc:
            failures.append(exc)

    client = threading.Thread(target=purchase)
    client.start()
    assert porkbun.order_stored.wait(timeout=10)
    in_flight = client.is_alive() and len(porkbun.charges) == 1 and "coldmail-7.com" in porkbun.domains
    porkbun.resume.set()
    client.join(timeout=10)
    assert in_flight and [type(f) for f in failures] == [httpx.RemoteProtocolError]
    assert porkbun.calls("/domain/create")[0].lost


def test_idempotency_key_replays_a_lost_answer_and_refuses_a_new_body(porkbun: FakePorkbun) -> None:
    porkbun.faults.lose_next_creates = 1
    key = {"Idempotency-Key": "order-coldmail-7"}
    with pytest.raises(httpx.RemoteProtocolError):
        buy(porkbun, "coldmail-7.com", 1108, key)
    replay = buy(porkbun, "coldmail-7.com", 1108, key)
    other = buy(porkbun, "coldmail-7.com", 1108, key, whoisPrivacy=False)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["orderId"] == porkbun.charges[0].order_id and len(porkbun.charges) == 1
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    porkbun.clock.advance(86_400)
    expired = buy(porkbun, "coldmail-7.com", 1108, key)
    assert expired.json()["code"] == "DOMAIN_NOT_AVAILABLE" and len(porkbun.charges) == 1


def test_sandbox_rebuy_knob_charges_again(porkbun: FakePorkbun) -> None:
    porkbun.sandbox_rebuy = True
    buy(porkbun, "coldmail-7.com", 1108)
    buy(porkbun, "coldmail-7.com", 1108)
    assert len(porkbun.charged("coldmail-7.com")) == 2 and porkbun.balance == 100_000 - 2 * 1108


def test_seeded_5xx_and_unknown_routes(porkbun: FakePorkbun) -> None:
    porkbun.faults.next_statuses = [503]
    busy = post(porkbun, "/ping")
    fine = post(porkbun, "/ping")
    missing = post(porkbun, "/domain/transferOut/coldmail-7.com")
    porkbun.faults.error_rate = 0.5
    porkbun.faults.reseed(7)
    first = [post(porkbun, "/ping").status_code for _ in range(8)]
    porkbun.faults.reseed(7)
    second = [post(porkbun, "/ping").status_code for _ in range(8)]
    assert busy.status_code == 503 and busy.headers["content-type"] == "text/html"
    assert fine.status_code == 200 and missing.status_code == 404
    assert first == second and {500, 200} == set(first)
