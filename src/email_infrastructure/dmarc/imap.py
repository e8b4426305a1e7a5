"""A report mailbox over IMAPS (core/imap.py's client): list by UID, fetch without marking, move when done.

The session is short-lived by design: a dropped connection is reopened and the folder listed
again; messages already moved are gone, and the caller remembers by UID what it has stored, so a
resume neither re-stores nor re-parses anything (dmarc-reports.md §6: parsedmarc#107).
"""

from __future__ import annotations

import imaplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from email_infrastructure.core.errors import ProviderAuthError, ProviderError, UserError
from email_infrastructure.core.imap import ImapsClient, tls_context

#: what a dropped or reset connection raises, from the socket up to imaplib
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, imaplib.IMAP4.abort, ssl.SSLError)


@dataclass(frozen=True)
class ImapLocation:
    """`imaps://user@host[:port]/FOLDER`."""

    host: str
    port: int
    user: str
    folder: str

    def __str__(self) -> str:
        return f"imaps://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(url: str) -> ImapLocation:
    """The parts of an IMAPS URL; UserError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme != "imaps":
        raise UserError(f"{url!r}: only imaps:// URLs are accepted (implicit TLS)")
    if parts.password:
        raise UserError("give the IMAP password with --password env:NAME, never in the URL")
    if not parts.hostname or not parts.username:
        raise UserError(f"{url!r}: write imaps://user@host[:port]/FOLDER")
    try:
        port = parts.port or 993
    except ValueError:
        raise UserError(f"{url!r}: the port must be a number from 1 to 65535") from None
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapLocation(parts.hostname, port, unquote(parts.username), folder)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ReportMailbox:
    """One folder of one mailbox; `connect()` again after a connection error."""

    def __init__(
        self,
        location: ImapLocation,
        password: str,
        *,
        ca_file: Path | None = None,
        address: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.location = location
        self._password = password
        self._context = tls_context(ca_file)
        self._address = address
        self._timeout = timeout
        self._client: ImapsClient | None = None
        self.uidvalidity = ""
        self._created: set[str] = set()

    def connect(self) -> None:
        """Log in and select the folder."""
        self.drop()
        where = str(self.location)
        try:
            client = ImapsClient(self.location.host, self.location.port, self._address, self._timeout, self._context)
        except ssl.SSLCertVerificationError as exc:
            raise ProviderError(f"TLS certificate refused: {exc.verify_message}", provider=where) from None
        try:
            client.login(self.location.user, self._password)
        except imaplib.IMAP4.abort:
            raise  # the connection dropped: the caller reconnects; not a refused login
        except imaplib.IMAP4.error:
            client.shutdown()
            raise ProviderAuthError("the IMAP server refused the login", provider=where) from None
        status, _ = client.select(_quote(self.location.folder))
        if status != "OK":
            client.logout()
            raise ProviderError(f"cannot open folder {self.location.folder!r}", provider=where)
        _, values = client.response("UIDVALIDITY")
        self.uidvalidity = values[0].decode() if values and isinstance(values[0], bytes) else ""
        self._client = client

    @property
    def client(self) -> ImapsClient:
        """The logged-in client."""
        if self._client is None:
            self.connect()
        assert self._client is not None
        return self._client

    def uids(self) -> list[int]:
        """Every message in the folder, by UID, oldest first."""
        status, data = self.client.uid("SEARCH", "ALL")
        if status != "OK":
            raise ProviderError("UID SEARCH failed", provider=str(self.location))
        return sorted(int(u) for u in (data[0] or b"").split())

    def fetch(self, uid: int) -> bytes | None:
        """The whole message, without setting \\Seen (None when it is gone)."""
        status, data = self.client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        if status != "OK":
            raise ProviderError(f"UID FETCH {uid} failed", provider=str(self.location))
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return bytes(item[1])
        return None

    def move(self, uid: int, folder: str) -> None:
        """Move one message to `folder` (created when missing): UID MOVE, else COPY + delete + expunge."""
        client = self.client
        if folder not in self._created:
            client.create(_quote(folder))  # "already exists" is fine
            self._created.add(folder)
        capabilities = {c.upper() for c in client.capabilities}
        if "MOVE" in capabilities:
            status, _ = client.uid("MOVE", str(uid), _quote(folder))
        else:
            status, _ = client.uid("COPY", str(uid), _quote(folder))
            if status == "OK":
                client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
                client.expunge()
        if status != "OK":
            raise ProviderError(f"cannot move UID {uid} to {folder!r}", provider=str(self.location))

    def drop(self) -> None:
        """Forget the connection (logging out politely when it still answers)."""
        client, self._client = self._client, None
        if client is None:
            return
        client.close_quietly()
