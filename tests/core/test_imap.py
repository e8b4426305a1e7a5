"""The one IMAPS client (core/imap.py) against the real Dovecot on loopback (tests/fixtures/mailserver.py)."""

from __future__ import annotations

import ssl
import uuid

import pytest

from email_infrastructure.core.imap import ImapsClient, tls_context
from tests.fixtures.mailserver import MailServer


@pytest.fixture
def mailbox(mailserver: MailServer) -> tuple[str, str]:
    address, password = f"imap-{uuid.uuid4().hex[:8]}@acme-outreach.test", uuid.uuid4().hex
    mailserver.set_user(address, password)
    return address, password


def test_it_connects_to_the_address_and_verifies_the_host_name(
    mailserver: MailServer, mailbox: tuple[str, str]
) -> None:
    # the host name does not resolve: only the address given reaches the server
    client = ImapsClient(mailserver.hostname, mailserver.imaps_port, "127.0.0.1", 30, tls_context(mailserver.ca_file))
    try:
        status, _ = client.login(*mailbox)
        assert status == "OK"
        assert client.select("INBOX")[0] == "OK"
    finally:
        client.close_quietly()
    assert client.state == "LOGOUT"


def test_a_name_the_certificate_does_not_carry_is_refused(mailserver: MailServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        ImapsClient("other.example", mailserver.imaps_port, "127.0.0.1", 30, tls_context(mailserver.ca_file))


def test_without_the_ca_file_the_system_store_does_not_vouch_for_the_test_ca(mailserver: MailServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        ImapsClient(mailserver.hostname, mailserver.imaps_port, "127.0.0.1", 30, tls_context())


def test_closing_a_dropped_session_does_not_raise(mailserver: MailServer, mailbox: tuple[str, str]) -> None:
    client = ImapsClient(mailserver.hostname, mailserver.imaps_port, "127.0.0.1", 30, tls_context(mailserver.ca_file))
    client.login(*mailbox)
    client.sock.close()  # the connection is gone under the client: LOGOUT cannot be sent
    client.close_quietly()
