"""The server page's reading of stored checks: one row per blocklist (listed, policy, unknown, clean, not
checked) with the list's reason and delisting link, and forward-confirmed reverse DNS in words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from email_infrastructure.monitoring.dnsbl import ListingResult, listing_result
from email_infrastructure.services.overview import CheckView
from email_infrastructure.services.server_detail import fcrdns, listings, with_hints, worst

IP = "192.0.2.25"
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def stored(check: str, status: str, findings: list[dict[str, Any]], summary: str = "") -> CheckView:
    """A check state as the overview service reads it back."""
    return CheckView(IP, check, status, summary or status, NOW, NOW, findings, [status])


def dnsbl(*items: ListingResult) -> CheckView:
    """What monitoring stores for `items` (the very writer: monitoring.dnsbl.listing_result)."""
    result = listing_result(IP, list(items)).to_json()
    return stored("dnsbl", result["status"], result["findings"])


def test_each_list_is_one_row_with_its_reason_and_delisting_link() -> None:
    check = dnsbl(
        ListingResult(
            IP,
            "zen.spamhaus.org",
            "listed",
            ["127.0.0.3"],
            "SBL CSS",
            reason="see https://x",
            delisting="https://check.spamhaus.org/",
        ),
        ListingResult(IP, "policy.test", "listed", ["127.0.0.10"], "end-user range", policy=True),
        ListingResult(IP, "dead.test", "unknown", broken=True),
        ListingResult(IP, "slow.test", "unknown", meaning="timed out"),
    )
    rows = {r.zone: r for r in listings(IP, check, ["zen.spamhaus.org", "bl.spamcop.net"])}
    zen = rows["zen.spamhaus.org"]
    assert (zen.status, zen.meaning, zen.codes, zen.reason) == ("listed", "SBL CSS", "127.0.0.3", "see https://x")
    assert zen.delisting == "https://check.spamhaus.org/" and zen.severity == "error"
    assert rows["policy.test"].status == "policy" and rows["policy.test"].severity == "warning"
    assert rows["dead.test"].status == "unknown" and "self-test" in rows["dead.test"].meaning
    assert (rows["slow.test"].status, rows["slow.test"].meaning) == ("unknown", "timed out")
    assert rows["bl.spamcop.net"].status == "clean"  # checked, named by no finding
    assert listings(IP, check, ["bl.spamcop.net"])[0].status == "listed"  # listings first


def test_a_delisting_that_is_no_web_address_is_not_kept() -> None:
    check = dnsbl(ListingResult(IP, "evil.test", "listed", ["127.0.0.2"], "x", delisting="javascript:alert(1)"))
    assert listings(IP, check, [])[0].delisting == ""


def test_a_known_list_without_a_stored_delisting_gets_its_own_page() -> None:
    check = dnsbl(ListingResult(IP, "bl.spamcop.net", "listed", ["127.0.0.2"], "listed"))
    assert listings(IP, check, [])[0].delisting == "https://www.spamcop.net/bl.shtml"


def test_errors_and_warnings_carry_their_fix() -> None:
    found = with_hints(
        [
            {"id": "ptr.missing", "severity": "error", "message": "no PTR"},
            {"id": "ptr.unknown", "severity": "info", "message": "no answer"},
        ]
    )
    assert [f["id"] for f in found] == ["ptr.missing"]
    assert found[0]["hint"]


def test_lists_before_any_check_or_with_a_silent_resolver() -> None:
    assert [r.status for r in listings(IP, None, ["a.test", "b.test"])] == ["not checked", "not checked"]
    silent = stored(
        "dnsbl",
        "unknown",
        [{"id": "dnsbl.resolver_silent", "severity": "info", "message": "not determined: no answer"}],
    )
    row = listings(IP, silent, ["a.test"])[0]
    assert (row.status, row.meaning) == ("unknown", "not determined: no answer")


def test_fcrdns_in_words() -> None:
    def ptr(fid: str, severity: str, status: str) -> CheckView:
        return stored("ptr", status, [{"id": fid, "severity": severity, "message": fid}])

    assert fcrdns(None) == ("not checked", "none")
    assert fcrdns(stored("ptr", "ok", [])) == ("confirmed", "ok")
    assert fcrdns(ptr("ptr.missing", "error", "error"))[1] == "error"
    assert fcrdns(ptr("ptr.mismatch", "error", "error"))[0] == "the PTR does not resolve back to the address"
    assert fcrdns(ptr("ptr.wrong_host", "warning", "warning"))[1] == "warning"
    assert fcrdns(ptr("ptr.unknown", "info", "unknown"))[1] == "unknown"


def test_worst() -> None:
    assert worst([]) == "none"
    assert worst(["ok", "warning", "none"]) == "warning"
    assert worst(["unknown", "error", "ok"]) == "error"
