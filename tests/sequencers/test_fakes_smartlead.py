"""The Smartlead fake against ../shared/reference/sequencer-apis.md §2, driven with httpx."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.smartlead import FakeSmartlead
from tests.sequencers.wire import SMARTLEAD_ACCOUNT as ACCOUNT
from tests.sequencers.wire import client


def test_save_answers_the_captured_shape_or_the_docs_shape(smartlead: FakeSmartlead) -> None:
    with client(smartlead) as http:
        fixture = http.post("/email-accounts/save", json=ACCOUNT)
        smartlead.save_shape = "docs"
        docs = http.post("/email-accounts/save", json={**ACCOUNT, "from_email": "ann@a.example"})
    account_id = smartlead.by_email("jon@a.example")["id"]
    assert fixture.status_code == 200
    assert fixture.json() == {
        "ok": True,
        "message": "Email account added/updated successfully!",
        "emailAccountId": account_id,
        "warmupKey": smartlead.accounts[account_id]["warmup_details"]["warmup_key_id"],
    }
    body = docs.json()
    assert body["ok"] is True and body["message"] == "Email account added successfully"
    assert body["data"]["id"] == smartlead.by_email("ann@a.example")["id"]
    assert body["data"]["is_smtp_success"] is True and body["data"]["warmup_details"]["status"] == "ACTIVE"


def test_reads_return_passwords_and_response_names(smartlead: FakeSmartlead) -> None:
    with client(smartlead) as http:
        account_id = http.post("/email-accounts/save", json=ACCOUNT).json()["emailAccountId"]
        one = http.get(f"/email-accounts/{account_id}/").json()
        no_slash = http.get(f"/email-accounts/{account_id}", params={"fetch_campaigns": "true"}).json()
        listed = http.get("/email-accounts/").json()
        smartlead.list_passwords = "plain"
        plain = http.get("/email-accounts/").json()
    assert one["password"] == one["imap_password"] == "smtp-secret-1"
    assert listed[0]["password"] == base64.b64encode(b"smtp-secret-1").decode()
    assert plain[0]["password"] == "smtp-secret-1"
    assert one["username"] == "jon@a.example" and one["message_per_day"] == 40
    assert (one["smtp_port_type"], one["imap_port_type"]) == ("SSL", "SSL")
    assert (
        one["warmup_details"]["warmup_reputation"] == 100 and listed[0]["warmup_details"]["warmup_reputation"] == "100%"
    )
    assert no_slash["campaign_ids"] == [] and "campaign_ids" not in one
    assert listed[0]["tags"] == [] and "user_name" not in one


def test_save_is_an_upsert_keyed_by_id(smartlead: FakeSmartlead) -> None:
    with client(smartlead) as http:
        account_id = http.post("/email-accounts/save", json=ACCOUNT).json()["emailAccountId"]
        updated = http.post("/email-accounts/save", json={**ACCOUNT, "id": account_id, "password": "rotated"})
        again = http.post("/email-accounts/save", json=ACCOUNT)
        unknown = http.post("/email-accounts/save", json={**ACCOUNT, "id": 999})
        smartlead.duplicate_without_id = "create"
        second = http.post("/email-accounts/save", json=ACCOUNT)
    assert updated.json()["emailAccountId"] == again.json()["emailAccountId"] == account_id
    assert unknown.status_code == 404
    assert unknown.json() == {
        "ok": False,
        "message": "Email account not found!",
        "errorCode": "ACCOUNT_NOT_FOUND",
        "emailAccountId": 999,
    }
    assert second.json()["emailAccountId"] != account_id and len(smartlead.accounts) == 2


def test_save_validation_and_unknown_keys(smartlead: FakeSmartlead) -> None:
    with client(smartlead) as http:
        missing = http.post("/email-accounts/save", json={k: v for k, v in ACCOUNT.items() if k != "warmup_enabled"})
        tolerated = http.post("/email-accounts/save", json={**ACCOUNT, "smtp_ssl": True})
        smartlead.reject_unknown_keys = True
        refused = http.post("/email-accounts/save", json={**ACCOUNT, "smtp_ssl": True})
    assert missing.status_code == 400
    assert missing.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": '"warmup_enabled" is required',
        "validation": {"source": "body", "keys": ["warmup_enabled"]},
    }
    assert tolerated.status_code == 200
    assert refused.status_code == 400 and refused.json()["message"] == '"smtp_ssl" is not allowed'


def test_bad_credentials_are_refused_or_stored_as_failing(smartlead: FakeSmartlead) -> None:
    smartlead.fail_login.add("jon@a.example")
    with client(smartlead) as http:
        refused = http.post("/email-accounts/save", json=ACCOUNT)
        stored_before = dict(smartlead.accounts)
        smartlead.login_failure = "store"
        http.post("/email-accounts/save", json=ACCOUNT)
        http.post("/email-accounts/save", json={**ACCOUNT, "from_email": "ann@a.example"})
        failing = http.get("/email-accounts/", params={"isSmtpSuccess": "false"}).json()
    assert refused.status_code == 400
    assert refused.json() == {"ok": False, "message": "SMTP connection failed", "error": "Invalid credentials"}
    assert stored_before == {}
    assert [a["from_email"] for a in failing] == ["jon@a.example"]
    assert failing[0]["is_imap_success"] is False and failing[0]["smtp_failure_error"] == "Invalid credentials"


def test_offset_pagination_to_the_end_and_limit_422(smartlead: FakeSmartlead) -> None:
    emails = [smartlead.add_account(f"m{i:03}@a.example")["from_email"] for i in range(150)]
    smartlead.limits = ()
    seen, offset = [], 0
    with client(smartlead) as http:
        while True:
            page = http.get("/email-accounts/", params={"offset": offset, "limit": 100}).json()
            seen += [a["from_email"] for a in page]
            if len(page) < 100:
                break
            offset += 100
        too_big = http.get("/email-accounts/", params={"limit": 101})
        default = http.get("/email-accounts/").json()
    assert seen == emails and offset == 100
    assert too_big.status_code == 422 and too_big.json() == {"error": "limit must be less than or equal to 100"}
    assert len(default) == 100


def test_list_filters(smartlead: FakeSmartlead) -> None:
    a = smartlead.add_account("jon@a.example", type="GMAIL")
    b = smartlead.add_account("ann@b.example")
    smartlead.set_warmup(b["id"], status="ACTIVE", reputation=95, sent=30)
    smartlead.set_health(a["id"], smtp=False)
    with client(smartlead) as http:
        gmail = http.get("/email-accounts/", params={"esp": "GMAIL"}).json()
        warm = http.get("/email-accounts/", params={"emailWarmupStatus": "ACTIVE"}).json()
        named = http.get("/email-accounts/", params={"username": "ANN@"}).json()
        healthy = http.get("/email-accounts/", params={"isSmtpSuccess": "true"}).json()
    assert [x["id"] for x in gmail] == [a["id"]]
    assert [x["id"] for x in warm] == [x["id"] for x in named] == [x["id"] for x in healthy] == [b["id"]]


def test_update_delete_and_not_found(smartlead: FakeSmartlead) -> None:
    account = smartlead.add_account("jon@a.example")
    with client(smartlead) as http:
        updated = http.post(
            f"/email-accounts/{account['id']}", json={"max_email_per_day": 25, "custom_tracking_url": "t.a.example"}
        )
        shown = http.get(f"/email-accounts/{account['id']}/").json()
        unknown = http.post("/email-accounts/77", json={"max_email_per_day": 25})
        deleted = http.delete(f"/email-accounts/{account['id']}")
        gone = http.get(f"/email-accounts/{account['id']}/")
        listed = http.get("/email-accounts/").json()
    assert updated.json() == {"ok": True, "message": "Email account updated successfully"}
    assert shown["message_per_day"] == 25 and shown["custom_tracking_domain"] == "t.a.example"
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "ACCOUNT_NOT_FOUND"
    assert deleted.json() == {
        "ok": True,
        "message": "Email account deleted successfully!",
        "emailAccountId": account["id"],
    }
    assert gone.status_code == 404 and listed == []
    assert smartlead.deleted[account["id"]]["warmup_details"]["status"] == "INACTIVE"


def test_suspend_and_unsuspend_use_the_success_envelope(smartlead: FakeSmartlead) -> None:
    account = smartlead.add_account("jon@a.example")
    with client(smartlead) as http:
        suspended = http.put(f"/email-accounts/suspend/{account['id']}")
        unsuspended = http.delete(f"/email-accounts/unsuspend/{account['id']}")
        unknown = http.put("/email-accounts/suspend/5")
    assert suspended.json() == {
        "success": True,
        "message": "Email account suspended successfully",
        "data": {"accountId": account["id"], "isSuspended": True},
    }
    assert unsuspended.json()["data"]["isSuspended"] is False
    assert unknown.status_code == 400 and unknown.json()["success"] is False


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"warmup_enabled": True, "total_warmup_per_day": 51}, 422),
        ({"warmup_enabled": True, "daily_rampup": 4}, 422),
        ({"warmup_enabled": True, "reply_rate_percentage": 19}, 422),
        ({"total_warmup_per_day": 20}, 422),
        ({"warmup_enabled": False, "total_warmup_per_day": 50, "reply_rate_percentage": 20}, 200),
    ],
)
def test_warmup_settings_ranges(smartlead: FakeSmartlead, body: dict[str, object], status: int) -> None:
    account = smartlead.add_account("jon@a.example")
    smartlead.set_warmup(account["id"])
    with client(smartlead) as http:
        response = http.post(f"/email-accounts/{account['id']}/warmup", json=body)
    assert response.status_code == status
    assert (account["warmup_details"]["status"] == "INACTIVE") is (status == 200)


def test_warmup_stats_cover_seven_days_and_unknown_routes_are_html(smartlead: FakeSmartlead) -> None:
    account = smartlead.add_account("jon@a.example")
    smartlead.set_warmup(account["id"], reputation=95, sent=140)
    with client(smartlead) as http:
        stats = http.get(f"/email-accounts/{account['id']}/warmup-stats").json()
        unknown = http.get("/email-accounts/reconnect")
    assert stats["total_sent"] == 140 and stats["reputation_score"] == 95 and len(stats["daily_stats"]) == 7
    assert sum(d["sent"] for d in stats["daily_stats"]) == 140
    assert unknown.status_code == 404 and "<pre>Cannot GET /api/v1/email-accounts/reconnect</pre>" in unknown.text


def test_reconnect_restores_accounts_whose_login_works(smartlead: FakeSmartlead) -> None:
    good, bad = smartlead.add_account("jon@a.example"), smartlead.add_account("ann@a.example")
    smartlead.fail_login.add("ann@a.example")
    for account in (good, bad):
        smartlead.set_health(account["id"], smtp=False, imap=False)
    with client(smartlead) as http:
        assert http.post("/email-accounts/reconnect-failed-email-accounts", json={}).json()["ok"] is True
    assert good["is_smtp_success"] is True and bad["is_smtp_success"] is False


def test_a_plan_without_api_access(smartlead: FakeSmartlead) -> None:
    smartlead.unpaid = True
    with client(smartlead) as http:
        response = http.get("/email-accounts/")
    assert response.status_code == 403 and response.json() == {"message": "Access denied"}
