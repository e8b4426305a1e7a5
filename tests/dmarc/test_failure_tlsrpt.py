"""Failure (RFC 6591) and SMTP TLS (RFC 8460) reports: fields read, bad ones refused with a reason."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Any

import pytest

from email_infrastructure.dmarc.failure import parse_failure
from email_infrastructure.dmarc.model import ReportRejected
from email_infrastructure.dmarc.tlsrpt import MAX_JSON, parse_tlsrpt
from tests.dmarc.reports import failure_report, tlsrpt


def message(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_an_arf_report_is_read_field_by_field() -> None:
    report = parse_failure(message(failure_report(source_ip="2001:DB8::9", message_id="<abc@x>")))
    assert (report.reported_domain, report.source_ip, report.feedback_type) == (
        "acme-outreach.test", "2001:db8::9", "auth-failure",
    )  # fmt: skip
    assert (report.auth_failure, report.delivery_result, report.reporter) == ("dmarc", "reject", "mx.receiver.example")
    assert (report.dkim_domain, report.dkim_selector, report.message_id) == ("acme-outreach.test", "s1", "<abc@x>")
    assert report.subject == "Hello" and "From: Ann <ann@acme-outreach.test>" in report.original_headers
    assert report.arrival is not None and report.arrival < datetime.now(UTC)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ((b"Feedback-Type: auth-failure", b"Feedback-Type: abuse"), "'abuse' is not an authentication failure"),
        ((b"Source-IP: 203.0.113.9", b"Source-IP: nowhere"), "Source-IP 'nowhere' is not an IP address"),
        ((b"Content-Type: message/feedback-report", b"Content-Type: text/x-other"), "no message/feedback-report"),
    ],
)
def test_bad_arf_reports_are_refused(change: tuple[bytes, bytes], expected: str) -> None:
    raw = failure_report().replace(*change)
    with pytest.raises(ReportRejected, match=expected):
        parse_failure(message(raw))


def test_arf_dates_and_the_domain_fallback() -> None:
    future = format_datetime(datetime.now(UTC) + timedelta(days=3)).encode()
    raw = failure_report()
    start = raw.index(b"Arrival-Date: ") + len(b"Arrival-Date: ")
    end = raw.index(b"\r\n", start)
    with pytest.raises(ReportRejected, match="in the future"):
        parse_failure(message(raw[:start] + future + raw[end:]))
    with pytest.raises(ReportRejected, match="is not a date"):
        parse_failure(message(raw[:start] + b"someday" + raw[end:]))
    without = raw.replace(b"Reported-Domain: acme-outreach.test\r\n", b"")
    assert parse_failure(message(without)).reported_domain == "acme-outreach.test"  # from the original's From


def test_an_rfc8460_report_is_read() -> None:
    report = parse_tlsrpt(io.BytesIO(tlsrpt(failures=[("certificate-expired", 2), ("validation-failure", 1)])))
    (policy_,) = report.policies
    assert (report.organization_name, report.contact_info) == ("receiver.example", "tlsrpt@receiver.example")
    assert (policy_.policy_type, policy_.policy_domain, policy_.successful_sessions, policy_.failed_sessions) == (
        "sts", "acme-mail.test", 120, 3,
    )  # fmt: skip
    assert [(f.result_type, f.failed_session_count, f.sending_mta_ip) for f in policy_.failures] == [
        ("certificate-expired", 2, "198.51.100.7"), ("validation-failure", 1, "198.51.100.7"),
    ]  # fmt: skip
    assert policy_.mx_hosts == ("mail.acme-mail.test",) and "mode: enforce" in policy_.policy_string


def edited(edit: Any) -> bytes:
    document = json.loads(tlsrpt())
    edit(document)
    return json.dumps(document).encode()


def _set(path: list[Any], value: Any) -> Any:
    def apply(document: Any) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "no policies"),
        (edited(lambda d: d.pop("date-range")), "without date-range"),
        (edited(_set(["date-range", "start-datetime"], "yesterday")), "not an RFC 3339"),
        (edited(_set(["date-range", "start-datetime"], "2999-01-01T00:00:00Z")), "reversed"),
        (edited(_set(["date-range", "end-datetime"], "2999-01-01T00:00:00Z")), "future"),
        (edited(lambda d: d.pop("report-id")), "without organization-name or report-id"),
        (edited(_set(["policies"], {})), "not a list"),
        (edited(_set(["policies", 0, "policy", "policy-type"], "dane")), "policy-type 'dane'"),
        (edited(_set(["policies", 0, "policy", "policy-domain"], "")), "no policy-domain"),
        (edited(_set(["policies", 0, "summary", "total-successful-session-count"], "many")), "not a whole number"),
        (edited(_set(["policies", 0, "summary", "total-successful-session-count"], 10**12)), "absurd"),
        (edited(_set(["policies", 0, "failure-details"], [{"failed-session-count": 1}])), "no result-type"),
        (edited(_set(["policies", 0], "text")), "no policy object"),
        (b"{" + b" " * (MAX_JSON + 1) + b"}", "larger than"),
    ],
)
def test_bad_tls_reports_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(ReportRejected, match=expected):
        parse_tlsrpt(io.BytesIO(data))
