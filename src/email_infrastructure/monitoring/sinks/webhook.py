"""A generic JSON webhook, signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

from email_infrastructure.core.events import Event
from email_infrastructure.core.http import RetryPolicy, VendorClient
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.core.logging import register_secret
from email_infrastructure.monitoring.sinks.base import Sink

SIGNATURE_HEADER = "X-Email-Infra-Signature"
TIMESTAMP_HEADER = "X-Email-Infra-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `<timestamp>.<body>` (the timestamp defeats replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSink(Sink):
    """POSTs the event as JSON with a signature header the receiver verifies."""

    type = "webhook"

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        self._secret = resolve_secret(str(settings["secret"])) if settings.get("secret") else None
        self._url = str(settings["url"])
        parts = urlsplit(self._url)
        if parts.path.strip("/") or parts.query:
            register_secret(self._url)  # a token in its path or query: never in a log line (retries name the URL)
        self._client = VendorClient("", retry=RetryPolicy(attempts=3, base_delay=0.5))
        self._client.provider = f"webhook sink {name}"

    async def send(self, event: Event) -> None:
        """Deliver the event."""
        body = json.dumps(
            {
                "id": event.id,
                "topic": event.topic,
                "occurred_at": event.occurred_at.isoformat(),
                "payload": dict(event.payload),
            },
            sort_keys=True,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        await self._client.request("POST", self._url, content=body, headers=headers)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
