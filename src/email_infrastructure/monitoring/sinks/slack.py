"""Slack incoming webhooks."""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.events import Event
from email_infrastructure.core.http import RetryPolicy, VendorClient
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.monitoring.sinks.base import Sink, headline


class SlackSink(Sink):
    """POSTs `{"text": …}` to the webhook URL (a secret: env:NAME)."""

    type = "slack"

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        self._url = resolve_secret(str(settings["webhook_url"]))
        self._client = VendorClient("", retry=RetryPolicy(attempts=3, base_delay=0.5))
        self._client.provider = f"slack sink {name}"

    async def send(self, event: Event) -> None:
        """Post the headline and the findings."""
        icon = ":red_circle:" if event.topic.endswith(".failed") else ":large_green_circle:"
        await self._client.request("POST", self._url, json={"text": f"{icon} {headline(event)}"})

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
