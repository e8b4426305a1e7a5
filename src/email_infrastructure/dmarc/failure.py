"""Failure reports: RFC 6591 ARF (`Feedback-Type: auth-failure`), the format RFC 9991 keeps."""

from __future__ import annotations

import binascii
import quopri
import socket
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import parseaddr, parsedate_to_datetime

from email_infrastructure.dmarc.model import FailureReport, ReportRejected

CLOCK_SKEW = timedelta(days=1)
#: the original headers are personal data: keep what a diagnosis needs, not a whole message
MAX_HEADERS = 16 * 1024
#: RFC 6591 §3.1 `Delivery-Result` values; anything else is recorded as "other" (its own catch-all)
DELIVERY_RESULTS = frozenset({"delivered", "spam", "policy", "reject", "other"})
#: the feedback fields are a few dozen short lines; a larger encoded part is not a report
MAX_FIELDS = 64 * 1024


def _address(text: str) -> str:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except OSError:
            continue
    return ""


def _fields(part: Message) -> Message:
    """The `message/feedback-report` fields, whether the parser nested them as a message or as text.

    Some reporters (Netease/163.com) send the part base64-encoded, which RFC 2046 does not allow for
    message/* parts: the parser then sees no fields at all, so the transfer encoding is undone first.
    """
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
            body = inner.get_payload()
            raw = body if isinstance(body, str) and not inner.keys() else inner.as_string()
        else:
            raw = payload if isinstance(payload, str) else ""
        if len(raw) > MAX_FIELDS * 2:
            raise ReportRejected(f"the feedback-report part is larger than {MAX_FIELDS:,} bytes")
        try:
            if encoding == "base64":
                data = binascii.a2b_base64(raw.encode("ascii", "ignore"))
            else:
                data = quopri.decodestring(raw.encode("ascii", "ignore"))
        except (binascii.Error, ValueError):
            raise ReportRejected("the feedback-report part is not valid base64") from None
        return HeaderParser().parsestr(data.decode("utf-8", "replace"))
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = payload if isinstance(payload, str) else ""
    return HeaderParser().parsestr(text)


def _original(message: EmailMessage) -> Message | None:
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if ctype == "text/rfc822-headers":
            content = part.get_payload(decode=True)
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(part.get_payload())
            return HeaderParser().parsestr(text)
    return None


def parse_failure(message: EmailMessage, *, now: datetime | None = None) -> FailureReport:
    """The report in an ARF message; ReportRejected when it is not a usable DMARC failure report."""
    report = next((p for p in message.walk() if p.get_content_type() == "message/feedback-report"), None)
    if report is None:
        raise ReportRejected("no message/feedback-report part (not an RFC 6591 report)")
    fields = _fields(report)
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type != "auth-failure":
        raise ReportRejected(f"feedback report of type {feedback_type or 'none'!r} is not an authentication failure")
    original = _original(message)
    domain = str(fields.get("Reported-Domain", "")).strip().lower().rstrip(".")
    if not domain and original is not None:
        domain = parseaddr(str(original.get("From", "")))[1].rpartition("@")[2].lower()
    if not domain:
        raise ReportRejected("failure report without Reported-Domain (nor a From address in the original)")
    source_text = str(fields.get("Source-IP", "")).strip()
    source_ip = _address(source_text) if source_text else ""
    if source_text and not source_ip:
        raise ReportRejected(f"Source-IP {source_text[:60]!r} is not an IP address")
    arrival = None
    arrival_text = str(fields.get("Arrival-Date", "") or fields.get("Received-Date", "")).strip()
    if arrival_text:
        try:
            arrival = parsedate_to_datetime(arrival_text)
        except (TypeError, ValueError):
            raise ReportRejected(f"Arrival-Date {arrival_text[:60]!r} is not a date") from None
        if arrival.tzinfo is None:  # RFC 5322 "-0000": the zone is unknown, taken as UTC
            arrival = arrival.replace(tzinfo=UTC)
        arrival = arrival.astimezone(UTC)  # stored as UTC: SQLite keeps no offset
        if arrival > (now or datetime.now(UTC)) + CLOCK_SKEW:
            raise ReportRejected(f"Arrival-Date {arrival:%Y-%m-%d %H:%M} is in the future")
    reporter = str(fields.get("Reporting-MTA", "")).partition(";")[2].strip()
    if not reporter:
        reporter = parseaddr(str(message.get("From", "")))[1].rpartition("@")[2]
    delivery = str(fields.get("Delivery-Result", "")).strip().lower()
    reported_delivery = ""
    if delivery and delivery not in DELIVERY_RESULTS:
        reported_delivery, delivery = delivery[:64], "other"
    headers = ""
    if original is not None:
        headers = "".join(f"{k}: {v}\n" for k, v in original.items())[:MAX_HEADERS]
    return FailureReport(
        reported_domain=domain,
        arrival=arrival,
        source_ip=source_ip,
        feedback_type=feedback_type,
        auth_failure=str(fields.get("Auth-Failure", "")).strip().lower(),
        reporter=reporter.lower(),
        original_mail_from=str(fields.get("Original-Mail-From", "")).strip(),
        original_rcpt_to=str(fields.get("Original-Rcpt-To", "")).strip(),
        authentication_results=str(fields.get("Authentication-Results", "")).strip(),
        dkim_domain=str(fields.get("DKIM-Domain", "")).strip().lower(),
        dkim_selector=str(fields.get("DKIM-Selector", "")).strip(),
        delivery_result=delivery,
        delivery_result_reported=reported_delivery,
        subject=str(original.get("Subject", "")) if original is not None else "",
        message_id=str(original.get("Message-ID", "")).strip() if original is not None else "",
        original_headers=headers,
    )
