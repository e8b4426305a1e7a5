"""Email over SMTP (STARTTLS when offered or required)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from email_infrastructure.core.errors import ProviderError
from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.monitoring.sinks.base import Sink, headline


class EmailSink(Sink):
    """Sends one message per event; settings: host, port, from, to, starttls, username, password."""

    type = "email"

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        self.host = str(settings.get("host", "localhost"))
        self.port = int(settings.get("port", 587))
        self.sender = str(settings["from"])
        recipients = settings["to"]
        self.recipients = [recipients] if isinstance(recipients, str) else [str(r) for r in recipients]
        self.starttls = str(settings.get("starttls", "auto"))
        self.username = str(settings["username"]) if settings.get("username") else None
        self._password = resolve_secret(str(settings["password"])) if settings.get("password") else None

    def _message(self, event: Event) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = f"[email-infra] {headline(event)}"
        lines = [
            headline(event),
            "",
            f"topic: {event.topic}",
            f"time: {event.occurred_at.isoformat()}",
        ]
        lines += [f"{k}: {v}" for k, v in event.payload.items() if k != "summary"]
        message.set_content("\n".join(lines))
        return message

    def _send_blocking(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=15) as smtp:
            smtp.ehlo()
            if self.starttls == "always" or (self.starttls == "auto" and smtp.has_extn("starttls")):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username and self._password:
                smtp.login(self.username, self._password)
            smtp.send_message(message)

    async def send(self, event: Event) -> None:
        """Send in a thread (smtplib is blocking); failures become ProviderError."""
        try:
            await asyncio.to_thread(self._send_blocking, self._message(event))
        except (OSError, smtplib.SMTPException) as exc:
            raise ProviderError(
                f"cannot send alert mail via {self.host}:{self.port}: {exc}",
                provider=f"email sink {self.name}",
            ) from None
