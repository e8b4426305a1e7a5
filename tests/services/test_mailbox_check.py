"""`check_mailboxes` against a real Postfix and Dovecot on loopback (tests/fixtures/mailserver.py)."""

from __future__ import annotations

import json

import pytest

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.mailbox_check import CheckOptions, LoginStatus, check_mailboxes
from tests.fixtures.mailserver import MailServer, free_port
from tests.services.conftest import WriteInventory
from tests.services.test_mail_apply import DOMAIN, mail_inventory

ANN, BOB = f"ann.lee@{DOMAIN}", f"bob.stone@{DOMAIN}"


def options(server: MailServer, **changes: int) -> CheckOptions:
    """The fixture's ports and CA, connecting to loopback while verifying the mail host's name."""
    ports = {
        "submission_port": server.submission_port,
        "smtps_port": server.smtps_port,
        "imaps_port": server.imaps_port,
        **changes,
    }
    return CheckOptions(address="127.0.0.1", ca_file=server.ca_file, timeout=10, **ports)


async def desired(app: App, write_inventory: WriteInventory, passwords: dict[str, str]) -> None:
    """The mail inventory imported (its Mailcow is never called) and confirmed passwords in the vault."""
    await import_inventory(app, write_inventory(mail_inventory("http://127.0.0.1:9")))
    async with app.uow() as uow:
        for address, password in passwords.items():
            await uow.secrets().put(*password_key(address), password)
        await uow.commit()


async def test_a_matching_password_passes_on_smtp_smtps_and_imaps(
    app: App, write_inventory: WriteInventory, mailserver: MailServer
) -> None:
    mailserver.set_user(ANN, "Ann-pw-1.matches")
    await desired(app, write_inventory, {ANN: "Ann-pw-1.matches"})
    result = await check_mailboxes(app, only=[DOMAIN], options=options(mailserver))
    assert result.status is LoginStatus.PASS
    [ann] = result.mailboxes
    assert (ann.address, ann.host) == (ANN, "mail.acme-outreach.test")
    assert [(x.protocol, x.port, x.status) for x in ann.logins] == [
        ("smtp", mailserver.submission_port, LoginStatus.PASS),
        ("smtps", mailserver.smtps_port, LoginStatus.PASS),
        ("imaps", mailserver.imaps_port, LoginStatus.PASS),
    ]
    assert ann.logins[0].answer.startswith("235 ")  # the server's own words
    assert ann.logins[2].answer.startswith("OK")
    # no password in the vault: named, not logged in with
    assert result.skipped == {BOB: "its password is not confirmed in the vault (run apply)"}


async def test_a_wrong_password_fails_with_the_servers_answer_and_never_shows_the_password(
    app: App, write_inventory: WriteInventory, mailserver: MailServer
) -> None:
    mailserver.set_user(BOB, "Bob-on-the-server")
    await desired(app, write_inventory, {BOB: "Bob-in-the-vault!"})
    result = await check_mailboxes(app, only=[DOMAIN], options=options(mailserver))
    assert result.status is LoginStatus.FAIL
    [bob] = result.mailboxes
    assert [x.status for x in bob.logins] == [LoginStatus.FAIL] * 3
    smtp, smtps, imaps = (x.answer for x in bob.logins)
    assert smtp.startswith("535 ") and "authentication failed" in smtp
    assert smtps.startswith("535 ")
    assert "AUTHENTICATIONFAILED" in imaps
    text = json.dumps(result.to_json())
    assert "Bob-in-the-vault!" not in text and "Bob-on-the-server" not in text


@pytest.mark.parametrize("closed", ["submission_port", "smtps_port", "imaps_port"])
async def test_a_closed_port_is_unknown_not_a_failure(
    app: App, write_inventory: WriteInventory, mailserver: MailServer, closed: str
) -> None:
    mailserver.set_user(ANN, "Ann-pw-1.matches")
    await desired(app, write_inventory, {ANN: "Ann-pw-1.matches"})
    result = await check_mailboxes(app, only=[DOMAIN], options=options(mailserver, **{closed: free_port()}))
    assert result.status is LoginStatus.UNKNOWN
    statuses = {x.protocol: x.status for x in result.mailboxes[0].logins}
    unknown = {"submission_port": "smtp", "smtps_port": "smtps", "imaps_port": "imaps"}[closed]
    assert statuses.pop(unknown) is LoginStatus.UNKNOWN
    assert set(statuses.values()) == {LoginStatus.PASS}
    assert "ConnectionRefusedError" in next(x.answer for x in result.mailboxes[0].logins if x.protocol == unknown)


async def test_a_certificate_the_ca_file_does_not_vouch_for_fails(
    app: App, write_inventory: WriteInventory, mailserver: MailServer, tmp_path: object
) -> None:
    mailserver.set_user(ANN, "Ann-pw-1.matches")
    await desired(app, write_inventory, {ANN: "Ann-pw-1.matches"})
    # the system store does not know the throwaway CA: a platform would refuse the server too
    result = await check_mailboxes(
        app,
        only=[DOMAIN],
        options=CheckOptions(
            "127.0.0.1", mailserver.submission_port, mailserver.smtps_port, mailserver.imaps_port, None, 10
        ),
    )
    assert [x.status for x in result.mailboxes[0].logins] == [LoginStatus.FAIL] * 3
    assert all("CERTIFICATE_VERIFY_FAILED" in x.answer for x in result.mailboxes[0].logins)
