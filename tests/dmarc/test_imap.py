"""Ingest from a real Dovecot over IMAPS on loopback: move when done, resume after a dropped connection."""

from __future__ import annotations

import uuid

import pytest

from email_infrastructure.core.errors import ProviderAuthError, UserError
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import ImapRequest, IngestOptions, ingest_imap
from tests.dmarc.conftest import Manage
from tests.dmarc.proxy import CuttingProxy
from tests.dmarc.reports import Row, aggregate, failure_report, gz, report_email
from tests.fixtures.mailserver import MailServer

OFFLINE = IngestOptions(resolve=False, alerts=False)


def reports(count: int) -> list[bytes]:
    """Report messages of ~20 KB each (uncompressed XML attachments), so a cut lands mid-run."""
    rows = [Row(f"192.0.2.{i % 250 + 1}", 1) for i in range(40)]
    return [
        report_email(aggregate(rows, report_id=f"imap-{n}"), f"receiver.example!acme-outreach.test!{n}.xml",
                     "application/xml")
        for n in range(count)
    ]  # fmt: skip


@pytest.fixture
def report_box(mailserver: MailServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    address, password = f"dmarc-{uuid.uuid4().hex[:8]}@reports.test", uuid.uuid4().hex
    mailserver.set_user(address, password)
    monkeypatch.setenv("TEST_DMARC_IMAP_PASSWORD", password)
    return address, password


def request(server: MailServer, address: str, port: int | None = None, **kwargs: object) -> ImapRequest:
    url = f"imaps://{address.replace('@', '%40')}@{server.hostname}:{port or server.imaps_port}/INBOX"
    return ImapRequest(url, "env:TEST_DMARC_IMAP_PASSWORD", ca_file=server.ca_file, address="127.0.0.1", **kwargs)  # type: ignore[arg-type]  # the optional fields by name


async def test_messages_are_ingested_and_moved(
    app: App, manage: Manage, mailserver: MailServer, report_box: tuple[str, str]
) -> None:
    await manage()
    address, password = report_box
    noise = report_email(b"hello", "notes.bin", "application/octet-stream")
    mailserver.append(address, password, [*reports(2), gz_report(), failure_report(), noise])
    result = await ingest_imap(app, request(mailserver, address, move_to="Processed"), OFFLINE)
    assert [(i.kind, i.status) for i in result.items] == [
        ("aggregate", "ingested"), ("aggregate", "ingested"), ("aggregate", "ingested"),
        ("failure", "ingested"), ("unknown", "skipped"),
    ], result.to_json()  # fmt: skip
    assert result.mailbox == {"messages": 5, "moved": 5, "reconnects": 0}
    assert mailserver.folder_size(address, password, "INBOX") == 0
    assert mailserver.folder_size(address, password, "Processed") == 5
    again = await ingest_imap(app, request(mailserver, address, move_to="Processed"), OFFLINE)
    assert again.items == [] and again.mailbox["messages"] == 0


def gz_report() -> bytes:
    return report_email(gz(aggregate([Row("192.0.2.9", 3)], report_id="imap-gz")), "r.xml.gz")


async def test_a_dropped_connection_resumes_without_reprocessing(
    app: App, manage: Manage, mailserver: MailServer, report_box: tuple[str, str]
) -> None:
    await manage()
    address, password = report_box
    mailserver.append(address, password, reports(6))
    with CuttingProxy(("127.0.0.1", mailserver.imaps_port), after=60_000) as proxy:
        result = await ingest_imap(app, request(mailserver, address, proxy.port, move_to="Processed"), OFFLINE)
    assert proxy.cut == 1 and proxy.connections == 2
    assert result.mailbox["reconnects"] == 1
    ids = sorted(i.report_id for i in result.items)
    assert ids == [f"imap-{n}" for n in range(6)]  # each report once: nothing parsed twice
    assert {i.status for i in result.items} == {"ingested"}
    assert mailserver.folder_size(address, password, "INBOX") == 0
    assert mailserver.folder_size(address, password, "Processed") == 6


async def test_without_moving_a_second_run_finds_only_duplicates(
    app: App, manage: Manage, mailserver: MailServer, report_box: tuple[str, str]
) -> None:
    await manage()
    address, password = report_box
    mailserver.append(address, password, reports(2))
    first = await ingest_imap(app, request(mailserver, address), OFFLINE)
    second = await ingest_imap(app, request(mailserver, address), OFFLINE)
    assert [i.status for i in first.items] == ["ingested", "ingested"]
    assert [i.status for i in second.items] == ["duplicate", "duplicate"]
    assert mailserver.folder_size(address, password, "INBOX") == 2


async def test_a_wrong_password_and_a_bad_url_are_clear_errors(
    app: App, manage: Manage, mailserver: MailServer, report_box: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await manage()
    address, _ = report_box
    monkeypatch.setenv("TEST_DMARC_IMAP_PASSWORD", "wrong-password")
    with pytest.raises(ProviderAuthError, match="refused the login") as caught:
        await ingest_imap(app, request(mailserver, address), OFFLINE)
    assert "wrong-password" not in str(caught.value)
    with pytest.raises(UserError, match="imaps://"):
        await ingest_imap(app, ImapRequest("imap://u@h/INBOX", "env:TEST_DMARC_IMAP_PASSWORD"), OFFLINE)
    with pytest.raises(UserError, match="never in the URL"):
        await ingest_imap(app, ImapRequest("imaps://u:pw@h/INBOX", "env:TEST_DMARC_IMAP_PASSWORD"), OFFLINE)
