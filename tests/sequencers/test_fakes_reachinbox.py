"""The ReachInbox fake against ../shared/reference/sequencer-apis.md §4, driven with httpx."""

from __future__ import annotations

import pytest

from tests.fakes.reachinbox import FakeReachInbox
from tests.sequencers.wire import client

LIST = "/account/all"


def test_list_envelope_totals_and_no_password(reachinbox: FakeReachInbox) -> None:
    a = reachinbox.add_account("jon@a.example")
    reachinbox.add_account("ann@a.example", isActive=False)
    reachinbox.set_health(a["id"], disconnected=True)
    with client(reachinbox) as http:
        body = http.get(LIST, params={"contains": "", "status": "all", "limit": 10, "offset": 0}).json()
    assert body["status"] == 200 and body["message"] == "Email accounts fetched successfully."
    data = body["data"]
    assert (data["totalEmailsConnected"], data["totalActiveEmails"], data["totalCount"]) == (2, 0, 2)
    first = data["emailsConnected"][0]
    assert isinstance(first["id"], int) and first["isDisconnected"] is True and first["statusMessage"] != "Success"
    assert not {k for k in first if "password" in k.lower()}


def test_offset_pagination_to_the_end(reachinbox: FakeReachInbox) -> None:
    emails = [reachinbox.add_account(f"m{i:03}@a.example")["email"] for i in range(150)]
    seen, offset = [], 0
    with client(reachinbox) as http:
        while True:
            data = http.get(LIST, params={"limit": 100, "offset": offset, "sortField": "id", "order": "ASC"}).json()[
                "data"
            ]
            seen += [a["email"] for a in data["emailsConnected"]]
            offset += 100
            if offset >= data["totalCount"]:
                break
        default = http.get(LIST).json()["data"]["emailsConnected"]
    assert seen == emails and offset == 200
    assert len(default) == 10


def test_filters_and_sorting(reachinbox: FakeReachInbox) -> None:
    low, high = reachinbox.add_account("jon@a.example"), reachinbox.add_account("ann@b.example")
    reachinbox.set_warmup(low["id"], score=40)
    reachinbox.set_warmup(high["id"], score=97, sent_week=120)
    reachinbox.set_sent_today(high["id"], 18)
    reachinbox.set_health(low["id"], disconnected=True)
    with client(reachinbox) as http:
        ranked = http.get(LIST, params={"sortField": "warmup_health_score", "order": "DESC"}).json()["data"]
        by_score = http.get(LIST, params={"sortField": "warmupHealthScore", "order": "ASC"}).json()["data"]
        found = http.get(LIST, params={"contains": "B.EXAMPLE"}).json()["data"]
        broken = http.get(LIST, params={"status": "disconnected"}).json()["data"]
    assert [a["id"] for a in ranked["emailsConnected"]] == [high["id"], low["id"]]
    assert [a["id"] for a in by_score["emailsConnected"]] == [low["id"], high["id"]]
    assert ranked["emailsConnected"][0]["mailsSentToday"] == 18
    assert [a["email"] for a in found["emailsConnected"]] == ["ann@b.example"] and found["totalCount"] == 1
    assert [a["id"] for a in broken["emailsConnected"]] == [low["id"]]


def test_warmup_enable_and_pause_by_ids(reachinbox: FakeReachInbox) -> None:
    a, b = reachinbox.add_account("jon@a.example"), reachinbox.add_account("ann@a.example")
    with client(reachinbox) as http:
        enabled = http.post("/account/warmup/enable", json={"ids": [a["id"], b["id"]]})
        paused = http.post("/account/warmup/pause", json={"ids": [b["id"]]})
        bad = http.post("/account/warmup/enable", json={"emails": ["jon@a.example"]})
    assert enabled.status_code == paused.status_code == 200
    assert (a["warmupEnabled"], b["warmupEnabled"]) == (True, False)
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/account"), ("POST", "/account/add"), ("POST", "/account/all"), ("DELETE", "/account/51234")],
)
def test_there_is_no_create_or_delete_route(reachinbox: FakeReachInbox, method: str, path: str) -> None:
    with client(reachinbox) as http:
        response = http.request(method, path, json={"email": "jon@a.example", "smtpPassword": "secret"})
    assert response.status_code == 404
    assert response.json()["status"] == 404 and "secret" not in response.text
    assert reachinbox.accounts == {}
