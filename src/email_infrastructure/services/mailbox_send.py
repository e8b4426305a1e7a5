"""Send a test message through a mailbox: SMTP submission (STARTTLS, then AUTH with the
mailbox's vault password), as a sending platform would.

Signing: a domain on a mail backend is signed by its server (Mailcow's own DKIM). A domain
without one has a locally generated key in the vault (reconcile/dkim_step.py), and nothing on the
way signs for it: send-test signs the message itself (dkimpy) before submitting it.
The result keeps the server's answer, never the password or the key.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.logging import redact_text
from email_infrastructure.core.secret_names import dkim_key, password_key
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.monitoring.resolver import Resolver, parse_nameserver
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.desired import desired_inventory
from email_infrastructure.services.mailbox_check import CheckOptions, ImapsClient, LoginStatus, StartTlsSmtp, smtp_reply
from email_infrastructure.services.message_auth import Verification, dkimpy, verify_message

#: the headers the signature covers (RFC 6376 §5.4.1: From is required; these are the ones a
#: relay is least likely to touch)
SIGNED_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"MIME-Version", b"Content-Type")


@dataclass(frozen=True)
class SendResult:
    """What the submission server said about one test message."""

    from_address: str
    to: str
    host: str
    port: int
    status: LoginStatus
    answer: str
    message_id: str
    #: the DKIM selector send-test signed with (None: left to the mail server)
    signed_with: str | None = None
    #: with `verify`: the receiving side's verdicts on the copy fetched from the recipient's mailbox
    verification: Verification | None = None
    #: with `verify`: how the copy was found (or why it was not)
    received: str = ""

    @property
    def outcome(self) -> LoginStatus:
        """The submission's status; once accepted, the verification's (unknown if it did not arrive)."""
        if self.status is not LoginStatus.PASS or not self.received:
            return self.status
        if self.verification is None:
            return LoginStatus.UNKNOWN
        return LoginStatus(self.verification.status.value)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "status": self.status.value,
            "from": self.from_address,
            "to": self.to,
            "host": self.host,
            "port": self.port,
            "answer": self.answer,
            "message_id": self.message_id,
            "dkim_signed_by": self.signed_with,
            **({"outcome": self.outcome.value, "received": self.received} if self.received else {}),
            **({"verification": self.verification.to_json()} if self.verification else {}),
        }


def _find(domains: list[ResolvedDomain], address: str) -> tuple[ResolvedDomain, str]:
    """The domain on a server with this mailbox, and the address as the desired state spells it."""
    wanted = address.strip().lower()
    for domain in domains:
        if domain.server is None:
            continue
        for person in personas(domain):
            if person.address(domain.name).lower() == wanted:
                return domain, person.address(domain.name)
    raise UserError(f"{address} is not a mailbox of a domain on a server in the desired state")


def build_message(from_address: str, to: str, domain: str, token: str) -> EmailMessage:
    """The test message: plain text, with the headers a receiver's DMARC check reads."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = f"email-infra send test {token}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=token, domain=domain)
    message.set_content(f"A test message sent by email-infra (send-test {token}).\n")
    return message


def sign(raw: bytes, domain: str, selector: str, private_key: str) -> bytes:
    """The message with a DKIM-Signature (rsa-sha256, relaxed/relaxed) prepended."""
    dkim = dkimpy()

    try:
        header = dkim.sign(
            raw,
            selector.encode(),
            domain.encode(),
            private_key.encode(),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
    except dkim.DKIMException as exc:
        # dkimpy's messages name what is wrong with the key, never its bytes
        raise UserError(f"DKIM signing for {domain} failed: {type(exc).__name__}") from None
    return bytes(header) + raw


def _submit(
    host: str, from_address: str, password: str, to: str, raw: bytes, options: CheckOptions
) -> tuple[LoginStatus, str]:
    """STARTTLS, AUTH, MAIL/RCPT/DATA on the submission port; (status, the server's answer)."""
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    client = StartTlsSmtp(options.address, options.timeout)
    try:
        try:
            client.connect(host, options.submission_port)
            client.ehlo()
            if not client.has_extn("starttls"):
                return LoginStatus.FAIL, "STARTTLS is not offered"
            client.starttls(context=context)
            client.ehlo()
            client.login(from_address, password)
            refused = client.sendmail(from_address, [to], raw)
            if refused:
                code, text = refused[to]
                return LoginStatus.FAIL, smtp_reply(code, text)
            return LoginStatus.PASS, "accepted for delivery"
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[to]
            return _status(code), smtp_reply(code, text)
        except smtplib.SMTPResponseException as exc:
            return _status(exc.smtp_code), smtp_reply(exc.smtp_code, exc.smtp_error)
        except ssl.SSLCertVerificationError as exc:
            return LoginStatus.FAIL, redact_text(f"{type(exc).__name__}: {exc}")
        except (OSError, smtplib.SMTPException) as exc:
            return LoginStatus.UNKNOWN, redact_text(f"{type(exc).__name__}: {exc}")
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _status(code: int) -> LoginStatus:
    # a 4xx is "try later": it says nothing about the mailbox or the message
    return LoginStatus.UNKNOWN if 400 <= code < 500 else LoginStatus.FAIL


async def send_test(
    app: App,
    from_address: str,
    to: str,
    *,
    options: CheckOptions | None = None,
    sign_locally: bool = True,
    verify: VerifyOptions | None = None,
) -> SendResult:
    """Submit a test message from a mailbox of the desired state (its vault password) to `to`;
    with `verify`, fetch it from `to` (a mailbox of the desired state too) and check its SPF, DKIM, DMARC."""
    options = options or CheckOptions()
    local, at, host = to.rpartition("@")
    # whitespace or a line break would let the address write headers of its own
    if not (local and at and host) or any(c.isspace() or not c.isprintable() for c in to):
        raise UserError(f"the recipient {to!r} is not an email address")
    await require_state(app)
    inventory = await desired_inventory(app)
    domain, address = _find(inventory.resolved_domains(), from_address)
    inbox: tuple[str, str, str] | None = None
    if verify is not None:
        inbox_domain, inbox_address = _find(inventory.resolved_domains(), to)
        assert inbox_domain.server is not None
        async with app.uow() as uow:
            inbox_password = await uow.secrets().get(*password_key(inbox_address))
        if inbox_password is None:
            raise UserError(f"the password of {inbox_address} is not confirmed in the vault (run apply)")
        inbox = (inbox_domain.server.hostname, inbox_address, inbox_password)
        for server in verify.nameservers:
            parse_nameserver(server)  # a typo refused before anything is sent
    assert domain.server is not None  # _find keeps domains on a server only
    selector = domain.dkim_selector
    async with app.uow() as uow:
        password = await uow.secrets().get(*password_key(address))
        key = await uow.secrets().get(*dkim_key(domain.name, selector)) if not domain.server.mail_backend else None
    if password is None:
        raise UserError(f"the password of {address} is not confirmed in the vault (run apply)")
    token = uuid.uuid4().hex[:12]
    message = build_message(address, to, domain.name, token)
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    signed_with = None
    if sign_locally and key is not None:
        raw = sign(raw, domain.name, selector, key)
        signed_with = f"{selector}._domainkey.{domain.name}"
    host = domain.server.hostname
    status, answer = await asyncio.to_thread(_submit, host, address, password, to, raw, options)
    result = SendResult(
        address, to, host, options.submission_port, status, answer, str(message["Message-ID"]), signed_with
    )
    if inbox is None or verify is None or status is not LoginStatus.PASS:
        return result
    fetched, received = await asyncio.to_thread(_fetch, *inbox, result.message_id, options, verify.wait)
    if fetched is None:
        return replace(result, received=received)
    hop = trace(fetched)
    if hop is None:
        return replace(result, received="the copy has no SMTP Received header with an IP address")
    ip, helo, mail_from = hop
    resolver = Resolver.from_strings(verify.nameservers)
    try:
        verification = await verify_message(fetched, ip=ip, mail_from=mail_from, helo=helo, resolver=resolver)
    finally:
        await resolver.close()
    hop_text = f"{received}; from {ip} (HELO {helo}), MAIL FROM <{mail_from}>"
    return replace(result, received=hop_text, verification=verification)


@dataclass(frozen=True)
class VerifyOptions:
    """Where the verifier asks DNS (none: the system's resolver) and how long the copy may take."""

    nameservers: list[str] = field(default_factory=list)
    wait: float = 60.0


#: a trace field of an SMTP hop (RFC 5321 §4.4): `from HELO (... [IP]) ... with ESMTP...`
_RECEIVED = re.compile(
    r"^from\s+(\S+)\s+\([^)]*?\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]\).*?\bwith\s+(?:UTF8)?E?SMTP", re.S | re.I
)


def trace(raw: bytes) -> tuple[str, str, str] | None:
    """(IP, HELO, MAIL FROM) of the newest SMTP hop: its Received field and the Return-Path."""
    message = message_from_bytes(raw)
    mail_from = parseaddr(str(message.get("Return-Path", "")))[1]
    for value in message.get_all("Received") or []:
        match = _RECEIVED.match(" ".join(str(value).split()))
        if match:
            return match.group(2), match.group(1), mail_from
    return None


def _fetch(
    host: str, user: str, password: str, message_id: str, options: CheckOptions, wait: float
) -> tuple[bytes | None, str]:
    """The message with this Message-ID from the mailbox's INBOX over IMAPS, polled until `wait` runs out."""
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    try:
        client = ImapsClient(host, options.imaps_port, options.address, options.timeout, context)
    except (OSError, imaplib.IMAP4.error) as exc:
        return None, redact_text(f"{user}'s mailbox could not be reached: {type(exc).__name__}: {exc}")
    try:
        client.login(user, password)
        client.select("INBOX", readonly=True)
        deadline = time.monotonic() + wait
        while True:
            _, data = client.search(None, "HEADER", "Message-ID", f'"{message_id}"')
            found = data[0].split() if data and data[0] else []
            if found:
                _, parts = client.fetch(found[-1].decode(), "(BODY.PEEK[])")
                for part in parts:
                    if isinstance(part, tuple):
                        return bytes(part[1]), f"found in {user}'s INBOX"
            if time.monotonic() >= deadline:
                return None, f"did not arrive in {user}'s INBOX within {wait:g} s"
            time.sleep(1)
            client.noop()  # lets the server report new messages to the selected mailbox
    except (OSError, imaplib.IMAP4.error) as exc:
        return None, redact_text(f"{user}'s mailbox: {type(exc).__name__}: {exc}")
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            client.shutdown()
