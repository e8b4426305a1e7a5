"""Mailbox logins: each mailbox with a confirmed password logs into SMTP (STARTTLS and implicit TLS)
and IMAP (implicit TLS) on its server, as a sending platform would.

The result keeps the server's answer, never the password: answers pass through the log redaction
(the vault registers every value it decrypts), and errors are built from the answer alone.
"""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from email_infrastructure.core.logging import redact_text
from email_infrastructure.services.app import App
from email_infrastructure.services.export import StoredMailbox, mail_domains, stored_mailboxes

#: logins run in threads (smtplib and imaplib block); a fleet's server is not hit by more at once
CONCURRENCY = 8


class LoginStatus(StrEnum):
    """One login's outcome: `unknown` when the server could not be asked (or answered 'try later')."""

    PASS = "pass"  # noqa: S105  # a status word, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


_RANK = {LoginStatus.PASS: 0, LoginStatus.UNKNOWN: 1, LoginStatus.FAIL: 2}


def worst(statuses: list[LoginStatus]) -> LoginStatus:
    """fail > unknown > pass (pass when there is nothing)."""
    return max(statuses, key=_RANK.__getitem__, default=LoginStatus.PASS)


@dataclass(frozen=True)
class CheckOptions:
    """Where to log in; the defaults are the ports the sending platforms use."""

    #: connect here instead of resolving the server's host name (TLS still verifies the host name)
    address: str | None = None
    submission_port: int = 587
    smtps_port: int = 465
    imaps_port: int = 993
    #: a CA file to trust instead of the system store
    ca_file: Path | None = None
    timeout: float = 15.0


@dataclass(frozen=True)
class Login:
    """One protocol's login: `smtp` (STARTTLS), `smtps` (implicit TLS) or `imaps`."""

    protocol: str
    port: int
    status: LoginStatus
    answer: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"protocol": self.protocol, "port": self.port, "status": self.status.value, "answer": self.answer}


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


class StartTlsSmtp(smtplib.SMTP):
    """SMTP whose socket goes to `address` while STARTTLS verifies the host name given to connect()."""

    def __init__(self, address: str | None, timeout: float) -> None:
        self._address = address
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # starttls() names the server by `_host`, which otherwise only the constructor sets
        self._host = host
        return socket.create_connection((self._address or host, port), timeout, self.source_address)


class _Smtps(smtplib.SMTP_SSL):
    """SMTP over implicit TLS to `address`, verifying the host name."""

    def __init__(self, address: str | None, timeout: float, context: ssl.SSLContext) -> None:
        self._address = address
        super().__init__(timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self._address or host, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=host)


class ImapsClient(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS to `address`, verifying the host name."""

    def __init__(self, host: str, port: int, address: str | None, timeout: float, context: ssl.SSLContext) -> None:
        self._address = address
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        raw = socket.create_connection((self._address or self.host, self.port), timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(raw, server_hostname=self.host)
        return wrapped


def smtp_reply(code: int, message: bytes | str) -> str:
    """The server's reply on one line, redacted."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return redact_text(f"{code} {' '.join(text.split())}")


def _unreachable(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")


def _smtp_login(host: str, port: int, implicit: bool, user: str, password: str, options: CheckOptions) -> Login:
    """AUTH on `port`: after STARTTLS (587) or inside implicit TLS (465)."""
    protocol = "smtps" if implicit else "smtp"
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    client: smtplib.SMTP = (
        _Smtps(options.address, options.timeout, context)
        if implicit
        else StartTlsSmtp(options.address, options.timeout)
    )
    try:
        try:
            client.connect(host, port)
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                return Login(protocol, port, LoginStatus.FAIL, _unreachable(exc))
            return Login(protocol, port, LoginStatus.UNKNOWN, _unreachable(exc))
        try:
            client.ehlo()
            if not implicit:
                if not client.has_extn("starttls"):
                    return Login(protocol, port, LoginStatus.FAIL, "STARTTLS is not offered")
                client.starttls(context=context)
                client.ehlo()
            code, message = client.login(user, password)
            return Login(protocol, port, LoginStatus.PASS, smtp_reply(code, message))
        except smtplib.SMTPAuthenticationError as exc:
            # 454 and other 4xx: a temporary failure says nothing about the password
            status = LoginStatus.UNKNOWN if 400 <= exc.smtp_code < 500 else LoginStatus.FAIL
            return Login(protocol, port, status, smtp_reply(exc.smtp_code, exc.smtp_error))
        except smtplib.SMTPNotSupportedError as exc:
            return Login(protocol, port, LoginStatus.FAIL, redact_text(str(exc)))
        except smtplib.SMTPResponseException as exc:
            status = LoginStatus.UNKNOWN if 400 <= exc.smtp_code < 500 else LoginStatus.FAIL
            return Login(protocol, port, status, smtp_reply(exc.smtp_code, exc.smtp_error))
        except ssl.SSLCertVerificationError as exc:
            return Login(protocol, port, LoginStatus.FAIL, _unreachable(exc))
        except (OSError, smtplib.SMTPException) as exc:
            return Login(protocol, port, LoginStatus.UNKNOWN, _unreachable(exc))
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _imap_login(host: str, user: str, password: str, options: CheckOptions) -> Login:
    """LOGIN on IMAPS (implicit TLS)."""
    port = options.imaps_port
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    try:
        client = ImapsClient(host, port, options.address, options.timeout, context)
    except ssl.SSLCertVerificationError as exc:
        return Login("imaps", port, LoginStatus.FAIL, _unreachable(exc))
    except (OSError, imaplib.IMAP4.error) as exc:
        return Login("imaps", port, LoginStatus.UNKNOWN, _unreachable(exc))
    try:
        kind, data = client.login(user, password)
        return Login("imaps", port, LoginStatus.PASS, _imap_answer(kind, data))
    except imaplib.IMAP4.error as exc:
        answer = _imap_answer("NO", list(exc.args))
        # RFC 5530: UNAVAILABLE is the server's "try later", not a verdict on the password
        status = LoginStatus.UNKNOWN if "[UNAVAILABLE]" in answer else LoginStatus.FAIL
        return Login("imaps", port, status, answer)
    except OSError as exc:
        return Login("imaps", port, LoginStatus.UNKNOWN, _unreachable(exc))
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            client.shutdown()


def _imap_answer(kind: str, data: list[Any]) -> str:
    parts = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data if d]
    return redact_text(" ".join([kind, *parts]))


def _logins(host: str, box: StoredMailbox, password: str, options: CheckOptions) -> list[Login]:
    return [
        _smtp_login(host, options.submission_port, False, box.address, password, options),
        _smtp_login(host, options.smtps_port, True, box.address, password, options),
        _imap_login(host, box.address, password, options),
    ]


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
            logins = await asyncio.to_thread(_logins, host, box, password, options)
        return MailboxResult(box.address, host, logins)

    result.mailboxes = list(await asyncio.gather(*(one(*w) for w in work)))
    return result
