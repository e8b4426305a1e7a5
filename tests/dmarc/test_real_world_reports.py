"""Reports as real receivers send them (issue 21, items 4-10): odd gzip, base64 ARF parts, ancient
dates, not-quite-XML, domains we do not manage, zoned arrival times, absurd ids, and gzip bombs.

Every input is written here in the shape of a parsedmarc sample (Mimecast, Netease/163.com, the
RFC 9990 example, IKEA's xs:schema wrapper, …), not copied from it.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from email_infrastructure.dmarc.containers import ContainerLimits, Extractor, Payload, Readable
from email_infrastructure.dmarc.model import MalformedXML, ReportRejected
from email_infrastructure.dmarc.xml import AggregateReader
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from email_infrastructure.services.dmarc_views import dmarc_summary, list_reports
from email_infrastructure.storage.models import DmarcFailureReport, DmarcRecord, DmarcReport
from tests.dmarc.conftest import Manage
from tests.dmarc.reports import RFC9990_NS, Row, aggregate, gz, report_email, yesterday

OFFLINE = IngestOptions(resolve=False, alerts=False)
MiB = 1024 * 1024


def write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


async def stored_reports(app: App) -> dict[str, DmarcReport]:
    async with app.uow() as uow:
        return {r.report_id: r for r in (await uow.session.scalars(select(DmarcReport))).all()}


# -- item 4: a gzip member followed by stray bytes -----------------------------------------------------


async def test_a_gzip_with_a_crlf_after_it_is_read_and_the_bytes_are_noted(
    app: App, manage: Manage, tmp_path: Path
) -> None:
    await manage()
    report = gz(aggregate([Row("192.0.2.1", 3)], report_id="mimecast-1"))
    # Mimecast's message: the gzip attachment's data ends with CRLF after the gzip trailer
    message = report_email(report + b"\r\n", "mimecast.org!acme-outreach.test!1693353600!1693439999.xml.gz")
    padded = gzip.compress(aggregate([Row("192.0.2.2", 4)], report_id="padded")) + b"\x00" * 16
    # a report split over two gzip members (RFC 1952 §2.2): the second is data, not junk
    split = aggregate([Row("192.0.2.3", 5)], report_id="split")
    folder = tmp_path / "in"
    write(folder, "mimecast-weird-gzip.eml", message)
    write(folder, "padded.xml.gz", padded)
    write(folder, "split.xml.gz", gzip.compress(split[:200]) + gzip.compress(split[200:]))

    result = await ingest_paths(app, [folder], OFFLINE)
    items = {i.report_id: i for i in result.items}
    assert {i.status for i in result.items} == {"ingested"}, result.to_json()
    assert "2 byte(s) after the end of the gzip data ignored" in items["mimecast-1"].notes[0]
    assert "16 byte(s) after the end of the gzip data ignored" in items["padded"].notes[0]
    assert items["split"].notes == [] and items["split"].messages == 5  # a second member is data, not junk
    stored = await stored_reports(app)
    assert stored["mimecast-1"].notes == items["mimecast-1"].notes and stored["mimecast-1"].message_count == 3
    assert result.to_json()["noted"] == 2


def test_damage_inside_the_gzip_data_is_still_refused(tmp_path: Path) -> None:
    data = bytearray(gz(aggregate([Row("192.0.2.1", 3)])))
    data[len(data) // 2] ^= 0xFF
    [item] = list(Extractor().from_path(write(tmp_path, "bad.xml.gz", bytes(data))))
    reason = item.reason if not isinstance(item, Payload) else _read_error(item)
    assert reason.startswith("damaged gzip") or "malformed XML" in reason, reason


def _read_error(payload: Payload) -> str:
    assert payload.stream is not None
    try:
        AggregateReader(payload.stream).header()
    except ReportRejected as exc:
        return exc.reason
    return ""


# -- item 5 and 9: a Netease-shaped failure report ----------------------------------------------------


def netease(domain: str, arrival: str, delivery: str) -> bytes:
    """163.com's shape: multipart/mixed, the message/feedback-report part base64-encoded."""
    fields = (
        "Feedback-Type: auth-failure\r\nUser-Agent: NtesDmarcReporter/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <bounces@{domain}>\r\nArrival-Date: {arrival}\r\nSource-IP: 167.89.69.24\r\n"
        f"Reported-Domain: {domain}\r\nAuthentication-Results: 163.example; dkim=pass header.d={domain}\r\n"
        f"DKIM-Domain: {domain}\r\nDelivery-Result: {delivery}\r\nIdentity-Alignment: spf,dkim"
    )
    encoded = base64.encodebytes(fields.encode()).decode()
    return (
        "From: <abuse@163.example>\r\nSubject: [Netease DMARC Failure Report] Rent Reminder\r\n"
        "Message-ID: <5BADEAEC.AC2A83.17156@m12-184.163.example>\r\nMIME-Version: 1.0\r\n"
        'Content-type: multipart/mixed;\r\n\tboundary="B_3622128044_155770608"\r\n\r\n'
        "> This message is in MIME format.\r\n\r\n"
        '--B_3622128044_155770608\r\nContent-type: text/plain;\r\n\tcharset="UTF-8"\r\n\r\n'
        "This is a spf/dkim authentication-failure report.\r\n\r\n"
        '--B_3622128044_155770608\r\nContent-type: message/feedback-report; name="ATT00001"\r\n'
        'Content-disposition: attachment;\r\n\tfilename="ATT00001"\r\nContent-transfer-encoding: base64\r\n\r\n\r\n'
        f"{encoded}"
        "--B_3622128044_155770608\r\nContent-type: message/rfc822\r\nContent-disposition: attachment\r\n\r\n"
        f"From: 700 on Washington <info@{domain}>\r\nTo: someone@163.example\r\nSubject: Rent Reminder\r\n"
        "Message-ID: <oguVx1AxQayV5Sv2nYK-rA@sendgrid.example>\r\n\r\nbody\r\n"
        "--B_3622128044_155770608--\r\n"
    ).encode()


async def test_a_base64_feedback_report_is_decoded_its_arrival_kept_in_utc_and_delivery_mapped(
    app: App, manage: Manage, tmp_path: Path
) -> None:
    await manage()
    zoned = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0).astimezone(timezone(timedelta(hours=2)))
    path = write(tmp_path / "in", "netease.eml", netease("acme-outreach.test", format_datetime(zoned), "junked"))
    result = await ingest_paths(app, [path], OFFLINE)
    [item] = result.items
    assert (item.kind, item.status) == ("failure", "ingested"), item
    assert "'junked' is not one of RFC 6591's" in item.notes[0]
    async with app.uow() as uow:
        stored = (await uow.session.scalars(select(DmarcFailureReport))).one()
    arrival = stored.arrival if stored.arrival.tzinfo else stored.arrival.replace(tzinfo=UTC)  # SQLite: naive UTC
    assert arrival == zoned  # the same instant: +0200 was turned into UTC, not stored as if UTC
    assert stored.arrival.replace(tzinfo=None) == zoned.astimezone(UTC).replace(tzinfo=None)
    assert stored.source_ip == "167.89.69.24" and stored.delivery_result == "other"
    assert stored.fields["delivery_result_reported"] == "junked"


# -- item 6 and 9: the RFC 9990 example (1979), an org name's case, an absurd report id ---------------


def rfc9990_example(report_id: str = "3v98abbp8ya9n3va8yr8oa3ya") -> bytes:
    return f"""<feedback xmlns="{RFC9990_NS}">
  <version>1.0</version>
  <report_metadata>
    <org_name>Sample Reporter</org_name>
    <email>report_sender@example-reporter.com</email>
    <report_id>{report_id}</report_id>
    <date_range><begin>302832000</begin><end>302918399</end></date_range>
    <generator>Example DMARC Aggregate Reporter v1.2</generator>
  </report_metadata>
  <policy_published>
    <domain>acme-outreach.test</domain><p>quarantine</p><sp>none</sp><np>none</np>
    <testing>n</testing><discovery_method>treewalk</discovery_method>
  </policy_published>
  <record>
    <row><source_ip>192.0.2.123</source_ip><count>123</count>
      <policy_evaluated><disposition>pass</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><envelope_from>acme-outreach.test</envelope_from><header_from>acme-outreach.test</header_from></identifiers>
    <auth_results><dkim><domain>acme-outreach.test</domain><result>pass</result><selector>abc123</selector></dkim>
      <spf><domain>acme-outreach.test</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
""".encode()


async def test_a_report_from_before_dmarc_is_stored_and_flagged_and_its_org_keeps_its_case(
    app: App, manage: Manage, tmp_path: Path
) -> None:
    await manage()
    path = write(tmp_path / "in", "rfc9990-sample.xml", rfc9990_example())
    [item] = (await ingest_paths(app, [path], OFFLINE)).items
    assert item.status == "ingested", item
    assert item.org == "Sample Reporter"
    assert any("1979-08-07, before DMARC existed" in n for n in item.notes)
    reports, total = await list_reports(app)
    assert total == 1 and reports[0].org == "Sample Reporter"
    assert reports[0].to_json()["notes"] == item.notes


async def test_a_report_id_over_255_characters_is_refused_with_its_length(
    app: App, manage: Manage, tmp_path: Path
) -> None:
    await manage()
    path = write(tmp_path / "in", "long.xml", aggregate([Row("192.0.2.1", 1)], report_id="7" * 100_000))
    [item] = (await ingest_paths(app, [path], OFFLINE)).items
    assert item.status == "skipped"
    assert item.reason == "report_metadata: report_id is 100,000 characters long (at most 255)"
    assert await stored_reports(app) == {}


# -- item 7: not well-formed, repaired within bounds ---------------------------------------------------


def ikea_wrapped() -> bytes:
    """A report inside an `<xs:schema>` start tag that is never closed."""
    body = aggregate([Row("192.0.2.7", 1, dkim="fail", spf="fail")], report_id="ikea-1").split(b"\n", 1)[1]
    return (
        b'<?xml version="1.0"?> <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        b'targetNamespace="http://dmarc.org/dmarc-xml/0.1">\n' + body
    )


async def test_reports_that_are_not_well_formed_are_repaired_marked_and_counted(
    app: App, manage: Manage, tmp_path: Path
) -> None:
    await manage()
    folder = tmp_path / "in"
    write(folder, "ikea.xml", ikea_wrapped())
    latin = aggregate([Row("192.0.2.8", 2)], org="receiver.example", report_id="utf8-1")
    write(folder, "invalid_utf_8.xml", latin.replace(b"<org_name>receiver.example", b"<org_name>r\xe9ceiver.example"))
    bare = aggregate([Row("192.0.2.9", 3)], report_id="lt-1")
    write(folder, "invalid_xml.xml", bare.replace(b"<email>dmarc-noreply@receiver.example</email>",
                                                  b"<email><bad-xml@bad-xml.example></email>"))  # fmt: skip
    cut = aggregate([Row("192.0.2.10", 4), Row("192.0.2.11", 4)], report_id="cut-1")
    write(folder, "cut.xml", cut[: cut.index(b"</record>") + 20])
    laughs = ikea_wrapped().replace(b"?> ", b'?><!DOCTYPE x [<!ENTITY a "aaaa">]>').replace(b"ikea-1", b"&a;")
    write(folder, "dtd.xml", laughs)

    result = await ingest_paths(app, [folder], OFFLINE)
    items = {Path(i.origin).name: i for i in result.items}
    for name in ("ikea.xml", "invalid_utf_8.xml", "invalid_xml.xml"):
        assert items[name].status == "ingested", items[name]
        assert items[name].notes[0].startswith("XML repaired: "), items[name].notes
    assert "Premature end of data in tag schema" in items["ikea.xml"].notes[0]
    assert items["cut.xml"].status == "skipped"
    assert items["cut.xml"].reason.startswith("malformed XML") and "not repaired" in items["cut.xml"].reason
    assert items["dtd.xml"].status == "skipped" and "DTD" in items["dtd.xml"].reason
    assert result.to_json()["noted"] == 3

    stored = await stored_reports(app)
    assert set(stored) == {"ikea-1", "utf8-1", "lt-1"}
    assert all(r.notes and r.notes[0].startswith("XML repaired") for r in stored.values())
    assert stored["lt-1"].email == "<bad-xml@bad-xml.example>"  # the address is kept, not made a tag
    assert stored["utf8-1"].org_name == "r\ufffdceiver.example"  # the stray byte is shown, not guessed
    async with app.uow() as uow:
        records = (await uow.session.scalars(select(DmarcRecord).order_by(DmarcRecord.source_ip))).all()
    assert [(r.source_ip, r.count) for r in records] == [("192.0.2.7", 1), ("192.0.2.8", 2), ("192.0.2.9", 3)]


def read_all(stream: Readable, **options: Any) -> int:
    reader = AggregateReader(stream, **options)
    reader.header()
    return sum(1 for _ in reader.records())


def test_repair_is_bounded_by_size() -> None:
    broken = ikea_wrapped()
    with pytest.raises(MalformedXML) as small:
        read_all(io.BytesIO(broken))
    assert small.value.document == broken
    with pytest.raises(MalformedXML) as large:
        read_all(io.BytesIO(broken), keep_for_repair=len(broken) - 1)
    assert large.value.document is None  # too large to keep: refused with libxml2's reason only


# -- item 8: a fresh install keeps every report --------------------------------------------------------


async def test_a_fresh_install_keeps_reports_of_any_domain_marked_unmanaged(app: App, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write(folder, "a.xml", aggregate([Row("192.0.2.1", 10)], domain="example.com", report_id="fresh-1"))
    write(folder, "b.xml.gz", gz(aggregate([Row("192.0.2.2", 5)], domain="example.org", report_id="fresh-2")))
    result = await ingest_paths(app, [folder], replace(OFFLINE, alerts=True))
    assert [(i.status, i.managed) for i in result.items] == [("ingested", False), ("ingested", False)]
    assert result.to_json()["unmanaged"] == 2 and result.alerts == []  # no pass-rate alerts for others' domains

    summary = await dmarc_summary(app)
    assert summary.unmanaged_domains == ["example.com", "example.org"]
    assert {d["key"]: d["managed"] for d in summary.to_json()["domains"]} == {
        "example.com": False,
        "example.org": False,
    }


async def test_the_setting_keeps_only_managed_domains(app: App, manage: Manage, tmp_path: Path) -> None:
    await manage()
    app.settings = app.settings.model_copy(update={"dmarc_managed_only": True})
    folder = tmp_path / "in"
    write(folder, "ours.xml", aggregate([Row("192.0.2.1", 10)], report_id="ours"))
    write(folder, "other.xml", aggregate([Row("192.0.2.1", 10)], domain="example.com", report_id="other"))
    result = await ingest_paths(app, [folder], OFFLINE)
    items = {i.report_id: i for i in result.items}
    assert (items["ours"].status, items["ours"].managed) == ("ingested", True)
    assert items["other"].status == "skipped"
    assert "example.com is not managed here" in items["other"].reason
    assert "EMAIL_INFRA_DMARC_MANAGED_ONLY" in items["other"].reason
    assert set(await stored_reports(app)) == {"ours"}


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from email_infrastructure.core.settings import Settings

    monkeypatch.setenv("EMAIL_INFRA_DMARC_MANAGED_ONLY", "true")
    assert Settings().dmarc_managed_only is True
    monkeypatch.delenv("EMAIL_INFRA_DMARC_MANAGED_ONLY")
    assert Settings().dmarc_managed_only is False


# -- item 10: the ratio is checked while inflating -----------------------------------------------------


def bomb_then_padding(tmp_path: Path) -> Path:
    """A gzip member inflating 256 KiB → 64 MiB, then 2 MiB of incompressible bytes in a second member.

    The whole file is ~2.3 MB for 66 MiB of output (about 30:1): only a ratio taken against the input
    consumed so far sees the bomb at its start.
    """
    begin, end = yesterday()
    head = aggregate([Row("192.0.2.1", 1)], dates=(begin, end)).replace(b"</feedback>", b"<pad>")
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [deflate.compress(head)]
    block = b"<p/>" * (MiB // 4)
    parts += [deflate.compress(block) for _ in range(64)]
    parts.append(deflate.flush())
    padding = gzip.compress(os.urandom(2 * MiB), compresslevel=0)
    return write(tmp_path, "bomb.xml.gz", b"".join(parts) + padding)


def test_a_gzip_bomb_is_refused_after_a_few_mib_whatever_follows_it(tmp_path: Path) -> None:
    path = bomb_then_padding(tmp_path)
    size = path.stat().st_size
    limits = ContainerLimits()
    assert 64 * MiB / size < limits.max_ratio  # measured against the whole file, this was no bomb
    [payload] = list(Extractor(limits).from_path(path))
    assert isinstance(payload, Payload) and payload.stream is not None and payload.meter is not None
    with pytest.raises(ReportRejected) as refused:
        read_all(payload.stream)
    assert "a compression bomb" in refused.value.reason
    assert payload.meter.total <= limits.ratio_floor + MiB  # inflated: the floor and one step past it
    assert payload.meter.consumed <= 64 * 1024  # compressed bytes taken: a few KiB of a ~2 MB file


async def test_an_ingested_bomb_is_skipped_and_nothing_is_stored(app: App, manage: Manage, tmp_path: Path) -> None:
    await manage()
    result = await ingest_paths(app, [bomb_then_padding(tmp_path)], OFFLINE)
    [item] = result.items
    assert item.status == "skipped" and "compression bomb" in item.reason
    assert await stored_reports(app) == {}
