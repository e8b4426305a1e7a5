"""The streaming aggregate parser on every form, and on hostile XML (no database involved)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from email_infrastructure.dmarc.model import ReportRejected
from email_infrastructure.dmarc.xml import AggregateReader
from tests.dmarc.reports import BILLION_LAUGHS, RFC9990_NS, Row, aggregate, xxe


def read(data: bytes) -> tuple[object, list[object]]:
    reader = AggregateReader(io.BytesIO(data))
    header = reader.header()
    return header, list(reader.records())


def rejected(data: bytes) -> str:
    def parse() -> None:
        reader = AggregateReader(io.BytesIO(data))
        reader.header()
        list(reader.records())

    with pytest.raises(ReportRejected) as caught:
        parse()
    return caught.value.reason


def test_rfc7489_form_with_every_field() -> None:
    rows = [
        Row("192.0.2.10", 42, dkim="pass", spf="fail", reasons=[("forwarded", "via list")],
            spf_auth=("bounce.acme-outreach.test", "mfrom", "softfail")),
        Row("2001:DB8::1", 3, dkim="fail", spf="fail", disposition="quarantine", envelope_from=None, dkim_auth=None),
    ]  # fmt: skip
    header, records = AggregateReader(io.BytesIO(aggregate(rows, report_id="17000001"))), None
    head = header.header()
    records = list(header.records())
    assert head.schema == "rfc7489" and head.version == "1.0" and head.namespace == ""
    assert head.metadata.org_name == "receiver.example" and head.metadata.report_id == "17000001"
    assert head.metadata.end - head.metadata.begin == timedelta(days=1)
    assert head.policy.domain == "acme-outreach.test" and head.policy.pct == 100 and head.policy.p == "none"
    first, second = records
    assert (first.source_ip, first.count, first.disposition, first.dkim, first.spf) == (
        "192.0.2.10", 42, "none", "pass", "fail",
    )  # fmt: skip
    assert first.dkim_aligned and not first.spf_aligned and first.dmarc_pass
    assert [(r.type, r.comment) for r in first.reasons] == [("forwarded", "via list")]
    assert [(a.domain, a.selector, a.result) for a in first.dkim_results] == [("acme-outreach.test", "s1", "pass")]
    assert [(a.domain, a.scope, a.result) for a in first.spf_results] == [
        ("bounce.acme-outreach.test", "mfrom", "softfail")
    ]
    assert first.envelope_from == "bounce.acme-outreach.test"
    # IPv6 in its canonical form; no envelope_from; no DKIM result
    assert second.source_ip == "2001:db8::1" and second.envelope_from == "" and second.dkim_results == []
    assert not second.dmarc_pass and second.disposition == "quarantine"


@pytest.mark.parametrize("form", ["rfc9990", "rfc9990-bare"])
def test_rfc9990_with_and_without_its_namespace(form: str) -> None:
    rows = [Row("192.0.2.20", 7, disposition="pass", envelope_from=None, spf_auth=("acme-outreach.test", "", "policy"),
                reasons=[("policy_test_mode", "")])]  # fmt: skip
    data = aggregate(rows, form=form)
    assert (f'xmlns="{RFC9990_NS}"'.encode() in data) == (form == "rfc9990")
    reader = AggregateReader(io.BytesIO(data))
    head = reader.header()
    (record,) = list(reader.records())
    assert head.schema == "rfc9990"
    assert head.namespace == (RFC9990_NS if form == "rfc9990" else "")
    assert head.metadata.generator == "receiver-mta 4.2"
    assert (head.policy.np, head.policy.testing, head.policy.discovery_method) == ("reject", "n", "treewalk")
    assert head.policy.pct is None
    assert record.disposition == "pass" and record.envelope_from == ""
    assert [(a.scope, a.result) for a in record.spf_results] == [("", "policy")]
    assert [r.type for r in record.reasons] == ["policy_test_mode"]


def test_the_draft_form_without_a_version_and_upper_case_results() -> None:
    data = aggregate([Row("192.0.2.30", 1)], form="draft").replace(b"<dkim>pass</dkim>", b"<dkim>Pass</dkim>")
    reader = AggregateReader(io.BytesIO(data))
    assert reader.header().schema == "draft"
    (record,) = list(reader.records())
    assert record.dkim == "pass"


def test_a_stray_wrapper_element_around_feedback_is_tolerated() -> None:
    data = aggregate([Row("192.0.2.31", 2)]).replace(b"<feedback>", b'<xs:schema xmlns:xs="urn:x"><feedback>')
    data = data.replace(b"</feedback>", b"</feedback></xs:schema>")
    reader = AggregateReader(io.BytesIO(data))
    assert reader.header().policy.domain == "acme-outreach.test"
    assert [r.count for r in reader.records()] == [2]


class CountingStream(io.BytesIO):
    """Remembers how far the parser has read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def test_records_come_out_while_the_document_is_still_being_read() -> None:
    data = aggregate([Row(f"10.0.{i // 250}.{i % 250}", 1) for i in range(20_000)])
    stream = CountingStream(data)
    records = AggregateReader(stream).records()
    first = next(records)
    assert first.source_ip == "10.0.0.0"
    assert stream.consumed < len(data) / 4  # streamed: the rest is still unread
    assert sum(1 for _ in records) == 19_999


def test_billion_laughs_is_refused_without_expanding_anything() -> None:
    reason = rejected(BILLION_LAUGHS)
    assert "DTD" in reason and "lol" not in reason


def test_an_external_entity_is_refused_and_the_file_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    reason = rejected(xxe(str(secret)))
    assert "DTD" in reason and "TOP-SECRET" not in reason


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.replace(b"</feedback>", b""), "malformed XML"),
        (lambda d: d.replace(b"<count>5</count>", b"<count>-5</count>"), "count -5 is negative"),
        (lambda d: d.replace(b"<count>5</count>", b"<count>99999999999</count>"), "absurd"),
        (lambda d: d.replace(b"<count>5</count>", b"<count>five</count>"), "not a number"),
        (lambda d: d.replace(b"<source_ip>192.0.2.40</source_ip>", b"<source_ip>not-an-ip</source_ip>"), "not an IP"),
        (lambda d: d.replace(b"<report_id>r-1</report_id>", b""), "no report_id"),
        (lambda d: d.replace(b"<feedback>", b"<other>").replace(b"</feedback>", b"</other>"), "no <feedback>"),
        (lambda d: b"", "malformed XML"),
    ],
)
def test_broken_reports_are_rejected_with_their_reason(mutate: object, expected: str) -> None:
    data = aggregate([Row("192.0.2.40", 5)])
    assert expected in rejected(mutate(data))  # type: ignore[operator]  # the parametrised lambdas


def test_reversed_and_future_dates_are_rejected_ancient_ones_are_noted() -> None:
    now = int(datetime.now(UTC).timestamp())
    assert "reversed" in rejected(aggregate([Row("192.0.2.41", 1)], dates=(now - 3600, now - 7200)))
    assert "future" in rejected(aggregate([Row("192.0.2.41", 1)], dates=(now + 5 * 86400, now + 6 * 86400)))
    header = AggregateReader(io.BytesIO(aggregate([Row("192.0.2.41", 1)], dates=(1000, 2000)))).header()
    assert any("before DMARC existed" in note for note in header.notes)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-7"])
def test_a_dtd_hidden_by_another_encoding_is_refused_too(tmp_path: Path, encoding: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    body = xxe(str(secret)).decode().split("\n", 1)[1]  # without its XML declaration
    declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
    # the byte scan for "<!DOCTYPE" cannot see these; the parsed document's own check does
    if encoding == "utf-16":
        data = (declaration + body).encode(encoding)
    else:  # UTF-7 may spell "<" as "+ADw-"
        data = declaration.encode() + body.encode(encoding).replace(b"<!DOCTYPE", b"+ADw-!DOCTYPE")
    assert b"<!DOCTYPE" not in data
    reason = rejected(data)
    assert "DTD" in reason and "TOP-SECRET" not in reason
