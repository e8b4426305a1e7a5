"""The alert Sink seam."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from email_infrastructure.core.events import Event


def headline(event: Event) -> str:
    """One line for humans: `FAILED spf on example.com: …`."""
    p = event.payload
    # `status` tells for topics that carry both directions (monitoring.dmarc.failure_rate)
    verb = "FAILED" if event.topic.endswith(".failed") or p.get("status") == "error" else "RECOVERED"
    return f"{verb} {p.get('check')} on {p.get('subject')}: {p.get('summary') or p.get('status')}"


class Sink(ABC):
    """Delivers alert events somewhere (Slack, a webhook, email).

    HTTP sinks post to their URL exactly as configured: as an absolute request URL, never as a
    client base URL (httpx joins a base URL and the path "" into `…/hook/`).
    """

    type: str

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.settings = settings

    @abstractmethod
    async def send(self, event: Event) -> None:
        """Deliver one event; raise a ProviderError when it cannot be delivered."""

    async def close(self) -> None:  # noqa: B027  # an optional hook: most sinks hold nothing
        """Release resources."""
