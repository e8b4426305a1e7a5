"""SMTP TLS reports (RFC 8460 §4): JSON, usually gzipped (the container layer unwraps it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from email_infrastructure.dmarc.containers import Readable
from email_infrastructure.dmarc.model import ReportRejected, TlsFailure, TlsPolicy, TlsReport

#: the columns' widths (the same limits as aggregate reports')
MAX_REPORT_ID = 255
MAX_ORG_NAME = 253
POLICY_TYPES = frozenset({"sts", "tlsa", "no-policy-found"})
CLOCK_SKEW = timedelta(days=1)
#: TLS reports are small: a JSON document is read whole, so it is capped well below XML's limit
MAX_JSON = 16 * 1024 * 1024


def _date(value: Any, key: str) -> datetime:
    if not isinstance(value, str):
        raise ReportRejected(f"date-range {key} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReportRejected(f"date-range {key} {value[:40]!r} is not an RFC 3339 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count(value: Any, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportRejected(f"{what} {value!r} is not a whole number")
    if value < 0:
        raise ReportRejected(f"{what} {value} is negative")
    if value > limit:
        raise ReportRejected(f"{what} {value} is absurd (more than {limit:,} sessions)")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_tlsrpt(stream: Readable, *, now: datetime | None = None, max_count: int = 10_000_000) -> TlsReport:
    """The report in a JSON document; ReportRejected when it is not a usable RFC 8460 report."""
    data = stream.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ReportRejected(f"TLS report larger than {MAX_JSON:,} bytes")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportRejected(f"malformed JSON: {exc}") from None
    if not isinstance(document, dict) or "policies" not in document:
        raise ReportRejected("not an SMTP TLS report: no policies")
    dates = document.get("date-range")
    if not isinstance(dates, dict):
        raise ReportRejected("TLS report without date-range")
    begin, end = _date(dates.get("start-datetime"), "start-datetime"), _date(dates.get("end-datetime"), "end-datetime")
    if end < begin:
        raise ReportRejected("date-range is reversed: it ends before it starts")
    if end > (now or datetime.now(UTC)) + CLOCK_SKEW:
        raise ReportRejected(f"date-range ends in the future ({end:%Y-%m-%d %H:%M} UTC)")
    organization, report_id = _text(document.get("organization-name")), _text(document.get("report-id"))
    if not organization or not report_id:
        raise ReportRejected("TLS report without organization-name or report-id")
    if len(report_id) > MAX_REPORT_ID:
        raise ReportRejected(f"report-id is {len(report_id):,} characters long (at most {MAX_REPORT_ID})")
    if len(organization) > MAX_ORG_NAME:
        raise ReportRejected(f"organization-name is {len(organization):,} characters long (at most {MAX_ORG_NAME})")
    policies = []
    raw_policies = document["policies"]
    if not isinstance(raw_policies, list):
        raise ReportRejected("policies is not a list")
    for number, entry in enumerate(raw_policies, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("policy"), dict):
            raise ReportRejected(f"policy {number} has no policy object")
        policy, summary = entry["policy"], entry.get("summary") or {}
        policy_type = _text(policy.get("policy-type")).lower()
        if policy_type not in POLICY_TYPES:
            raise ReportRejected(f"policy {number}: policy-type {policy_type!r} is not sts, tlsa or no-policy-found")
        domain = _text(policy.get("policy-domain")).lower().rstrip(".")
        if not domain:
            raise ReportRejected(f"policy {number} has no policy-domain")
        failures = []
        for detail in entry.get("failure-details") or []:
            if not isinstance(detail, dict) or not _text(detail.get("result-type")):
                raise ReportRejected(f"policy {number}: a failure-details entry has no result-type")
            failures.append(
                TlsFailure(
                    result_type=_text(detail.get("result-type")).lower(),
                    failed_session_count=_count(
                        detail.get("failed-session-count", 0), "failed-session-count", max_count
                    ),
                    sending_mta_ip=_text(detail.get("sending-mta-ip")),
                    receiving_mx_hostname=_text(detail.get("receiving-mx-hostname")).lower().rstrip("."),
                    receiving_ip=_text(detail.get("receiving-ip")),
                    additional_information=_text(detail.get("additional-information")),
                    failure_reason_code=_text(detail.get("failure-reason-code")),
                )
            )
        policies.append(
            TlsPolicy(
                policy_type=policy_type,
                policy_domain=domain,
                successful_sessions=_count(
                    summary.get("total-successful-session-count", 0), "total-successful-session-count", max_count
                ),
                failed_sessions=_count(
                    summary.get("total-failure-session-count", 0), "total-failure-session-count", max_count
                ),
                mx_hosts=tuple(str(h) for h in policy.get("mx-host") or [] if isinstance(h, str)),
                policy_string=tuple(str(s) for s in policy.get("policy-string") or [] if isinstance(s, str)),
                failures=tuple(failures),
            )
        )
    contact = document.get("contact-info")
    return TlsReport(
        organization_name=organization,
        report_id=report_id,
        begin=begin.astimezone(UTC),
        end=end.astimezone(UTC),
        contact_info=contact if isinstance(contact, str) else "",
        policies=tuple(policies),
    )
