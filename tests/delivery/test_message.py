"""The test message (delivery/message.py): built, signed, submitted, traced, fetched."""

from __future__ import annotations

import uuid

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.rsa_keys import generate_keypair
from email_infrastructure.delivery.logins import CheckOptions, LoginStatus
from email_infrastructure.delivery.message import build_message, fetch_by_message_id, sign, submit, trace, wire_bytes
from email_infrastructure.delivery.verdicts import dkimpy
from tests.fixtures.mailserver import MailServer

DOMAIN = "acme-outreach.test"


def options(server: MailServer) -> CheckOptions:
    return CheckOptions(
        address="127.0.0.1",
        submission_port=server.submission_port,
        smtps_port=server.smtps_port,
        imaps_port=server.imaps_port,
        ca_file=server.ca_file,
        timeout=10,
    )


def test_a_signed_message_verifies_with_the_published_key_and_not_once_changed() -> None:
    private, public = generate_keypair(1024)  # only the signature's maths is under test
    raw = wire_bytes(build_message(f"ann@{DOMAIN}", "x@receiver.test", DOMAIN, "t1"))
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    signed = sign(raw, DOMAIN, "s1", private)
    assert signed.startswith(b"DKIM-Signature:") and signed.endswith(raw)
    dkim = dkimpy()

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return (
            f"v=DKIM1; k=rsa; p={public}".encode() if name.rstrip(b".") == f"s1._domainkey.{DOMAIN}".encode() else None
        )

    assert dkim.verify(signed, dnsfunc=lookup)
    assert not dkim.verify(signed.replace(b"send-test t1", b"send-test t2"), dnsfunc=lookup)


@pytest.mark.parametrize("body", ["bm90LWEta2V5", "not base64 at all!!"])
def test_a_key_that_is_not_a_key_is_a_usage_error_without_the_key(body: str) -> None:
    raw = wire_bytes(build_message(f"ann@{DOMAIN}", "x@receiver.test", DOMAIN, "t2"))
    with pytest.raises(UserError) as caught:
        sign(raw, DOMAIN, "s1", f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
    assert body not in str(caught.value) and DOMAIN in str(caught.value)


def test_a_wrong_password_is_refused_by_the_submission_server(mailserver: MailServer) -> None:
    address, password = f"send-{uuid.uuid4().hex[:8]}@{DOMAIN}", uuid.uuid4().hex
    mailserver.set_user(address, password)
    raw = wire_bytes(build_message(address, "x@receiver.test", DOMAIN, "t3"))
    status, answer = submit(
        mailserver.hostname, address, "not-" + password, "x@receiver.test", raw, options(mailserver)
    )
    assert status is LoginStatus.FAIL and answer.startswith("535"), answer
    assert password not in answer


def test_fetch_finds_a_message_by_its_id_and_says_when_it_is_not_there(mailserver: MailServer) -> None:
    address, password = f"inbox-{uuid.uuid4().hex[:8]}@{DOMAIN}", uuid.uuid4().hex
    mailserver.set_user(address, password)
    message = build_message(f"ann@{DOMAIN}", address, DOMAIN, "t4")
    mailserver.append(address, password, [wire_bytes(message)])
    raw, how = fetch_by_message_id(
        mailserver.hostname, address, password, str(message["Message-ID"]), options(mailserver), 0
    )
    assert raw is not None and b"send-test t4" in raw and how == f"found in {address}'s INBOX"
    missing, why = fetch_by_message_id(mailserver.hostname, address, password, "<none@x>", options(mailserver), 0)
    assert missing is None and why == f"did not arrive in {address}'s INBOX within 0 s"


def test_the_hop_is_the_newest_smtp_received_field_not_a_local_delivery() -> None:
    raw = (
        b"Return-Path: <ann@acme-outreach.test>\r\n"
        b"Received: from mx.receiver.test by mx.receiver.test with LMTP id 1; Tue, 1 Dec 2026 09:00:00 +0000\r\n"
        b"Received: from mail.acme-outreach.test (mail.acme-outreach.test [192.0.2.7])\r\n"
        b"\tby mx.receiver.test (Postfix) with ESMTPS id 2; Tue, 1 Dec 2026 09:00:00 +0000\r\n"
        b"Received: from [10.0.0.5] (unknown [10.0.0.5]) by mail.acme-outreach.test with ESMTPSA id 3\r\n"
        b"From: ann@acme-outreach.test\r\n\r\nbody\r\n"
    )
    assert trace(raw) == ("192.0.2.7", "mail.acme-outreach.test", "ann@acme-outreach.test")
    assert trace(b"From: ann@acme-outreach.test\r\n\r\nbody\r\n") is None
