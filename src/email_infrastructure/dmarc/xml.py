"""A streaming parser of DMARC aggregate reports: RFC 7489 appendix C, the pre-RFC draft, RFC 9990.

lxml's `iterparse` hands out each `record` as soon as it is complete; it is cleared and dropped
from the tree at once, so memory stays flat whatever the report's size. The parser never
resolves entities, never loads a DTD nor anything from the network, keeps libxml2's size limits
(`huge_tree=False`), and a document that carries a DTD at all is refused before its first record.

A document that is not well-formed XML is refused with libxml2's reason; when it is small
(`REPAIR_LIMIT`) and complete (it ends with `</feedback>`), `repair()` rebuilds it with libxml2's
recover mode under the same restrictions, and the caller stores it marked as repaired (docs/dmarc.md).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lxml import etree

from email_infrastructure.dmarc.model import (
    AuthResult,
    MalformedXML,
    PolicyPublished,
    Reason,
    Record,
    ReportHeader,
    ReportMetadata,
    ReportRejected,
)

if TYPE_CHECKING:
    from email_infrastructure.dmarc.containers import Readable

RFC9990_NAMESPACE = "urn:ietf:params:xml:ns:dmarc-2.0"
#: elements that exist only in RFC 9990 (a report carrying one is RFC 9990 without the namespace)
RFC9990_ONLY = frozenset({"generator", "np", "testing", "discovery_method"})
_TAGS = ("{*}version", "{*}report_metadata", "{*}policy_published", "{*}record")
#: reports may arrive a little before their end date by the receiver's clock
CLOCK_SKEW = timedelta(days=1)
#: older than DMARC itself: a broken generator (or the RFC 9990 example), stored with a note
EARLIEST = datetime(2012, 1, 1, tzinfo=UTC)
#: the columns' widths: a longer report id or org name is not a report id (5,000,000 characters were sent)
MAX_REPORT_ID = 255
MAX_ORG_NAME = 253
#: a malformed document is repaired only when it is at most this large (it is parsed whole)
REPAIR_LIMIT = 8 * 1024 * 1024
#: a complete document ends with the end tag of `feedback` (then maybe a stray wrapper's end tags)
_FEEDBACK_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?feedback\s*>(?:\s|</[^<>]{1,200}>)*\Z")
#: an address in angle brackets written as text (`<email><dmarc@example.com></email>`): `@` is never in a name
_BARE_ADDRESS = re.compile(rb"<([^<>\s\"'/!?=]{1,200}@[^<>\s\"'=]{1,200})>")
_RECORD_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?record[\s>]")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


#: tag → local name: a report repeats a few dozen tags, so the lookup replaces a split per element
_LOCAL: dict[str, str] = {}
#: lxml's options for every report parse, strict or repairing: no entity, DTD or network, bounded trees
_SAFE: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _local(tag: str) -> str:
    local = _LOCAL.get(tag)
    if local is None:
        local = tag[tag.rfind("}") + 1 :]
        if len(_LOCAL) < 4096:  # a hostile document with endless distinct tags must not grow it
            _LOCAL[tag] = local
    return local


def _address(text: str) -> str | None:
    """The canonical form of an IPv4 or IPv6 address (inet_pton: ten times faster than ipaddress)."""
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except OSError:
        pass
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
    except OSError:
        return None


def _text(element: Any) -> str:
    text = element.text
    return text.strip() if text else ""


class _PrologGuard:
    """Reads the prolog ahead of lxml and refuses a DTD before libxml2 sees a byte of it.

    A DTD can only stand before the root element; past the root's first `<` the stream passes
    through untouched. The document's own check (docinfo) stays as a second line.
    """

    LIMIT = 64 * 1024

    def __init__(self, inner: Readable) -> None:
        self._inner = inner
        self._pending = self._prolog()

    def _prolog(self) -> bytes:
        data = b""
        position = 0
        while True:
            start = data.find(b"<", position)
            if start < 0 or len(data) - start < 10:
                if len(data) > self.LIMIT:
                    raise ReportRejected(f"no root element in the first {self.LIMIT:,} bytes")
                chunk = self._inner.read(8192)
                if not chunk:
                    return data
                data += chunk
                continue
            ahead = data[start : start + 9]
            if ahead.startswith(b"<!DOCTYPE"):
                raise ReportRejected("XML with a DTD (<!DOCTYPE …>) is refused: entities are never expanded")
            end_marker = b"?>" if ahead.startswith(b"<?") else b"-->" if ahead.startswith(b"<!--") else None
            if end_marker is None:
                return data  # the root element (or a syntax error lxml will name)
            end = data.find(end_marker, start + 2)
            if end < 0:
                if len(data) > self.LIMIT:
                    raise ReportRejected(f"no root element in the first {self.LIMIT:,} bytes")
                chunk = self._inner.read(8192)
                if not chunk:
                    return data
                data += chunk
                continue
            position = end + len(end_marker)

    def read(self, size: int = -1, /) -> bytes:
        """The prolog first, then the rest as it comes."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._inner.read(size)


class _Copy:
    """Passes a stream through and keeps what went by, up to `limit` bytes, for a repair."""

    def __init__(self, inner: Readable, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self._parts: list[bytes] | None = []
        self._kept = 0

    def read(self, size: int = -1, /) -> bytes:
        """What the inner stream gives, remembered while under the limit."""
        data = self._inner.read(size)
        self._keep(data)
        return data

    def _keep(self, data: bytes) -> None:
        if self._parts is None or not data:
            return
        self._kept += len(data)
        if self._kept > self._limit:
            self._parts = None  # too large to repair: keep nothing
        else:
            self._parts.append(data)

    def whole(self) -> bytes | None:
        """The whole document (the rest read now, through the same limits), or None when too large."""
        while self._parts is not None:
            data = self._inner.read(64 * 1024)
            if not data:
                return b"".join(self._parts)
            self._keep(data)
        return None


def repair(document: bytes) -> tuple[bytes, int, str]:
    """A malformed but complete report rebuilt by libxml2's recover mode: (document, errors, first error).

    Bounded: the caller keeps the document only up to `REPAIR_LIMIT`; entities are never resolved,
    no DTD nor anything from the network is loaded, libxml2's size limits stay; a DTD is refused,
    and so is a document that does not end with `</feedback>` (cut short: records would be lost).
    An address written in angle brackets as text is escaped first, so it is kept, not turned into a tag.
    """
    if _DTD.search(document):
        raise ReportRejected("XML with a DTD (<!DOCTYPE …>) is refused: entities are never expanded")
    if not _FEEDBACK_END.search(document[-4096:]):
        raise ReportRejected("it does not end with </feedback> (cut short?), so it is not repaired")
    document = _BARE_ADDRESS.sub(rb"&lt;\1&gt;", document)
    parser = etree.XMLParser(recover=True, **_SAFE)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise ReportRejected(f"beyond repair: {exc.msg or exc}") from None
    if root is None:
        raise ReportRejected("beyond repair: nothing is left of it")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ReportRejected("XML with a DTD (<!DOCTYPE …>) is refused: entities are never expanded")
    written = len(_RECORD_START.findall(document))
    records = list(root.iter("{*}record"))
    nested = any(True for r in records for _ in r.iterancestors("{*}record"))
    kept = len(records)
    if nested or kept != written:  # a record lost or swallowed by another: the counts would lie
        raise ReportRejected(f"beyond repair: {written:,} record(s) written, {kept:,} as repaired")
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    first = errors[0].message.strip() if errors else ""
    return etree.tostring(root, encoding="utf-8", xml_declaration=True), len(errors), first


def _children(element: Any) -> dict[str, str]:
    local = _LOCAL
    return {local.get(c.tag) or _local(c.tag): (c.text or "").strip() for c in element}


class AggregateReader:
    """`reader.header()` then `for record in reader.records()`: one pass over the stream."""

    def __init__(
        self,
        stream: Readable,
        *,
        now: datetime | None = None,
        max_count: int = 10_000_000,
        keep_for_repair: int = REPAIR_LIMIT,
    ) -> None:
        self._copy = _Copy(stream, keep_for_repair) if keep_for_repair > 0 else None
        self._events = etree.iterparse(
            _PrologGuard(self._copy or stream),
            events=("end",),
            tag=_TAGS,
            **_SAFE,
        )
        self._now = now or datetime.now(UTC)
        self._max_count = max_count
        self._version = ""
        self._namespace: str | None = None
        self._meta: dict[str, str] = {}
        self._errors: list[str] = []
        self._policy: dict[str, str] = {}
        self._header: ReportHeader | None = None
        self._first: Any = None
        self.record_count = 0

    def header(self) -> ReportHeader:
        """Metadata and published policy (reads up to the first record)."""
        if self._header is None:
            for element in self._elements():
                if _local(element.tag) == "record":
                    self._first = element
                    break
            self._header = self._build_header()
        return self._header

    def records(self) -> Iterator[Record]:
        """Each record once, in document order, as soon as it is complete."""
        self.header()
        if self._first is None:
            return
        yield self._record(self._first)
        self._drop(self._first)
        self._first = None
        for element in self._elements():
            if _local(element.tag) == "record":
                yield self._record(element)
                self._drop(element)

    # -- reading -----------------------------------------------------------------------------------

    def _elements(self) -> Iterator[Any]:
        try:
            for _, element in self._events:
                if self._namespace is None:
                    self._check_document(element)
                tag = _local(element.tag)
                if tag == "record":
                    yield element
                elif tag == "report_metadata":
                    self._read_metadata(element)
                elif tag == "policy_published":
                    self._policy = _children(element)
                elif tag == "version":
                    self._version = _text(element)
        except etree.XMLSyntaxError as exc:
            reason = f"malformed XML: {exc.msg or exc}"
            document = self._copy.whole() if self._copy is not None else None
            raise MalformedXML(reason, document) from None
        if self._namespace is None:
            root = getattr(self._events, "root", None)
            if root is not None:
                self._check_document(root)

    def _check_document(self, element: Any) -> None:
        """Refuse DTDs; find `feedback` (maybe inside a stray wrapper) and its namespace."""
        docinfo = element.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise ReportRejected("XML with a DTD (<!DOCTYPE …>) is refused: entities are never expanded")
        feedback = element.getparent()
        if feedback is None or _local(feedback.tag) != "feedback":
            if _local(element.tag) == "feedback":
                feedback = element
            else:
                raise ReportRejected("not a DMARC aggregate report: no <feedback> element")
        tag = feedback.tag
        self._namespace = tag[1 : tag.find("}")] if tag.startswith("{") else ""

    @staticmethod
    def _drop(element: Any) -> None:
        element.clear()
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]

    def _read_metadata(self, element: Any) -> None:
        for child in element:
            name = _local(child.tag)
            if name == "date_range":
                for part in child:
                    self._meta[f"date_{_local(part.tag)}"] = _text(part)
            elif name == "error":
                self._errors.append(_text(child))
            else:
                self._meta[name] = _text(child)

    # -- building and checking ---------------------------------------------------------------------

    def _record(self, element: Any) -> Record:
        # The hot loop of a large report: one tag lookup per element, no helper calls, no dicts.
        number = self.record_count + 1
        names = _LOCAL
        record = Record()
        count_text = None
        for section in element:
            name = names.get(section.tag) or _local(section.tag)
            if name == "row":
                for child in section:
                    field = names.get(child.tag) or _local(child.tag)
                    if field == "source_ip":
                        record.source_ip = (child.text or "").strip()
                    elif field == "count":
                        count_text = child.text or ""
                    elif field == "policy_evaluated":
                        self._policy_evaluated(record, child)
            elif name in ("identifiers", "identities"):
                for child in section:
                    field = names.get(child.tag) or _local(child.tag)
                    value = (child.text or "").strip().lower()
                    if field == "header_from":
                        record.header_from = value
                    elif field == "envelope_from":
                        record.envelope_from = value
                    elif field == "envelope_to":
                        record.envelope_to = value
            elif name == "auth_results":
                for result in section:
                    kind = names.get(result.tag) or _local(result.tag)
                    domain = outcome = selector = scope = human = ""
                    for child in result:
                        field = names.get(child.tag) or _local(child.tag)
                        value = (child.text or "").strip()
                        if field == "domain":
                            domain = value.lower()
                        elif field == "result":
                            outcome = value.lower()
                        elif field == "selector":
                            selector = value
                        elif field == "scope":
                            scope = value.lower()
                        elif field == "human_result":
                            human = value
                    if kind == "dkim":
                        record.dkim_results.append(AuthResult(domain, outcome, selector, scope, human))
                    elif kind == "spf":
                        record.spf_results.append(AuthResult(domain, outcome, selector, scope, human))
        if count_text is not None:
            record.count = self._count(count_text.strip(), number)
        if not record.source_ip:
            raise ReportRejected(f"record {number} has no source_ip")
        address = _address(record.source_ip)
        if address is None:
            raise ReportRejected(f"record {number}: source_ip {record.source_ip[:60]!r} is not an IP address")
        record.source_ip = address
        if not record.header_from:
            raise ReportRejected(f"record {number} has no header_from")
        self.record_count = number
        return record

    @staticmethod
    def _policy_evaluated(record: Record, element: Any) -> None:
        names = _LOCAL
        for child in element:
            field = names.get(child.tag) or _local(child.tag)
            if field == "disposition":
                record.disposition = (child.text or "").strip().lower()
            elif field == "dkim":
                record.dkim = (child.text or "").strip().lower()
            elif field == "spf":
                record.spf = (child.text or "").strip().lower()
            elif field == "reason":
                reason = _children(child)
                if reason.get("type"):
                    record.reasons.append(Reason(reason["type"].lower(), reason.get("comment", "")))

    def _count(self, text: str, number: int) -> int:
        try:
            count = int(text)
        except ValueError:
            raise ReportRejected(f"record {number}: count {text[:40]!r} is not a number") from None
        if count < 0:
            raise ReportRejected(f"record {number}: count {count} is negative")
        if count > self._max_count:
            raise ReportRejected(f"record {number}: count {count} is absurd (more than {self._max_count:,} messages)")
        return count

    def _timestamp(self, key: str) -> datetime:
        text = self._meta.get(f"date_{key}", "")
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (ValueError, OverflowError, OSError):
            raise ReportRejected(f"date_range {key} {text[:40]!r} is not a Unix time") from None

    def _build_header(self) -> ReportHeader:
        if self._namespace is None:
            raise ReportRejected("not a DMARC aggregate report: no <feedback> element")
        meta, policy = self._meta, self._policy
        if not meta:
            raise ReportRejected("report_metadata is missing (or comes after the records)")
        email = meta.get("email", "")
        org = meta.get("org_name", "") or email.rpartition("@")[2].strip("<> ").lower()
        if not org:
            raise ReportRejected("report_metadata has no org_name (nor an email to take it from)")
        if len(org) > MAX_ORG_NAME:
            raise ReportRejected(f"report_metadata: org_name is {len(org):,} characters long (at most {MAX_ORG_NAME})")
        report_id = meta.get("report_id", "")
        if not report_id:
            raise ReportRejected("report_metadata has no report_id")
        if len(report_id) > MAX_REPORT_ID:
            raise ReportRejected(
                f"report_metadata: report_id is {len(report_id):,} characters long (at most {MAX_REPORT_ID})"
            )
        domain = policy.get("domain", "").lower().rstrip(".")
        if not domain:
            raise ReportRejected("policy_published has no domain (or comes after the records)")
        begin, end = self._timestamp("begin"), self._timestamp("end")
        if end < begin:
            raise ReportRejected(f"date_range is reversed: it ends ({end:%Y-%m-%d %H:%M}) before it begins")
        notes = []
        if begin < EARLIEST:
            notes.append(f"date_range begins {begin:%Y-%m-%d}, before DMARC existed (2012): stored as sent")
        if end > self._now + CLOCK_SKEW:
            raise ReportRejected(f"date_range ends in the future ({end:%Y-%m-%d %H:%M} UTC)")
        pct_text = policy.get("pct", "")
        rfc9990 = self._namespace == RFC9990_NAMESPACE or any(k in RFC9990_ONLY for k in (*meta, *policy))
        schema = "rfc9990" if rfc9990 else ("rfc7489" if self._version else "draft")
        return ReportHeader(
            schema=schema,
            namespace=self._namespace,
            version=self._version,
            metadata=ReportMetadata(
                org_name=org,
                email=email,
                report_id=report_id,
                begin=begin,
                end=end,
                extra_contact_info=meta.get("extra_contact_info", ""),
                errors=tuple(self._errors),
                generator=meta.get("generator", ""),
            ),
            policy=PolicyPublished(
                domain=domain,
                adkim=policy.get("adkim", "").lower(),
                aspf=policy.get("aspf", "").lower(),
                p=policy.get("p", "").lower(),
                sp=policy.get("sp", "").lower(),
                pct=int(pct_text) if pct_text.isdigit() else None,
                fo=policy.get("fo", ""),
                np=policy.get("np", "").lower(),
                testing=policy.get("testing", "").lower(),
                discovery_method=policy.get("discovery_method", "").lower(),
            ),
            notes=tuple(notes),
        )
