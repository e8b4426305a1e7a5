"""A test message: built, DKIM-signed (dkimpy), submitted on the submission port, traced back to
the hop it arrived from, and fetched from a recipient's INBOX over IMAPS.

Signing: a domain on a mail backend is signed by its server (Mailcow's own DKIM). A domain
without one has a locally generated key, and nothing on the way signs for it: the test message is
signed here before it is submitted. Results keep the server's answer, never the password or the key.
"""

from __future__ import annotations

import imaplib
import re
import smtplib
import ssl
import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.imap import ImapsClient, tls_context
from email_infrastructure.core.logging import redact_text
from email_infrastructure.delivery.logins import CheckOptions, LoginStatus, reply_status
from email_infrastructure.delivery.smtp import StartTlsSmtp, error_text, quit_quietly, smtp_reply
from email_infrastructure.delivery.verdicts import dkimpy

#: the headers the signature covers (RFC 6376 §5.4.1: From is required; these are the ones a
#: relay is least likely to touch)
SIGNED_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"MIME-Version", b"Content-Type")


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


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as SMTP carries it (CRLF line ends): what a signature covers."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


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
    except (dkim.DKIMException, ValueError) as exc:
        # a PEM body that is not base64 is binascii.Error (a ValueError), not dkimpy's own error;
        # the type names what is wrong with the key, never its bytes
        raise UserError(f"DKIM signing for {domain} failed: {type(exc).__name__}") from None
    return bytes(header) + raw


def submit(
    host: str, from_address: str, password: str, to: str, raw: bytes, options: CheckOptions
) -> tuple[LoginStatus, str]:
    """STARTTLS, AUTH, MAIL/RCPT/DATA on the submission port; (status, the server's answer)."""
    context = tls_context(options.ca_file)
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
            return reply_status(code), smtp_reply(code, text)
        except smtplib.SMTPResponseException as exc:
            return reply_status(exc.smtp_code), smtp_reply(exc.smtp_code, exc.smtp_error)
        except ssl.SSLCertVerificationError as exc:
            return LoginStatus.FAIL, error_text(exc)
        except (OSError, smtplib.SMTPException) as exc:
            return LoginStatus.UNKNOWN, error_text(exc)
    finally:
        quit_quietly(client)


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


def fetch_by_message_id(
    host: str, user: str, password: str, message_id: str, options: CheckOptions, wait: float
) -> tuple[bytes | None, str]:
    """The message with this Message-ID from the mailbox's INBOX over IMAPS, polled until `wait` runs out."""
    try:
        client = ImapsClient(host, options.imaps_port, options.address, options.timeout, tls_context(options.ca_file))
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
        client.close_quietly()
