"""Mailbox logins: each mailbox with a confirmed password logs into SMTP (STARTTLS and implicit TLS)
and IMAP (implicit TLS) on its server, as a sending platform would (delivery/logins.py).

The result keeps the server's answer, never the password.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.delivery.logins import CheckOptions, Login, LoginStatus, mailbox_logins, worst
from email_infrastructure.services.app import App
from email_infrastructure.services.export import StoredMailbox, mail_domains, stored_mailboxes

__all__ = ["CheckOptions", "Login", "LoginStatus", "MailboxCheck", "MailboxResult", "check_mailboxes", "worst"]

#: logins run in threads (smtplib and imaplib block); a fleet's server is not hit by more at once
CONCURRENCY = 8


@dataclass
class MailboxResult:
    """A mailbox's logins on its server."""

    address: str
    host: str
    logins: list[Login] = field(default_factory=list)

    @property
    def status(self) -> LoginStatus:
        """The worst of its logins."""
        return worst([login.status for login in self.logins])

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "address": self.address,
            "host": self.host,
            "status": self.status.value,
            "logins": [login.to_json() for login in self.logins],
        }


@dataclass
class MailboxCheck:
    """Every mailbox checked, and those that could not be (with why)."""

    mailboxes: list[MailboxResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> LoginStatus:
        """The worst of every mailbox."""
        return worst([m.status for m in self.mailboxes])

    def to_json(self) -> dict[str, Any]:
        """`{"status", "mailboxes": [...], "skipped": {address: why}}`."""
        return {
            "status": self.status.value,
            "mailboxes": [m.to_json() for m in self.mailboxes],
            "skipped": dict(sorted(self.skipped.items())),
        }


async def check_mailboxes(
    app: App, *, only: list[str] | None = None, options: CheckOptions | None = None
) -> MailboxCheck:
    """Log every mailbox with a confirmed password into its server; reads the vault, writes nothing."""
    options = options or CheckOptions()
    _, domains = await mail_domains(app, only)
    result = MailboxCheck()
    work: list[tuple[str, StoredMailbox, str]] = []
    for domain in domains:
        assert domain.server is not None  # mail_domains keeps domains on a server only
        for box in await stored_mailboxes(app, domain):
            if box.password is None:
                result.skipped[box.address] = "its password is not confirmed in the vault (run apply)"
            else:
                work.append((domain.server.hostname, box, box.password))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(host: str, box: StoredMailbox, password: str) -> MailboxResult:
        async with gate:
            logins = await asyncio.to_thread(mailbox_logins, host, box.address, password, options)
        return MailboxResult(box.address, host, logins)

    result.mailboxes = list(await asyncio.gather(*(one(*w) for w in work)))
    return result
