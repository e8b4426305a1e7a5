"""Ingest into the database (SQLite and PostgreSQL): every form once, idempotent, hostile input skipped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from email_infrastructure.dmarc import ingest
from email_infrastructure.services import dmarc as service
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import IngestOptions, dmarc_summary, ingest_paths
from email_infrastructure.storage.models import DmarcFailureReport, DmarcRecord, DmarcReport, TlsReportRecord
from tests.dmarc.conftest import OUR_SERVER_IP, Manage
from tests.dmarc.reports import (
    BILLION_LAUGHS,
    Row,
    aggregate,
    failure_report,
    gz,
    mbox,
    report_email,
    tlsrpt,
    xxe,
    zipped,
)

OFFLINE = IngestOptions(resolve=False, alerts=False)


async def table_counts(app: App) -> dict[str, int]:
    async with app.uow() as uow:
        return {
            model.__tablename__: int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (DmarcReport, DmarcRecord, TlsReportRecord, DmarcFailureReport)
        }


def every_form(folder: Path) -> Path:
    folder.mkdir()
    one = [Row("192.0.2.1", 10)]
    forwarded = Row("192.0.2.1", 10, spf="fail", reasons=[("forwarded", "list")], envelope_from=None)
    (folder / "a.xml").write_bytes(aggregate([forwarded], report_id="rfc7489"))
    (folder / "b.xml.gz").write_bytes(gz(aggregate(one, form="rfc9990", report_id="rfc9990-ns")))
    (folder / "c.zip").write_bytes(zipped(aggregate(one, form="rfc9990-bare", report_id="rfc9990-bare")))
    (folder / "d.eml").write_bytes(report_email(gz(aggregate(one, form="draft", report_id="draft")), "d.xml.gz"))
    (folder / "e.mbox").write_bytes(
        mbox(
            [report_email(zipped(aggregate(one, report_id=f"mbox-{i}")), f"{i}.zip", "application/zip") for i in (1, 2)]
        )
    )
    (folder / "f.json.gz").write_bytes(gz(tlsrpt()))
    (folder / "g.eml").write_bytes(failure_report())
    return folder


async def test_every_form_and_container_is_stored_once(app: App, manage: Manage, tmp_path: Path) -> None:
    await manage()
    folder = every_form(tmp_path / "reports")
    first = await ingest_paths(app, [folder], OFFLINE)
    assert [(i.kind, i.status) for i in first.items].count(("aggregate", "ingested")) == 6, first.to_json()
    assert {(i.kind, i.status) for i in first.items} == {
        ("aggregate", "ingested"), ("tlsrpt", "ingested"), ("failure", "ingested"),
    }  # fmt: skip
    assert sorted(i.report_id for i in first.items if i.kind == "aggregate") == [
        "draft", "mbox-1", "mbox-2", "rfc7489", "rfc9990-bare", "rfc9990-ns",
    ]  # fmt: skip
    counts = await table_counts(app)
    assert counts == {"dmarc_reports": 6, "dmarc_records": 6, "tls_reports": 1, "dmarc_failure_reports": 1}
    async with app.uow() as uow:
        schemas = dict((await uow.session.execute(select(DmarcReport.report_id, DmarcReport.schema))).all())
    assert schemas["rfc9990-ns"] == schemas["rfc9990-bare"] == "rfc9990"
    assert (schemas["rfc7489"], schemas["draft"]) == ("rfc7489", "draft")
    async with app.uow() as uow:
        query = select(DmarcRecord, DmarcReport.begin).join(DmarcReport).where(DmarcReport.report_id == "rfc7489")
        stored, begin = (await uow.session.execute(query)).one()
    assert (stored.source_ip, stored.count, stored.spf_aligned, stored.dkim_aligned, stored.dmarc_pass) == (
        "192.0.2.1", 10, False, True, True,
    )  # fmt: skip
    assert stored.envelope_from is None and stored.day == begin.date()  # filed under the report's first day
    assert stored.details["reasons"] == [["forwarded", "list"]]
    assert stored.details["spf"] == [["bounce.acme-outreach.test", "mfrom", "pass"]]

    again = await ingest_paths(app, [folder], OFFLINE)
    assert {i.status for i in again.items} == {"duplicate"} and len(again.items) == len(first.items)
    assert await table_counts(app) == counts


async def test_hostile_and_wrong_files_are_skipped_with_reasons_and_nothing_is_stored(
    app: App, manage: Manage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await manage()
    monkeypatch.setattr(ingest, "BATCH", 2)  # the bad record comes after two batches were inserted
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    folder = tmp_path / "bad"
    folder.mkdir()
    good_rows = [Row(f"192.0.2.{i}", 5) for i in range(1, 6)]
    late_negative = aggregate([*good_rows, Row("192.0.2.99", -3)], report_id="late-negative")
    full = gz(aggregate([Row(f"10.1.{i // 250}.{i % 250}", 1) for i in range(3000)], report_id="cut"))
    files = {
        "laughs.xml": BILLION_LAUGHS,
        "xxe.xml": xxe(str(secret)),
        "malformed.xml": aggregate(good_rows).replace(b"</feedback>", b"", 1),  # cut short: not repaired
        "cut.xml.gz": full[: len(full) // 2],
        "cut.zip": zipped(aggregate(good_rows))[:-40],
        "other.xml": aggregate(good_rows, domain="someone-else.example", report_id="other"),
        "late-negative.xml": late_negative,
        "absurd.xml": aggregate([Row("192.0.2.7", 10**12)], report_id="absurd"),
        "reversed.xml": aggregate(good_rows, report_id="reversed", dates=(1_760_000_000, 1_750_000_000)),
        "future.xml": aggregate(good_rows, report_id="future", dates=(4_000_000_000, 4_000_086_399)),
        "tls-other.json": tlsrpt(domain="someone-else.example"),
        "tls-negative.json": tlsrpt(failures=[("certificate-expired", -1)]),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    result = await ingest_paths(app, [folder], replace(OFFLINE, managed_only=True))
    reasons = {Path(i.origin).name: i.reason for i in result.items}
    assert {i.status for i in result.items} == {"skipped"}, result.to_json()
    assert "DTD" in reasons["laughs.xml"] and "DTD" in reasons["xxe.xml"]
    assert "TOP-SECRET" not in str(result.to_json())
    assert reasons["malformed.xml"].startswith("malformed XML") and "not repaired" in reasons["malformed.xml"]
    assert reasons["cut.xml.gz"].startswith("truncated gzip")
    assert "truncated or damaged zip" in reasons["cut.zip"]
    assert "someone-else.example is not managed" in reasons["other.xml"]
    assert "record 6: count -3 is negative" in reasons["late-negative.xml"]
    assert "absurd" in reasons["absurd.xml"]
    assert "reversed" in reasons["reversed.xml"] and "future" in reasons["future.xml"]
    assert "not managed" in reasons["tls-other.json"] and "negative" in reasons["tls-negative.json"]
    assert await table_counts(app) == {
        "dmarc_reports": 0,
        "dmarc_records": 0,
        "tls_reports": 0,
        "dmarc_failure_reports": 0,
    }


async def test_limits_come_from_the_settings(app: App, manage: Manage, tmp_path: Path) -> None:
    await manage()
    app.settings = app.settings.model_copy(update={"dmarc_max_report_bytes": 4096, "dmarc_max_count": 100})
    big = tmp_path / "big.xml"
    big.write_bytes(aggregate([Row(f"192.0.2.{i}", 1) for i in range(1, 60)], report_id="big"))
    many = tmp_path / "many.xml"
    many.write_bytes(aggregate([Row("192.0.2.1", 101)], report_id="many"))
    result = await ingest_paths(app, [big, many], OFFLINE)
    reasons = [i.reason for i in result.items]
    assert "size limit of 4,096 bytes" in reasons[0]
    assert "count 101 is absurd (more than 100 messages)" in reasons[1]


async def test_summary_per_source_org_domain_our_servers_and_tls(app: App, manage: Manage, tmp_path: Path) -> None:
    await manage()
    folder = tmp_path / "reports"
    folder.mkdir()
    ours_failing = Row(OUR_SERVER_IP, 10, dkim="fail", spf="fail", disposition="quarantine")
    (folder / "google.xml").write_bytes(aggregate(
        [Row(OUR_SERVER_IP, 90), ours_failing, Row("198.51.100.20", 5, dkim="fail", spf="fail")],
        org="google.com", report_id="g1"))  # fmt: skip
    (folder / "yahoo.xml").write_bytes(aggregate(
        [Row(OUR_SERVER_IP, 40, spf="fail"), Row("198.51.100.30", 60, dkim="pass", spf="fail")],
        org="yahoo.com", report_id="y1"))  # fmt: skip
    (folder / "mail.xml").write_bytes(aggregate([Row(OUR_SERVER_IP, 25, dkim="fail")], domain="acme-mail.test",
                                                org="google.com", report_id="g2"))  # fmt: skip
    (folder / "tls.json").write_bytes(tlsrpt(failures=[("certificate-expired", 2), ("starttls-not-supported", 5)]))
    result = await ingest_paths(app, [folder], OFFLINE)
    assert result.count("ingested") == 4

    summary = await dmarc_summary(app, since=service.parse_since("30d"))
    sources = {s.key: s for s in summary.sources}
    ours = sources[OUR_SERVER_IP]
    assert (ours.messages, ours.dmarc_pass, ours.spf_aligned, ours.dkim_aligned) == (165, 155, 115, 130)
    assert ours.ours and not sources["198.51.100.30"].ours
    assert [s.key for s in summary.unknown_senders] == ["198.51.100.20"]  # .30 passes DKIM aligned
    assert [s.key for s in summary.our_failing] == [OUR_SERVER_IP]
    orgs = {o.key: (o.messages, o.dmarc_pass) for o in summary.organisations}
    assert orgs == {"google.com": (130, 115), "yahoo.com": (100, 100)}
    domains = {d.key: d.messages for d in summary.domains}
    assert domains == {"acme-outreach.test": 205, "acme-mail.test": 25}
    assert summary.tls_failures == [("starttls-not-supported", 5), ("certificate-expired", 2)]
    assert summary.tls_sessions == (120, 7)
    assert summary.reports == 3

    only = await dmarc_summary(app, domain="acme-mail.test")
    assert [s.key for s in only.sources] == [OUR_SERVER_IP] and only.sources[0].dmarc_pass == 25
    assert only.tls_failures == [("starttls-not-supported", 5), ("certificate-expired", 2)]
    old = await dmarc_summary(app, domain="acme-outreach.test", since=service.parse_since("0d"))
    assert old.sources == []  # reports began yesterday


def test_since_accepts_days_weeks_and_all_only() -> None:
    from datetime import date

    from email_infrastructure.core.errors import UserError

    today = date(2026, 3, 31)
    assert service.parse_since("30d", today) == date(2026, 3, 1)
    assert service.parse_since("2w", today) == date(2026, 3, 17)
    assert service.parse_since("all", today) is None
    with pytest.raises(UserError, match="--since"):
        service.parse_since("yesterday", today)
