"""What the four sequencer fakes share, driven with httpx as ../shared/reference/sequencer-apis.md documents.

Auth refusals in each vendor's body, the call log (no secrets), the documented rate limits with
their headers, seeded random faults and the lost answer of a create that succeeded. Vendor
specifics are in test_fakes_<vendor>.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.emailbison import FakeEmailBison
from tests.fakes.instantly import FakeInstantly
from tests.fakes.reachinbox import FakeReachInbox
from tests.fakes.smartlead import FakeSmartlead
from tests.sequencers.wire import EMAILBISON_ACCOUNT, INSTANTLY_ACCOUNT, SMARTLEAD_ACCOUNT, client

Fake = FakeInstantly | FakeSmartlead | FakeEmailBison | FakeReachInbox

LIST = {FakeInstantly: "/api/v2/accounts", FakeSmartlead: "/email-accounts/", FakeEmailBison: "/api/sender-emails"}
LIST[FakeReachInbox] = "/account/all"


def create(fake: Fake, http: httpx.Client) -> httpx.Response:
    """One documented create call."""
    if isinstance(fake, FakeInstantly):
        return http.post("/api/v2/accounts", json=INSTANTLY_ACCOUNT)
    if isinstance(fake, FakeSmartlead):
        return http.post("/email-accounts/save", json=SMARTLEAD_ACCOUNT)
    assert isinstance(fake, FakeEmailBison)
    return http.post("/api/sender-emails/imap-smtp", json=EMAILBISON_ACCOUNT)


def stored(fake: Fake) -> list[str]:
    """Emails the fake holds."""
    if isinstance(fake, FakeInstantly):
        return list(fake.accounts)
    if isinstance(fake, FakeSmartlead):
        return [a["from_email"] for a in fake.accounts.values()]
    return [a["email"] for a in fake.accounts.values()]


@pytest.fixture(params=["instantly", "smartlead", "emailbison", "reachinbox"])
def any_fake(request: pytest.FixtureRequest) -> Fake:
    fake: Fake = request.getfixturevalue(request.param)
    return fake


@pytest.fixture(params=["instantly", "smartlead", "emailbison"])
def creator(request: pytest.FixtureRequest) -> Fake:
    fake: Fake = request.getfixturevalue(request.param)
    return fake


UNAUTHORIZED: dict[type, Any] = {
    FakeInstantly: {"statusCode": 401, "error": "Unauthorized", "message": "Invalid API key"},
    FakeSmartlead: {"message": "Invalid API Key"},
    FakeEmailBison: {"message": "Unauthenticated."},
    FakeReachInbox: {"status": 401, "message": "Unauthorized"},
}


def test_a_bad_key_is_refused_in_the_vendors_body(any_fake: Fake) -> None:
    with client(any_fake, "wrong-key") as http:
        response = http.get(LIST[type(any_fake)])
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED[type(any_fake)]
    assert any_fake.log[-1].status == 401


def test_the_key_where_another_vendor_puts_it_is_refused(smartlead: FakeSmartlead, instantly: FakeInstantly) -> None:
    header_only = httpx.get(f"{smartlead.url}/email-accounts/", headers={"Authorization": f"Bearer {smartlead.token}"})
    query_only = httpx.get(f"{instantly.url}/api/v2/accounts", params={"api_key": instantly.token})
    assert header_only.status_code == 401
    assert query_only.status_code == 401
    assert query_only.json()["message"] == "Missing Authorization header"


def test_the_call_log_counts_per_mailbox_and_holds_no_secret(creator: Fake) -> None:
    with client(creator) as http:
        assert create(creator, http).status_code in (200, 201)
        http.get(LIST[type(creator)])
    assert [(c.method, c.status) for c in creator.log] == [
        ("POST", 201 if isinstance(creator, FakeEmailBison) else 200),
        ("GET", 200),
    ]
    text = repr(creator.log)
    assert "secret" not in text and creator.token not in text
    assert len(creator.calls("POST")) == 1


def test_a_create_whose_answer_is_dropped_was_stored(creator: Fake) -> None:
    creator.faults.lose_next_creates = 1
    with client(creator) as http, pytest.raises(httpx.RemoteProtocolError):
        create(creator, http)
    assert stored(creator) == ["jon@a.example"]
    assert creator.log[-1].lost and creator.log[-1].status == 0
    with client(creator) as http:
        again = create(creator, http)
    # a blind re-create: Instantly and EmailBison refuse it, Smartlead's save upserts onto the same account
    expected = {FakeInstantly: 400, FakeSmartlead: 200, FakeEmailBison: 422}[type(creator)]
    assert again.status_code == expected
    assert stored(creator) == ["jon@a.example"]


def test_a_create_whose_answer_is_a_500_was_stored(creator: Fake) -> None:
    creator.faults.lose_next_creates, creator.faults.lost_as = 1, "500"
    with client(creator) as http:
        response = create(creator, http)
    assert response.status_code == 500
    assert stored(creator) == ["jon@a.example"]
    assert not creator.log[-1].lost


def test_random_5xx_are_seeded_and_change_nothing(creator: Fake) -> None:
    creator.limits = ()
    creator.faults.reseed(7)
    creator.faults.error_rate = 0.5
    with client(creator) as http:
        first = [http.get(LIST[type(creator)]).status_code for _ in range(12)]
        creator.faults.reseed(7)
        second = [http.get(LIST[type(creator)]).status_code for _ in range(12)]
        creator.faults.error_rate, creator.faults.create_error_rate = 0.0, 1.0
        refused = create(creator, http)
    assert first == second and {200, 500} == set(first)
    assert refused.status_code == 500 and stored(creator) == []


def test_random_429_and_scripted_statuses(any_fake: Fake) -> None:
    any_fake.faults.throttle_rate = 1.0
    with client(any_fake) as http:
        throttled = http.get(LIST[type(any_fake)])
        any_fake.faults.throttle_rate = 0.0
        any_fake.faults.next_statuses = [503, 429]
        scripted = [http.get(LIST[type(any_fake)]).status_code for _ in range(3)]
    assert throttled.status_code == 429
    assert scripted == [503, 429, 200]


def test_instantly_limit_is_per_workspace_100_per_second(instantly: FakeInstantly) -> None:
    instantly.tokens.add("second-key")
    with client(instantly) as first, client(instantly, "second-key") as second:
        answers = [first.get("/api/v2/accounts").status_code for _ in range(60)]
        answers += [second.get("/api/v2/accounts").status_code for _ in range(40)]
        limited = second.get("/api/v2/accounts")
        instantly.clock.advance(1.0)
        after = first.get("/api/v2/accounts")
    assert set(answers) == {200}
    assert limited.status_code == 429
    assert limited.json() == {"statusCode": 429, "error": "Too Many Requests", "message": "Rate limit exceeded"}
    assert "retry-after" not in limited.headers
    assert after.status_code == 200


def test_instantly_minute_budget(instantly: FakeInstantly) -> None:
    instantly.limits = ((100, 1.0), (3, 60.0))
    instantly.retry_after_header = True
    with client(instantly) as http:
        answers = [http.get("/api/v2/accounts").status_code for _ in range(4)]
        retry = http.get("/api/v2/accounts").headers["retry-after"]
        instantly.clock.advance(60.0)
        answers.append(http.get("/api/v2/accounts").status_code)
    assert answers == [200, 200, 200, 429, 200]
    assert retry == "60"


def test_smartlead_limit_headers_and_429(smartlead: FakeSmartlead) -> None:
    with client(smartlead) as http:
        gets = [http.get("/email-accounts/") for _ in range(9)]
        post = http.post("/email-accounts/save", json=SMARTLEAD_ACCOUNT)
        limited = http.get("/email-accounts/")
        smartlead.clock.advance(2.0)
        after = http.get("/email-accounts/")
    assert [g.headers["x-ratelimit-remaining"] for g in gets[:3]] == ["9", "8", "7"]
    assert gets[0].headers["x-ratelimit-limit"] == "10"
    assert "x-ratelimit-limit" not in post.headers and post.status_code == 200
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json() == {
        "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded", "retry_after": 2}
    }
    assert after.status_code == 200


def test_smartlead_minute_window_behind_the_burst(smartlead: FakeSmartlead) -> None:
    with client(smartlead) as http:
        answers = []
        for _ in range(6):
            answers += [http.get("/email-accounts/").status_code for _ in range(10)]
            smartlead.clock.advance(2.0)
        sixty_first = http.get("/email-accounts/")
    assert set(answers) == {200} and len(answers) == 60
    assert sixty_first.status_code == 429 and int(sixty_first.headers["retry-after"]) == 48


@pytest.mark.parametrize("name", ["emailbison", "reachinbox"])
def test_unconfirmed_limits_are_off_until_set(name: str, request: pytest.FixtureRequest) -> None:
    fake: Fake = request.getfixturevalue(name)
    with client(fake) as http:
        free = {http.get(LIST[type(fake)]).status_code for _ in range(30)}
        fake.limits = ((2, 60.0),)
        capped = [http.get(LIST[type(fake)]) for _ in range(3)]
    assert free == {200}
    assert [r.status_code for r in capped] == [200, 200, 429]
    assert capped[-1].headers["retry-after"] == "60"
