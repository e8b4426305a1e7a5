"""Topics the monitoring component publishes, with their payload types."""

from __future__ import annotations

from typing import TypedDict

from email_infrastructure.core.events import Topic


class CheckChangePayload(TypedDict):
    """A (subject, check) whose state changed."""

    subject: str
    check: str
    status: str
    previous: str | None
    summary: str


CHECK_FAILED: Topic[CheckChangePayload] = Topic("monitoring.check.failed", CheckChangePayload)
CHECK_RECOVERED: Topic[CheckChangePayload] = Topic("monitoring.check.recovered", CheckChangePayload)


class DmarcFailureRatePayload(TypedDict):
    """A domain whose DMARC pass rate (aggregate reports) crossed the threshold, either way."""

    subject: str
    check: str
    status: str
    previous: str | None
    summary: str
    pass_rate: float
    threshold: float
    messages: int
    window_days: int


#: edge-triggered: published when a domain starts failing (status "error") and when it recovers
DMARC_FAILURE_RATE: Topic[DmarcFailureRatePayload] = Topic("monitoring.dmarc.failure_rate", DmarcFailureRatePayload)
