"""A record's DNS answer read back from the drift check's findings, and its provider state."""

from __future__ import annotations

from typing import Any

from email_infrastructure.dns.records import Record
from email_infrastructure.services.record_sources import add_dns_answers, record_rows


def finding(kind: str, message: str, evidence: list[str] | None = None) -> dict[str, Any]:
    return {"id": kind, "severity": "error", "message": message, "evidence": evidence or []}


DESIRED = [
    Record.make("a.test", "A", ["192.0.2.1"], 300),
    Record.make("a.test", "AAAA", ["2001:db8::1"], 300),
    Record.make("a.test", "TXT", ["v=spf1 -all"], 300),
    Record.make("_dmarc.a.test", "TXT", ["v=DMARC1; p=none"], 300),
    Record.make("x.a.test", "A", ["192.0.2.9"], 300),
]


def test_each_record_gets_what_the_drift_check_saw() -> None:
    rows = record_rows(DESIRED, [], live_read=True)
    add_dns_answers(
        rows,
        [
            finding("drift.missing", "a.test AAAA is not published", ["2001:db8::1"]),
            finding("drift.changed", "_dmarc.a.test TXT differs", ["want: v=DMARC1; p=none", "live: x | y"]),
            finding("drift.extra_spf", "a.test TXT: a second SPF record", ["v=spf1 -all", "v=spf1 +all"]),
            finding("drift.unknown", "x.a.test A: the query did not answer"),
        ],
    )
    seen = {(r.name, r.type): (r.dns_state, r.dns) for r in rows}
    assert seen == {
        ("a.test", "A"): ("as desired", []),  # `a.test AAAA …` is not about `a.test A`
        ("a.test", "AAAA"): ("not published", []),
        ("a.test", "TXT"): ("different", ["v=spf1 -all", "v=spf1 +all"]),
        ("_dmarc.a.test", "TXT"): ("different", ["x", "y"]),
        ("x.a.test", "A"): ("no answer", []),
    }
    assert all(r.state == "in sync" for r in rows)


def test_without_a_drift_check_nothing_is_claimed() -> None:
    rows = record_rows(DESIRED, [], live_read=False)
    add_dns_answers(rows, None)
    assert {(r.state, r.dns_state) for r in rows} == {("not read", "not checked")}


def test_the_provider_column_follows_the_plans_changes() -> None:
    changes = [
        {"action": "create", "name": "a.test", "type": "A"},
        {"action": "update", "name": "a.test", "type": "TXT", "old": {"values": ["v=spf1 ~all"]}},
        {"action": "delete", "name": "old.a.test", "type": "CNAME", "old": {"values": ["gone.test"]}},
    ]
    rows = record_rows(DESIRED, changes, live_read=True)
    states = {(r.name, r.type): (r.state, r.live) for r in rows}
    assert states[("a.test", "A")] == ("missing", [])
    assert states[("a.test", "TXT")] == ("different", ["v=spf1 ~all"])
    assert states[("old.a.test", "CNAME")] == ("to delete", ["gone.test"])
    assert states[("a.test", "AAAA")] == ("in sync", ["2001:db8::1"])
