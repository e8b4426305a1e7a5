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
