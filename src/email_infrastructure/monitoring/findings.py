"""Findings and check results: stable dotted ids, severities, evidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad one finding is."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class CheckStatus(StrEnum):
    """The outcome of a check (or of a domain, the worst of its checks)."""

    OK = "ok"
    WARNING = "warning"
    UNKNOWN = "unknown"
    ERROR = "error"


_RANK = {CheckStatus.OK: 0, CheckStatus.WARNING: 1, CheckStatus.UNKNOWN: 2, CheckStatus.ERROR: 3}


def worst(statuses: Iterable[CheckStatus]) -> CheckStatus:
    """error > unknown > warning > ok."""
    return max(statuses, key=_RANK.__getitem__, default=CheckStatus.OK)


@dataclass(frozen=True)
class Finding:
    """One observation: `spf.too_many_lookups`, its severity, a sentence and the records seen."""

    id: str
    severity: Severity
    message: str
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity.value,
            "message": self.message,
        }
        if self.evidence:
            data["evidence"] = list(self.evidence)
        return data


@dataclass
class CheckResult:
    """What one check found about one subject."""

    check: str
    findings: list[Finding] = field(default_factory=list)
    unknown: bool = False

    def add(self, id: str, severity: Severity, message: str, evidence: Iterable[str] = ()) -> None:
        """Record a finding."""
        self.findings.append(Finding(id, severity, message, tuple(evidence)))

    def error(self, id: str, message: str, evidence: Iterable[str] = ()) -> None:
        """Record an error."""
        self.add(id, Severity.ERROR, message, evidence)

    def warn(self, id: str, message: str, evidence: Iterable[str] = ()) -> None:
        """Record a warning."""
        self.add(id, Severity.WARNING, message, evidence)

    def info(self, id: str, message: str, evidence: Iterable[str] = ()) -> None:
        """Record an informational finding."""
        self.add(id, Severity.INFO, message, evidence)

    def cannot_tell(self, id: str, message: str) -> None:
        """The DNS did not answer: the result is unknown, never 'missing'."""
        self.unknown = True
        self.add(id, Severity.INFO, message)

    @property
    def status(self) -> CheckStatus:
        """error if any error; else unknown if undetermined; else warning if any; else ok."""
        severities = {f.severity for f in self.findings}
        if Severity.ERROR in severities:
            return CheckStatus.ERROR
        if self.unknown:
            return CheckStatus.UNKNOWN
        if Severity.WARNING in severities:
            return CheckStatus.WARNING
        return CheckStatus.OK

    def ids(self) -> set[str]:
        """Ids of every finding."""
        return {f.id for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"status": self.status.value, "findings": [f.to_json() for f in self.findings]}
