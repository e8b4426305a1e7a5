"""`email-infra mailbox check` end to end: apply creates the mailboxes, the check logs into a real
Postfix and Dovecot with the passwords apply stored; exit codes 0, 1, 3 and 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.fakes.http_server import FakeServer
from tests.fakes.mailcow import FakeMailcow
from tests.fixtures.mailserver import MailServer, free_port
from tests.services.test_mail_apply import DOMAIN, mail_inventory


@pytest.fixture
def applied(cli: Cli, tmp_path: Path, mailserver: MailServer) -> Iterator[tuple[FakeMailcow, dict[str, str]]]:
    """The mail inventory applied through a fake Mailcow; the real servers know its mailboxes."""
    fake = FakeMailcow()
    env = {"MAILCOW_TEST_KEY": fake.rw_key}
    with FakeServer(fake) as server:
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(mail_inventory(server.url), encoding="utf-8")
        done = cli("apply", "-f", str(inventory), "--yes", env=env)
        assert done.returncode == 0, done.stderr
        mailserver.set_users(fake.passwords())
        yield fake, env


def check(cli: Cli, server: MailServer, *extra: str, imaps_port: int | None = None) -> tuple[int, str, str]:
    done = cli(
        "mailbox",
        "check",
        "--domain",
        DOMAIN,
        "--address",
        "127.0.0.1",
        "--submission-port",
        str(server.submission_port),
        "--smtps-port",
        str(server.smtps_port),
        "--imaps-port",
        str(imaps_port or server.imaps_port),
        "--ca-file",
        str(server.ca_file),
        *extra,
    )
    return done.returncode, done.stdout, done.stderr


def test_every_login_passes_with_the_passwords_apply_stored(
    cli: Cli, mailserver: MailServer, applied: tuple[FakeMailcow, dict[str, str]]
) -> None:
    fake, _ = applied
    code, out, err = check(cli, mailserver, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "pass"
    assert sorted(m["address"] for m in data["mailboxes"]) == [f"ann.lee@{DOMAIN}", f"bob.stone@{DOMAIN}"]
    assert {x["status"] for m in data["mailboxes"] for x in m["logins"]} == {"pass"}
    for password in fake.passwords().values():
        assert password not in out and password not in err
    code, table, _ = check(cli, mailserver)
    assert code == 0 and "imaps" in table and "235" in table


def test_a_changed_password_exits_1_and_a_closed_port_exits_3(
    cli: Cli, mailserver: MailServer, applied: tuple[FakeMailcow, dict[str, str]]
) -> None:
    fake, _ = applied
    unreachable = check(cli, mailserver, "--format", "json", imaps_port=free_port())
    assert unreachable[0] == 3, unreachable[2]
    changed = f"bob.stone@{DOMAIN}"
    mailserver.set_user(changed, "changed-behind-our-back")
    code, out, err = check(cli, mailserver, "--format", "json")
    assert code == 1, err
    bob = next(m for m in json.loads(out)["mailboxes"] if m["address"] == changed)
    assert bob["status"] == "fail" and bob["logins"][0]["answer"].startswith("535 ")
    assert fake.passwords()[changed] not in out + err


def test_usage_errors_exit_2(cli: Cli, mailserver: MailServer, applied: tuple[FakeMailcow, dict[str, str]]) -> None:
    assert check(cli, mailserver, "--format", "csv")[0] == 2
    done = cli("mailbox", "check", "--domain", "not-ours.test")
    assert done.returncode == 2 and "not a domain on a mail backend" in done.stderr
