"""Plain data of the reports: what the parsers yield and the storage layer writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class ReportRejected(Exception):
    """A report that must not be stored; `reason` says why in words for the ingest summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedXML(ReportRejected):
    """A document that is not well-formed XML; `document` holds it whole when it is small enough to repair."""

    def __init__(self, reason: str, document: bytes | None) -> None:
        super().__init__(reason)
        self.document = document


@dataclass(frozen=True, slots=True)
class ReportMetadata:
    """`report_metadata` of an aggregate report."""

    org_name: str
    email: str
    report_id: str
    begin: datetime
    end: datetime
    extra_contact_info: str = ""
    errors: tuple[str, ...] = ()
    generator: str = ""


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    """`policy_published`: the policy the receiver found (RFC 9990 adds np, testing, discovery_method)."""

    domain: str
    adkim: str = ""
    aspf: str = ""
    p: str = ""
    sp: str = ""
    pct: int | None = None
    fo: str = ""
    np: str = ""
    testing: str = ""
    discovery_method: str = ""


@dataclass(slots=True)  # not frozen: built for every record of a report, and frozen init is slow
class AuthResult:
    """One DKIM or SPF result of `auth_results` (selector for DKIM, scope for SPF)."""

    domain: str
    result: str
    selector: str = ""
    scope: str = ""
    human_result: str = ""


@dataclass(slots=True)
class Reason:
    """A policy override reason (`forwarded`, `mailing_list`, `policy_test_mode`…)."""

    type: str
    comment: str = ""


@dataclass(slots=True)
class Record:
    """One `record`: a source IP, a message count and how the receiver evaluated them."""

    source_ip: str = ""
    count: int = 0
    disposition: str = ""
    #: the DMARC-aligned results of `policy_evaluated` (pass | fail)
    dkim: str = ""
    spf: str = ""
    reasons: list[Reason] = field(default_factory=list)
    header_from: str = ""
    envelope_from: str = ""
    envelope_to: str = ""
    dkim_results: list[AuthResult] = field(default_factory=list)
    spf_results: list[AuthResult] = field(default_factory=list)

    @property
    def dkim_aligned(self) -> bool:
        """DKIM passed and aligned with the header From domain."""
        return self.dkim == "pass"

    @property
    def spf_aligned(self) -> bool:
        """SPF passed and aligned with the header From domain."""
        return self.spf == "pass"

    @property
    def dmarc_pass(self) -> bool:
        """DMARC passes when either identifier passed aligned."""
        return self.dkim_aligned or self.spf_aligned


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """Everything of an aggregate report that precedes its records."""

    #: "draft" (no version), "rfc7489" (version 1.0) or "rfc9990"
    schema: str
    namespace: str
    version: str
    metadata: ReportMetadata
    policy: PolicyPublished
    #: what is odd about the report but did not stop it being stored (e.g. dates before DMARC existed)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FailureReport:
    """A failure (forensic) report: RFC 6591 ARF with `Feedback-Type: auth-failure`, or a plain-text one."""

    reported_domain: str
    arrival: datetime | None
    source_ip: str
    feedback_type: str
    auth_failure: str
    reporter: str
    original_mail_from: str = ""
    original_rcpt_to: str = ""
    authentication_results: str = ""
    dkim_domain: str = ""
    dkim_selector: str = ""
    #: one of RFC 6591's delivered | spam | policy | reject | other ("other" for any other value)
    delivery_result: str = ""
    #: the value as sent when it was none of those five
    delivery_result_reported: str = ""
    subject: str = ""
    message_id: str = ""
    #: the original message's headers (personal data: stored apart, shorter retention)
    original_headers: str = ""


@dataclass(frozen=True, slots=True)
class TlsFailure:
    """One `failure-details` entry of an SMTP TLS report."""

    result_type: str
    failed_session_count: int
    sending_mta_ip: str = ""
    receiving_mx_hostname: str = ""
    receiving_ip: str = ""
    additional_information: str = ""
    failure_reason_code: str = ""


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """One `policies` entry: the policy evaluated and its session counts."""

    policy_type: str
    policy_domain: str
    successful_sessions: int
    failed_sessions: int
    mx_hosts: tuple[str, ...] = ()
    policy_string: tuple[str, ...] = ()
    failures: tuple[TlsFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class TlsReport:
    """An SMTP TLS report (RFC 8460 §4)."""

    organization_name: str
    report_id: str
    begin: datetime
    end: datetime
    contact_info: str
    policies: tuple[TlsPolicy, ...]
