"""Look up any domain or IP now: the audit `email-infra audit` runs, for one name typed into a box.

A domain gets every default check of an audit (DKIM with the given selector, else the common
ones; drift too when it is one of the workspace's domains); an IP gets PTR with forward
confirmation and the blocklists. Input is checked before any query is sent. Writes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.monitoring.audit import AuditReport
from email_infrastructure.services.app import App

#: a DKIM selector: DNS labels (letters, digits, `-`, `_`), dot separated
_SELECTOR = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")
MAX_QUERY = 253


@dataclass(frozen=True)
class Subject:
    """What was asked: `kind` is `domain` or `ip`; `name` normalised (punycode, lowercase)."""

    kind: str
    name: str
    selector: str | None = None


@dataclass
class Lookup:
    """One lookup's report and its findings flattened (each with its subject, check and fix)."""

    subject: Subject
    report: AuditReport
    findings: list[dict[str, Any]] = field(default_factory=list)


def parse(query: str, selector: str = "") -> Subject:
    """The domain or IP a visitor typed, or a UserError saying why it is neither (no query is sent)."""
    text = query.strip()
    if not text:
        raise UserError("type a domain name or an IP address")
    if len(text) > MAX_QUERY:
        raise UserError(f"at most {MAX_QUERY} characters: a domain name is never longer")
    chosen = selector.strip().lower() or None
    if chosen is not None and (len(chosen) > MAX_QUERY or not _SELECTOR.match(chosen)):
        raise UserError("a DKIM selector is one or more DNS labels: letters, digits, '-' and '_', dot separated")
    try:
        return Subject("ip", str(ipaddress.ip_address(text)))
    except ValueError:
        pass
    try:
        return Subject("domain", normalise_domain(text), chosen)
    except ValueError as exc:
        raise UserError(f"{text!r} is neither a domain name nor an IP address: {exc}") from None


#: the order findings are listed in: what needs fixing first
_SEVERITY = {"error": 0, "warning": 1, "info": 2}


def flatten(report: AuditReport) -> list[dict[str, Any]]:
    """Every finding of a report with its subject, check and fix: errors, then warnings, then the rest."""
    found = [
        {**finding.to_json(), "hint": finding.hint, "subject": subject.subject, "check": check}
        for subject in [*report.domains, *report.ips]
        for check, result in subject.checks.items()
        for finding in result.findings
    ]
    return sorted(found, key=lambda f: _SEVERITY.get(str(f["severity"]), 3))


async def lookup(app: App, subject: Subject) -> Lookup:
    """Audit one domain (with its sending IPs) or one IP, as `email-infra audit` does."""
    from email_infrastructure.services.audit import AuditRequest, audit_domains, audit_ip

    if subject.kind == "ip":
        report = await audit_ip(app, subject.name)
    else:
        selectors = [subject.selector] if subject.selector else []
        report = await audit_domains(app, AuditRequest(domains=[subject.name], selectors=selectors))
    return Lookup(subject, report, flatten(report))


__all__ = ["MAX_QUERY", "Lookup", "Subject", "flatten", "lookup", "parse"]
