"""SMTP clients (stdlib smtplib) that connect to a chosen address while TLS verifies the host name."""

from __future__ import annotations

import smtplib
import socket
import ssl

from email_infrastructure.core.logging import redact_text


class StartTlsSmtp(smtplib.SMTP):
    """SMTP whose socket goes to `address` while STARTTLS verifies the host name given to connect()."""

    def __init__(self, address: str | None, timeout: float) -> None:
        self._address = address
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # starttls() names the server by `_host`, which otherwise only the constructor sets
        self._host = host
        return socket.create_connection((self._address or host, port), timeout, self.source_address)


class Smtps(smtplib.SMTP_SSL):
    """SMTP over implicit TLS to `address`, verifying the host name."""

    def __init__(self, address: str | None, timeout: float, context: ssl.SSLContext) -> None:
        self._address = address
        super().__init__(timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self._address or host, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=host)


def smtp_reply(code: int, message: bytes | str) -> str:
    """The server's reply on one line, redacted."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return redact_text(f"{code} {' '.join(text.split())}")


def error_text(exc: BaseException) -> str:
    """An exception as one redacted line (its type and message)."""
    return redact_text(f"{type(exc).__name__}: {exc}")


def quit_quietly(client: smtplib.SMTP) -> None:
    """QUIT when the server still answers, else close the socket."""
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
