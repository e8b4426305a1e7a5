"""The Instantly fake against ../shared/reference/sequencer-apis.md §1, driven with httpx."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.instantly import ORGANIZATION, FakeInstantly
from tests.sequencers.wire import INSTANTLY_ACCOUNT as ACCOUNT
from tests.sequencers.wire import client

CREDENTIALS = {"imap_username", "imap_password", "imap_host", "imap_port", "smtp_username", "smtp_password"}
CREDENTIALS |= {"smtp_host", "smtp_port"}


def _seed(fake: FakeInstantly, count: int) -> list[str]:
    return [fake.add_account(f"m{i:03}@a.example")["email"] for i in range(count)]


def test_missing_header_unpaid_and_missing_scope(instantly: FakeInstantly) -> None:
    missing = httpx.get(f"{instantly.url}/api/v2/accounts")
    instantly.scopes["reader"] = {"accounts:read"}
    instantly.tokens.add("reader")
    with client(instantly, "reader") as http:
        read = http.get("/api/v2/accounts")
        write = http.post("/api/v2/accounts", json=ACCOUNT)
        instantly.unpaid = True
        unpaid = http.get("/api/v2/accounts")
    assert missing.status_code == 401
    assert missing.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Missing Authorization header"}
    assert read.status_code == 200 and write.status_code == 403
    assert unpaid.status_code == 402
    assert unpaid.json() == {
        "statusCode": 402,
        "error": "Payment Required",
        "message": "Workspace does not have an active paid plan",
    }


def test_create_answers_200_with_an_account_and_no_credential(instantly: FakeInstantly) -> None:
    with client(instantly) as http:
        response = http.post("/api/v2/accounts", json={**ACCOUNT, "daily_limit": 30, "warmup": {"limit": 20}})
        raw = http.get("/api/v2/accounts/jon@a.example")
        escaped = http.get("/api/v2/accounts/jon%40a.example")
    assert response.status_code == 200
    account = response.json()
    assert account["email"] == "jon@a.example" and account["status"] == 1 and account["warmup_status"] == 0
    assert account["daily_limit"] == 30 and account["warmup"]["limit"] == 20
    assert {"timestamp_created", "timestamp_updated", "organization", "setup_pending", "is_managed_account"} <= set(
        account
    )
    for answer in (response, raw, escaped):
        assert not CREDENTIALS & set(answer.json()) and "secret" not in answer.text
    assert raw.json() == escaped.json() == account
    assert instantly.accounts["jon@a.example"]["_secret"]["smtp_password"] == "smtp-secret-1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**ACCOUNT, "imap_ssl": True}, "body must NOT have additional properties"),
        ({k: v for k, v in ACCOUNT.items() if k != "smtp_port"}, "body must have required property 'smtp_port'"),
        ({**ACCOUNT, "provider_code": 5}, "body/provider_code must be equal to one of the allowed values"),
        ({**ACCOUNT, "warmup": {"limit": 10, "speed": 2}}, "body/warmup must NOT have additional properties"),
    ],
)
def test_create_bodies_are_strict(instantly: FakeInstantly, body: dict[str, object], message: str) -> None:
    with client(instantly) as http:
        response = http.post("/api/v2/accounts", json=body)
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "error": "Bad Request", "message": message}
    assert instantly.accounts == {}


def test_a_second_create_is_refused_or_answered_with_the_existing_account(instantly: FakeInstantly) -> None:
    with client(instantly) as http:
        http.post("/api/v2/accounts", json=ACCOUNT)
        refused = http.post("/api/v2/accounts", json={**ACCOUNT, "first_name": "Other"})
        instantly.duplicate_status = None
        same = http.post("/api/v2/accounts", json={**ACCOUNT, "first_name": "Other"})
    assert refused.status_code == 400
    assert same.status_code == 200 and same.json()["first_name"] == "Jon"


def test_patch_takes_settings_only_and_delete_returns_the_account(instantly: FakeInstantly) -> None:
    with client(instantly) as http:
        http.post("/api/v2/accounts", json=ACCOUNT)
        patched = http.patch("/api/v2/accounts/jon@a.example", json={"daily_limit": 50, "warmup": {"limit": 30}})
        password = http.patch("/api/v2/accounts/jon@a.example", json={"smtp_password": "new"})
        deleted = http.delete("/api/v2/accounts/jon%40a.example")
        again = http.delete("/api/v2/accounts/jon@a.example")
        empty_json = http.request(
            "DELETE", "/api/v2/accounts/x@a.example", headers={"Content-Type": "application/json"}
        )
    assert patched.json()["daily_limit"] == 50 and patched.json()["warmup"] == {
        "limit": 30,
        "increment": "disabled",
        "reply_rate": 0.1,
    }
    assert patched.json()["timestamp_updated"] > patched.json()["timestamp_created"]
    assert password.status_code == 400
    assert deleted.status_code == 200 and deleted.json()["daily_limit"] == 50
    assert again.status_code == 404
    assert again.json() == {"statusCode": 404, "error": "Not Found", "message": "Resource not found"}
    assert empty_json.status_code == 400 and "Body cannot be empty" in empty_json.json()["message"]


def test_cursor_pagination_to_the_end(instantly: FakeInstantly) -> None:
    emails = _seed(instantly, 250)
    pages, cursor = [], None
    with client(instantly) as http:
        while True:
            params: dict[str, str | int] = {"limit": 100} | ({"starting_after": cursor} if cursor else {})
            body = http.get("/api/v2/accounts", params=params).json()
            pages.append([a["email"] for a in body["items"]])
            cursor = body.get("next_starting_after")
            if not cursor:
                break
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [e for p in pages for e in p] == emails
    first_cursor = f"{instantly.accounts[emails[99]]['timestamp_created']}&{emails[99]}"
    with client(instantly) as http:
        assert http.get("/api/v2/accounts", params={"limit": 100}).json()["next_starting_after"] == first_cursor


def test_cursor_on_last_page_and_legacy_cursor(instantly: FakeInstantly) -> None:
    emails = _seed(instantly, 200)
    instantly.cursor_on_last_page = True
    with client(instantly) as http:
        second = http.get(
            "/api/v2/accounts",
            params={"limit": 100, "starting_after": f"{_created(instantly, emails[99])}&{emails[99]}"},
        )
        third = http.get(
            "/api/v2/accounts", params={"limit": 100, "starting_after": second.json()["next_starting_after"]}
        )
        legacy = http.get("/api/v2/accounts", params={"limit": 10, "starting_after": _created(instantly, emails[189])})
    assert len(second.json()["items"]) == 100 and "next_starting_after" in second.json()
    assert third.json() == {"items": []}
    assert [a["email"] for a in legacy.json()["items"]] == emails[190:]


def test_cursor_breaks_timestamp_ties_by_email_so_its_ampersand_must_be_encoded(instantly: FakeInstantly) -> None:
    for name in ("c", "a", "b"):
        instantly.add_account(f"{name}@a.example", timestamp_created="2026-01-01T00:00:00.000Z")
    with client(instantly) as http:
        first = http.get("/api/v2/accounts", params={"limit": 2}).json()
        rest = http.get("/api/v2/accounts", params={"limit": 2, "starting_after": first["next_starting_after"]}).json()
        raw = http.get(f"/api/v2/accounts?limit=2&starting_after={first['next_starting_after']}")
    assert [a["email"] for a in first["items"]] == ["a@a.example", "b@a.example"]
    assert first["next_starting_after"] == "2026-01-01T00:00:00.000Z&b@a.example"
    assert [a["email"] for a in rest["items"]] == ["c@a.example"] and "next_starting_after" not in rest
    # unencoded, the `&` splits the cursor: what is left reads as a legacy date cursor and skips the tie
    assert raw.status_code == 200 and raw.json()["items"] == []


def _created(fake: FakeInstantly, email: str) -> str:
    return str(fake.accounts[email]["timestamp_created"])


@pytest.mark.parametrize("limit", [0, 101, "x"])
def test_limit_outside_1_to_100_is_400(instantly: FakeInstantly, limit: object) -> None:
    with client(instantly) as http:
        response = http.get("/api/v2/accounts", params={"limit": limit})
    assert response.status_code == 400 and response.json()["error"] == "Bad Request"


def test_filters_and_health_states(instantly: FakeInstantly) -> None:
    _seed(instantly, 3)
    instantly.fail_login.add("jon@a.example")
    with client(instantly) as http:
        created = http.post("/api/v2/accounts", json=ACCOUNT).json()
        instantly.set_status("m001@a.example", 2)
        broken = http.get("/api/v2/accounts", params={"status": -1}).json()["items"]
        searched = http.get("/api/v2/accounts", params={"search": "M00"}).json()["items"]
        fixed = http.post("/api/v2/accounts/jon@a.example/mark-fixed").json()
        paused = http.post("/api/v2/accounts/m000@a.example/pause").json()
        resumed = http.post("/api/v2/accounts/m000@a.example/resume").json()
        bulk = http.post(
            "/api/v2/accounts/pause", json={"emails": ["m002@a.example", "m002@a.example", "no@a.example"]}
        )
    assert created["status"] == -1 and created["status_message"]["responseCode"] == 535
    assert created["autofix_failed"] is True
    assert [a["email"] for a in broken] == ["jon@a.example"]
    assert len(searched) == 3
    assert fixed["status"] == 1 and fixed["status_message"] is None
    assert (paused["status"], resumed["status"]) == (2, 1)
    assert bulk.json() == {"paused_emails": ["m002@a.example"], "failed_emails": ["no@a.example"]}


def test_warmup_toggle_is_a_background_job(instantly: FakeInstantly) -> None:
    _seed(instantly, 2)
    instantly.job_polls = 2
    with client(instantly) as http:
        job = http.post("/api/v2/accounts/warmup/enable", json={"emails": ["m000@a.example"]}).json()
        before = instantly.accounts["m000@a.example"]["warmup_status"]
        polls = [http.get(f"/api/v2/background-jobs/{job['id']}").json() for _ in range(2)]
        everyone = http.post("/api/v2/accounts/warmup/disable", json={"include_all_emails": True}).json()
        neither = http.post("/api/v2/accounts/warmup/enable", json={})
    assert (job["status"], job["progress"], job["type"]) == ("pending", 0, "update-warmup-accounts")
    assert before == 0
    assert [(p["status"], p["progress"]) for p in polls] == [("pending", 0), ("success", 100)]
    assert instantly.accounts["m000@a.example"]["warmup_status"] == 1
    assert everyone["data"]["emails"] == ["m000@a.example", "m001@a.example"]
    assert neither.status_code == 400


def test_warmup_analytics_and_daily_sends(instantly: FakeInstantly) -> None:
    _seed(instantly, 2)
    instantly.set_warmup("m000@a.example", status=1, score=87, sent=15)
    instantly.set_sent_today("m001@a.example", 12)
    with client(instantly) as http:
        analytics = http.post("/api/v2/accounts/warmup-analytics", json={"emails": ["m000@a.example"]}).json()
        daily = http.get("/api/v2/accounts/analytics/daily", params={"emails": ["m001@a.example"]}).json()
        shown = http.get("/api/v2/accounts/m000@a.example").json()
    aggregate = analytics["aggregate_data"]["m000@a.example"]
    assert aggregate["health_score"] == 87 and aggregate["health_score_label"] == "87%" and aggregate["sent"] == 15
    assert daily[0]["email_account"] == "m001@a.example" and daily[0]["sent"] == 12
    assert shown["stat_warmup_score"] == 87 and shown["warmup_status"] == 1


def test_unknown_route_is_fastifys_404(instantly: FakeInstantly) -> None:
    with client(instantly) as http:
        response = http.get("/api/v2/mailboxes")
        me = http.get("/api/v2/workspaces/current")
    assert response.status_code == 404
    assert response.json() == {
        "message": "Route GET:/api/v2/mailboxes not found",
        "error": "Not Found",
        "statusCode": 404,
    }
    assert me.status_code == 200 and me.json()["id"] == ORGANIZATION
