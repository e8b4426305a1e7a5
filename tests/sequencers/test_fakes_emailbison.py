"""The EmailBison fake against ../shared/reference/sequencer-apis.md §3, driven with httpx."""

from __future__ import annotations

import pytest

from tests.fakes.emailbison import FakeEmailBison
from tests.sequencers.wire import EMAILBISON_ACCOUNT as ACCOUNT
from tests.sequencers.wire import client

CREATE = "/api/sender-emails/imap-smtp"
DATES = {"start_date": "2026-11-01", "end_date": "2026-11-30"}


def test_create_answers_201_with_data_and_no_password(emailbison: FakeEmailBison) -> None:
    with client(emailbison) as http:
        response = http.post(CREATE, json={**ACCOUNT, "email_signature": "<p>Jon</p>", "smtp_secure": True})
        emailbison.create_status = 200
        spec = http.post(CREATE, json={**ACCOUNT, "email": "ann@a.example"})
    assert response.status_code == 201 and spec.status_code == 200
    data = response.json()["data"]
    assert isinstance(data["id"], int) and data["email"] == "jon@a.example"
    assert (data["status"], data["type"], data["warmup_enabled"]) == ("Connected", "Inbox", False)
    assert data["email_signature"] == "<p>Jon</p>" and data["created_at"].endswith(".000000Z")
    assert "password" not in data and "secret" not in response.text


def test_duplicate_email_is_422_nested_under_data(emailbison: FakeEmailBison) -> None:
    with client(emailbison) as http:
        http.post(CREATE, json=ACCOUNT)
        duplicate = http.post(CREATE, json={**ACCOUNT, "name": "Other"})
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "data": {
            "success": False,
            "message": "The email has already been taken.",
            "errors": {"email": ["The email has already been taken."]},
        }
    }
    assert "already been taken" in duplicate.json()["data"]["message"] and len(emailbison.accounts) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in ACCOUNT.items() if k != "password"}, "password"),
        ({**ACCOUNT, "smtp_server": "not a host"}, "smtp_server"),
        ({**ACCOUNT, "imap_port": "993x"}, "imap_port"),
    ],
)
def test_create_validation_is_422(emailbison: FakeEmailBison, body: dict[str, object], field: str) -> None:
    with client(emailbison) as http:
        response = http.post(CREATE, json=body)
    assert response.status_code == 422
    assert list(response.json()["data"]["errors"]) == [field]
    assert emailbison.accounts == {}


def test_create_right_after_other_traffic_fails_until_the_client_waits(emailbison: FakeEmailBison) -> None:
    emailbison.create_cooldown = 15.0
    with client(emailbison) as http:
        http.get("/api/sender-emails")
        early = http.post(CREATE, json=ACCOUNT)
        emailbison.clock.advance(15.0)
        later = http.post(CREATE, json=ACCOUNT)
    assert early.status_code == 500 and early.json() == {"message": "Server Error"}
    assert later.status_code == 201 and len(emailbison.accounts) == 1


def test_intermittent_create_500_is_seeded(emailbison: FakeEmailBison) -> None:
    emailbison.faults.create_error_rate = 0.5
    emailbison.faults.reseed(3)
    with client(emailbison) as http:
        statuses = [http.post(CREATE, json={**ACCOUNT, "email": f"m{i}@a.example"}).status_code for i in range(10)]
    assert set(statuses) == {201, 500}
    assert len(emailbison.accounts) == statuses.count(201)


def test_laravel_pagination_to_the_last_page(emailbison: FakeEmailBison) -> None:
    emails = [emailbison.add_account(f"m{i:03}@a.example")["email"] for i in range(40)]
    seen, page = [], 1
    with client(emailbison) as http:
        while True:
            body = http.get("/api/sender-emails", params={"page": page}).json()
            seen += [a["email"] for a in body["data"]]
            if page >= body["meta"]["last_page"]:
                break
            page += 1
        wide = http.get("/api/sender-emails", params={"per_page": 200}).json()
        past = http.get("/api/sender-emails", params={"page": 9}).json()
    assert seen == emails and page == 3
    assert body["meta"] | {"path": ""} == {
        "current_page": 3,
        "from": 31,
        "last_page": 3,
        "path": "",
        "per_page": 15,
        "to": 40,
        "total": 40,
    }
    assert body["links"]["next"] is None and body["links"]["prev"].endswith("page=2")
    assert wide["meta"]["per_page"] == 100 and len(wide["data"]) == 40
    assert past["data"] == []


def test_tokens_see_only_their_workspace(emailbison: FakeEmailBison) -> None:
    emailbison.tokens |= {"other-ws", "admin"}
    emailbison.workspace_of.update({"other-ws": 2, "admin": 1})
    emailbison.super_admins.add("admin")
    with client(emailbison) as http:
        mine = http.post(CREATE, json=ACCOUNT).json()["data"]["id"]
    with client(emailbison, "other-ws") as other, client(emailbison, "admin") as admin:
        listed = other.get("/api/sender-emails").json()["data"]
        hidden = other.get(f"/api/sender-emails/{mine}")
        workspaces = admin.get("/api/workspaces/v1.1").json()["data"]
        own = other.get("/api/workspaces/v1.1").json()["data"]
        created_there = other.post(CREATE, json=ACCOUNT)
    assert listed == [] and hidden.status_code == 404
    assert [w["id"] for w in workspaces] == [1, 2] and [w["id"] for w in own] == [2]
    # the reference only says `email` must be unique; the fake checks it across the whole instance
    assert created_there.status_code == 422


def test_get_patch_delete(emailbison: FakeEmailBison) -> None:
    account = emailbison.add_account("jon@a.example")
    emailbison.set_status(account["id"], "Disconnected")
    emailbison.set_sent(account["id"], 12)
    with client(emailbison) as http:
        shown = http.get(f"/api/sender-emails/{account['id']}").json()["data"]
        patched = http.patch(f"/api/sender-emails/{account['id']}", json={"daily_limit": 45, "password": "x"}).json()
        deleted = http.delete(f"/api/sender-emails/{account['id']}")
        gone = http.get(f"/api/sender-emails/{account['id']}")
    assert shown["status"] == "Disconnected" and shown["emails_sent_count"] == 12
    assert patched["data"]["daily_limit"] == 45 and "password" not in patched["data"]
    assert deleted.status_code == 200 and deleted.json()["data"]["success"] is True
    assert gone.status_code == 404 and gone.json()["data"]["success"] is False


def test_failed_login_is_created_disconnected(emailbison: FakeEmailBison) -> None:
    emailbison.fail_login.add("jon@a.example")
    with client(emailbison) as http:
        created = http.post(CREATE, json=ACCOUNT)
        listed = http.get("/api/sender-emails", params={"status": "Disconnected"}).json()["data"]
    assert created.status_code == 201 and created.json()["data"]["status"] == "Disconnected"
    assert [a["email"] for a in listed] == ["jon@a.example"]


def test_warmup_list_needs_both_dates_and_toggles_use_patch(emailbison: FakeEmailBison) -> None:
    a, b = emailbison.add_account("jon@a.example"), emailbison.add_account("ann@a.example")
    emailbison.set_warmup(b["id"], enabled=False, score=91, sent=70)
    with client(emailbison) as http:
        no_end = http.get("/api/warmup/sender-emails", params={"start_date": "2026-11-01"})
        enabled = http.patch("/api/warmup/sender-emails/enable", json={"sender_email_ids": [a["id"]]})
        as_post = http.post("/api/warmup/sender-emails/enable", json={"sender_email_ids": [a["id"]]})
        on = http.get("/api/warmup/sender-emails", params={**DATES, "warmup_status": "enabled"}).json()["data"]
        one = http.get(f"/api/warmup/sender-emails/{b['id']}", params=DATES).json()["data"]
        empty = http.patch("/api/warmup/sender-emails/disable", json={"sender_email_ids": []})
    assert no_end.status_code == 422 and list(no_end.json()["data"]["errors"]) == ["end_date"]
    assert enabled.status_code == 200 and a["warmup_enabled"] is True
    assert as_post.status_code == 404
    assert [r["id"] for r in on] == [a["id"]]
    assert (one["warmup_score"], one["warmup_emails_sent"], one["warmup_status"]) == (91, 70, "disabled")
    assert empty.status_code == 422
