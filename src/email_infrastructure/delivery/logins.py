"""Mailbox logins as a sending platform makes them: SMTP AUTH after STARTTLS (587), inside implicit
TLS (465), and IMAP LOGIN over implicit TLS (993).

A login keeps the server's answer, never the password: answers pass through the log redaction
(the vault registers every value it decrypts), and errors are built from the answer alone.
"""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from email_infrastructure.core.imap import ImapsClient, tls_context
from email_infrastructure.core.logging import redact_text
from email_infrastructure.delivery.smtp import Smtps, StartTlsSmtp, error_text, quit_quietly, smtp_reply


class LoginStatus(StrEnum):
    """One login's outcome: `unknown` when the server could not be asked (or answered 'try later')."""

    PASS = "pass"  # noqa: S105  # a status word, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


_RANK = {LoginStatus.PASS: 0, LoginStatus.UNKNOWN: 1, LoginStatus.FAIL: 2}


def worst(statuses: list[LoginStatus]) -> LoginStatus:
    """fail > unknown > pass (pass when there is nothing)."""
    return max(statuses, key=_RANK.__getitem__, default=LoginStatus.PASS)


def reply_status(code: int) -> LoginStatus:
    """A 4xx is "try later" (unknown): it says nothing about the mailbox or the message; else fail."""
    return LoginStatus.UNKNOWN if 400 <= code < 500 else LoginStatus.FAIL


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


def smtp_login(host: str, port: int, implicit: bool, user: str, password: str, options: CheckOptions) -> Login:
    """AUTH on `port`: after STARTTLS (587) or inside implicit TLS (465)."""
    protocol = "smtps" if implicit else "smtp"
    context = tls_context(options.ca_file)
    client: smtplib.SMTP = (
        Smtps(options.address, options.timeout, context) if implicit else StartTlsSmtp(options.address, options.timeout)
    )
    try:
        try:
            client.connect(host, port)
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                return Login(protocol, port, LoginStatus.FAIL, error_text(exc))
            return Login(protocol, port, LoginStatus.UNKNOWN, error_text(exc))
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
            return Login(protocol, port, reply_status(exc.smtp_code), smtp_reply(exc.smtp_code, exc.smtp_error))
        except smtplib.SMTPNotSupportedError as exc:
            return Login(protocol, port, LoginStatus.FAIL, redact_text(str(exc)))
        except smtplib.SMTPResponseException as exc:
            return Login(protocol, port, reply_status(exc.smtp_code), smtp_reply(exc.smtp_code, exc.smtp_error))
        except ssl.SSLCertVerificationError as exc:
            return Login(protocol, port, LoginStatus.FAIL, error_text(exc))
        except (OSError, smtplib.SMTPException) as exc:
            return Login(protocol, port, LoginStatus.UNKNOWN, error_text(exc))
    finally:
        quit_quietly(client)


def imap_login(host: str, user: str, password: str, options: CheckOptions) -> Login:
    """LOGIN on IMAPS (implicit TLS)."""
    port = options.imaps_port
    try:
        client = ImapsClient(host, port, options.address, options.timeout, tls_context(options.ca_file))
    except ssl.SSLCertVerificationError as exc:
        return Login("imaps", port, LoginStatus.FAIL, error_text(exc))
    except (OSError, imaplib.IMAP4.error) as exc:
        return Login("imaps", port, LoginStatus.UNKNOWN, error_text(exc))
    try:
        kind, data = client.login(user, password)
        return Login("imaps", port, LoginStatus.PASS, _imap_answer(kind, data))
    except imaplib.IMAP4.error as exc:
        answer = _imap_answer("NO", list(exc.args))
        # RFC 5530: UNAVAILABLE is the server's "try later", not a verdict on the password
        status = LoginStatus.UNKNOWN if "[UNAVAILABLE]" in answer else LoginStatus.FAIL
        return Login("imaps", port, status, answer)
    except OSError as exc:
        return Login("imaps", port, LoginStatus.UNKNOWN, error_text(exc))
    finally:
        client.close_quietly()


def _imap_answer(kind: str, data: list[Any]) -> str:
    parts = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data if d]
    return redact_text(" ".join([kind, *parts]))


def mailbox_logins(host: str, user: str, password: str, options: CheckOptions) -> list[Login]:
    """The three logins of one mailbox on its server, one after the other (they block)."""
    return [
        smtp_login(host, options.submission_port, False, user, password, options),
        smtp_login(host, options.smtps_port, True, user, password, options),
        imap_login(host, user, password, options),
    ]
