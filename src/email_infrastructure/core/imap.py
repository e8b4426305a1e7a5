"""The one IMAPS client (stdlib imaplib): implicit TLS to a chosen address, verifying the host name.

Both the mailbox probes (delivery/) and the report mailbox (dmarc/) log in with it; components may
not import each other, so it lives here.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from pathlib import Path


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's CA store, or only `ca_file`'s certificates."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class ImapsClient(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS to `address` (when given, else `host`), verifying `host`'s certificate."""

    def __init__(self, host: str, port: int, address: str | None, timeout: float, context: ssl.SSLContext) -> None:
        self._address = address
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        # the TCP connection may go to a fixed address while TLS still checks the name the caller gave
        raw = socket.create_connection((self._address or self.host, self.port), timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(raw, server_hostname=self.host)
        return wrapped

    def close_quietly(self) -> None:
        """LOGOUT when the server still answers, else drop the socket."""
        try:
            self.logout()
        except (OSError, EOFError, imaplib.IMAP4.error):
            with contextlib.suppress(OSError):
                self.shutdown()
