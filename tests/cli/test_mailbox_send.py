"""`email-infra mailbox send-test` and `mailbox verify` end to end: apply on the real PowerDNS,
submit through the real Postfix, verify what the loopback receiver got; exit codes 0, 1, 2."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from tests.cli.conftest import Cli
from tests.fixtures.mailserver import LOCAL_SUFFIX, MailServer
from tests.fixtures.pdns import PowerDns
from tests.fixtures.receiver import Receiver
from tests.services.test_mail_send import PASSWORD, TO, inventory


async def _confirm(data_dir: Path, address: str, password: str) -> None:
    """What apply stores on a mail backend, stored by hand (this domain has none)."""
    app = App(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]  # pydantic-settings' init kwarg
    try:
        async with app.uow() as uow:
            await uow.secrets().put(*password_key(address), password)
            await uow.commit()
    finally:
        await app.close()


@pytest.fixture
def sender(cli: Cli, tmp_path: Path, pdns: PowerDns, mailserver: MailServer) -> tuple[str, str, dict[str, str]]:
    """A zone applied on PowerDNS, Ann's password on Dovecot and in the vault: (zone, sender, env)."""
    zone = f"c{uuid.uuid4().hex[:10]}.test"
    env = {"PDNS_TEST_KEY": pdns.api_key}
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(pdns, zone), encoding="utf-8")
    done = cli("apply", "-f", str(path), "--yes", env=env)
    assert done.returncode == 0, done.stderr
    address = f"ann.lee@{zone}"
    mailserver.set_user(address, PASSWORD)
    asyncio.run(_confirm(tmp_path / "data", address, PASSWORD))
    return zone, address, env


def send(cli: Cli, server: MailServer, address: str, *extra: str) -> tuple[int, str, str]:
    done = cli(
        "mailbox",
        "send-test",
        address,
        "--to",
        TO,
        "--address",
        "127.0.0.1",
        "--submission-port",
        str(server.submission_port),
        "--ca-file",
        str(server.ca_file),
        *extra,
    )
    return done.returncode, done.stdout, done.stderr


def test_send_test_delivers_and_verify_passes_then_fails_on_a_tampered_copy(
    cli: Cli,
    tmp_path: Path,
    pdns: PowerDns,
    mailserver: MailServer,
    receiver: Receiver,
    sender: tuple[str, str, dict[str, str]],
) -> None:
    zone, address, _ = sender
    code, out, err = send(cli, mailserver, address, "--format", "json")
    assert code == 0, err
    sent = json.loads(out)
    assert (sent["status"], sent["dkim_signed_by"]) == ("pass", f"dkim._domainkey.{zone}")
    assert PASSWORD not in out + err
    got = receiver.messages.get(True, 30)
    message = tmp_path / "received.eml"
    message.write_bytes(got.raw)
    args = ["--ip", got.ip, "--mail-from", got.mail_from, "--helo", got.helo]
    args += ["--nameserver", f"{pdns.address}:{pdns.dns_port}", "--format", "json"]
    done = cli("mailbox", "verify", str(message), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert [found["spf"]["result"], found["dkim"][0]["result"], found["dmarc"]["result"]] == ["pass"] * 3

    message.write_bytes(got.raw.replace(b"A test message", b"Another message"))
    done = cli("mailbox", "verify", str(message), *args[:-2])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "authentication: fail" in done.stdout and "body hash mismatch" in done.stdout


def test_a_wrong_password_exits_1_and_an_unknown_mailbox_2(
    cli: Cli, mailserver: MailServer, sender: tuple[str, str, dict[str, str]]
) -> None:
    zone, address, _ = sender
    mailserver.set_user(address, "Changed-on-the-server.2")
    code, out, err = send(cli, mailserver, address)
    assert code == 1, out + err
    assert "535 " in out and PASSWORD not in out + err and "Changed-on-the-server.2" not in out + err
    code, out, err = send(cli, mailserver, f"nobody@{zone}")
    assert code == 2 and "not a mailbox" in err, out + err


def test_send_test_verify_checks_the_copy_in_a_seed_mailbox(
    cli: Cli, tmp_path: Path, pdns: PowerDns, mailserver: MailServer
) -> None:
    token = uuid.uuid4().hex[:10]
    zone, inbox = f"c{token}.test", f"r{token}.{LOCAL_SUFFIX}"
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(pdns, zone, inbox), encoding="utf-8")
    done = cli("apply", "-f", str(path), "--yes", env={"PDNS_TEST_KEY": pdns.api_key})
    assert done.returncode == 0, done.stderr
    sender, seed = f"ann.lee@{zone}", f"bob.stone@{inbox}"
    mailserver.set_users(dict.fromkeys((sender, seed), PASSWORD))
    for address in (sender, seed):
        asyncio.run(_confirm(tmp_path / "data", address, PASSWORD))
    base = [
        "mailbox",
        "send-test",
        sender,
        "--to",
        seed,
        "--address",
        "127.0.0.1",
        "--ca-file",
        str(mailserver.ca_file),
    ]
    base += ["--submission-port", str(mailserver.submission_port), "--imaps-port", str(mailserver.imaps_port)]
    nameserver = ["--nameserver", f"{pdns.address}:{pdns.dns_port}"]
    done = cli(*base, "--verify", *nameserver, "--wait", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "authentication: pass" in done.stdout and "from 127.0.0.1" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    # a nameserver that does not answer: sent, but the verdicts are undetermined
    done = cli(*base, "--verify", "--nameserver", "127.0.0.1:9", "--wait", "30", "--format", "json")
    assert done.returncode == 3, done.stdout + done.stderr
    assert json.loads(done.stdout)["verification"]["status"] == "unknown"
    done = cli(*base, "--verify", "--nameserver", "not-an-ip")
    assert done.returncode == 2, done.stdout + done.stderr


def test_verify_refuses_a_nameserver_that_is_no_address_before_reading_dns(cli: Cli, tmp_path: Path) -> None:
    message = tmp_path / "received.eml"
    message.write_bytes(b"From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n")
    args = ["--ip", "127.0.0.1", "--mail-from", "a@b.test", "--helo", "b.test", "--nameserver", "ns.example"]
    done = cli("mailbox", "verify", str(message), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--nameserver" in done.stderr and "ns.example" in done.stderr
