"""Containers told apart by content, and bombs and damage turned into skip reasons."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

from email_infrastructure.dmarc.containers import ContainerLimits, Extractor, Payload, Unreadable
from email_infrastructure.dmarc.model import ReportRejected
from email_infrastructure.dmarc.xml import AggregateReader
from tests.dmarc.reports import Row, aggregate, failure_report, gz, mbox, report_email, tlsrpt, zipped

MiB = 1024 * 1024


def found(path: Path, limits: ContainerLimits | None = None) -> list[tuple[str, str, str]]:
    """(kind, origin suffix, first report id or reason) of everything in a file, read to the end."""
    out = []
    for item in Extractor(limits).from_path(path):
        if isinstance(item, Unreadable):
            out.append(("unreadable", item.origin, item.reason))
            continue
        assert isinstance(item, Payload)
        if item.kind == "aggregate":
            assert item.stream is not None
            try:
                reader = AggregateReader(item.stream)
                out.append(("aggregate", item.origin, reader.header().metadata.report_id))
                list(reader.records())
            except ReportRejected as exc:
                out[-1:] = [("rejected", item.origin, exc.reason)]
        elif item.kind == "tlsrpt":
            assert item.stream is not None
            out.append(("tlsrpt", item.origin, item.stream.read(-1)[:1].decode()))
        else:
            out.append((item.kind, item.origin, ""))
    return out


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_every_container_is_found_by_its_content_not_its_name(tmp_path: Path) -> None:
    xml = aggregate([Row("192.0.2.1", 1)], report_id="plain")
    cases = {
        # names that lie: the content decides
        "plain.json": xml,
        "gzipped.xml": gz(aggregate([Row("192.0.2.1", 1)], report_id="gz")),
        "zipped.gz": zipped(aggregate([Row("192.0.2.1", 1)], report_id="zip")),
        "report.eml": report_email(gz(aggregate([Row("192.0.2.1", 1)], report_id="eml")), "r.xml.gz"),
        "zip-in-mail.txt": report_email(
            zipped(aggregate([Row("192.0.2.1", 1)], report_id="emlzip")), "r.zip", "application/zip"
        ),
        "tls.xml": gz(tlsrpt()),
    }
    for name, data in cases.items():
        (kind, _, value), *rest = found(write(tmp_path, name, data))
        assert not rest, name
        expected = {"plain.json": ("aggregate", "plain"), "gzipped.xml": ("aggregate", "gz"),
                    "zipped.gz": ("aggregate", "zip"), "report.eml": ("aggregate", "eml"),
                    "zip-in-mail.txt": ("aggregate", "emlzip"), "tls.xml": ("tlsrpt", "{")}[name]  # fmt: skip
        assert (kind, value) == expected, name


def test_an_mbox_yields_each_message_and_a_failure_report_is_recognised(tmp_path: Path) -> None:
    messages = [report_email(gz(aggregate([Row("192.0.2.1", 1)], report_id=f"m{i}")), f"r{i}.xml.gz") for i in range(3)]
    messages.append(failure_report())
    messages.append(report_email(b"just words", "notes.bin", "application/octet-stream"))
    items = found(write(tmp_path, "reports.mbox", mbox(messages)))
    assert [(k, v) for k, _, v in items[:3]] == [("aggregate", "m0"), ("aggregate", "m1"), ("aggregate", "m2")]
    assert items[3][0] == "failure" and items[3][1].endswith("#4")
    assert items[4][0] == "unreadable" and "not a report" in items[4][2]


def test_truncated_archives_are_skipped_with_a_clear_reason(tmp_path: Path) -> None:
    data = gz(aggregate([Row(f"10.0.{i // 250}.{i % 250}", 1) for i in range(2000)]))
    [(kind, _, reason)] = found(write(tmp_path, "cut.xml.gz", data[: len(data) // 2]))
    assert kind == "rejected" and reason.startswith("truncated gzip")
    archive = zipped(aggregate([Row("192.0.2.1", 1)]))
    [(kind, _, reason)] = found(write(tmp_path, "cut.zip", archive[: len(archive) - 30]))
    assert kind == "unreadable" and "truncated or damaged zip" in reason


def test_a_gzip_cut_within_its_first_read_is_skipped_not_a_crash(tmp_path: Path) -> None:
    # found through the API upload: the first 4 KiB were read outside the error handling
    data = gz(aggregate([Row("192.0.2.1", 1)]))
    [(kind, _, reason)] = found(write(tmp_path, "short.xml.gz", data[:20]))
    assert kind in ("rejected", "unreadable") and "truncated gzip" in reason, (kind, reason)


def test_a_gzip_bomb_stops_at_the_ratio_limit(tmp_path: Path) -> None:
    head = aggregate([Row("192.0.2.1", 1)]).replace(b"</feedback>", b"<pad>")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as out:
        out.write(head)
        for _ in range(64):
            out.write(b"<p/>" * (MiB // 4))  # 64 MiB of empty elements compress to ~64 KiB
    bomb = write(tmp_path, "bomb.xml.gz", buffer.getvalue())
    [(kind, _, reason)] = found(bomb, ContainerLimits(ratio_floor=4 * MiB, max_ratio=200))
    assert kind == "rejected" and "compression bomb" in reason
    [(kind, _, reason)] = found(bomb, ContainerLimits(max_bytes=2 * MiB, max_ratio=10**9))
    assert kind == "rejected" and "size limit" in reason


def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.xml", b"<" + b" " * (32 * MiB))
    [(kind, _, reason)] = found(write(tmp_path, "bomb.zip", buffer.getvalue()))
    assert kind == "unreadable" and "compression bomb" in reason


def test_empty_unknown_and_report_less_messages(tmp_path: Path) -> None:
    assert found(write(tmp_path, "empty.xml", b"")) == [("unreadable", str(tmp_path / "empty.xml"), "empty file")]
    [(kind, _, reason)] = found(write(tmp_path, "noise.bin", b"\x00\x01binary"))
    assert kind == "unreadable" and "not a report" in reason
    plain = report_email(b"", "x", "application/octet-stream").replace(b"Content-Disposition", b"X-Dropped")
    [(kind, _, reason)] = found(write(tmp_path, "plain.eml", plain))
    assert kind == "unreadable" and "no report in the message" in reason
