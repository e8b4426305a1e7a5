"""The three logins of a mailbox (delivery/logins.py) against the real Postfix and Dovecot on loopback."""

from __future__ import annotations

import uuid

from email_infrastructure.delivery.logins import CheckOptions, LoginStatus, mailbox_logins, reply_status, worst
from tests.fixtures.mailserver import MailServer, free_port


def options(server: MailServer, **changes: int) -> CheckOptions:
    ports = {"submission_port": server.submission_port, "smtps_port": server.smtps_port}
    ports |= {"imaps_port": server.imaps_port, **changes}
    return CheckOptions(address="127.0.0.1", ca_file=server.ca_file, timeout=10, **ports)


def test_a_mailbox_logs_in_everywhere_and_a_wrong_password_fails_everywhere(mailserver: MailServer) -> None:
    address, password = f"probe-{uuid.uuid4().hex[:8]}@acme-outreach.test", uuid.uuid4().hex
    mailserver.set_user(address, password)
    good = mailbox_logins(mailserver.hostname, address, password, options(mailserver))
    assert [(login.protocol, login.status) for login in good] == [
        ("smtp", LoginStatus.PASS), ("smtps", LoginStatus.PASS), ("imaps", LoginStatus.PASS),
    ], good  # fmt: skip
    bad = mailbox_logins(mailserver.hostname, address, "not-" + password, options(mailserver))
    assert {login.status for login in bad} == {LoginStatus.FAIL}
    assert all(password not in login.answer for login in bad)


def test_a_closed_port_is_unknown(mailserver: MailServer) -> None:
    closed = free_port()
    found = mailbox_logins(
        mailserver.hostname, "x@acme-outreach.test", "x", options(mailserver, smtps_port=closed, imaps_port=closed)
    )
    assert [login.status for login in found[1:]] == [LoginStatus.UNKNOWN, LoginStatus.UNKNOWN]


def test_fail_outranks_unknown_and_a_4xx_is_unknown() -> None:
    assert worst([]) is LoginStatus.PASS
    assert worst([LoginStatus.PASS, LoginStatus.UNKNOWN]) is LoginStatus.UNKNOWN
    assert worst([LoginStatus.UNKNOWN, LoginStatus.FAIL, LoginStatus.PASS]) is LoginStatus.FAIL
    assert (reply_status(454), reply_status(535), reply_status(399)) == (
        LoginStatus.UNKNOWN,
        LoginStatus.FAIL,
        LoginStatus.FAIL,
    )
