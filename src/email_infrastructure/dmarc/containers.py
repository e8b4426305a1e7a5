"""Where reports come in: raw XML or JSON, gzip, zip, e-mail attachments, mbox — told apart by content.

A file's name and a part's declared MIME type are unreliable (dmarc-reports.md §2), so every
container is recognised by its first bytes. Decompression is streamed through `Bounded`, which
enforces a size cap and a compression-ratio cap while the data comes out (output so far against the
compressed input consumed so far): a zip or gzip bomb stops within a few MiB of output, it never
fills memory or disk nor burns CPU. Anything that cannot be read becomes an `Unreadable` with its
reason; what was read but is worth knowing (bytes after the gzip data) becomes a note of the payload.
"""

from __future__ import annotations

import gzip
import mailbox
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from io import BytesIO
from pathlib import Path
from typing import IO, Protocol

from email_infrastructure.dmarc.model import ReportRejected

MiB = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]")
_HEAD = 4096
#: compressed bytes handed to zlib at a time, and decompressed bytes asked of a stream at a time:
#: the limits are checked between steps, so a bomb costs at most one step beyond them
_IN_STEP = 16 * 1024
_OUT_STEP = 256 * 1024


class Readable(Protocol):
    """Anything with `read(size)` returning bytes."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        ...


@dataclass(frozen=True)
class ContainerLimits:
    """Caps against bombs and oversized input (settings `dmarc_max_*`; defaults in docs/dmarc.md)."""

    #: decompressed bytes of one report document
    max_bytes: int = 1024 * MiB
    #: decompressed/compressed, checked once past `ratio_floor` bytes (small files compress oddly)
    max_ratio: int = 200
    ratio_floor: int = 4 * MiB
    #: one e-mail message (an .eml, an mbox entry, an IMAP message)
    max_message_bytes: int = 64 * MiB
    #: members of one zip, attachments of one message
    max_members: int = 16


@dataclass
class Payload:
    """One report document found in a container: a bounded stream, or a failure-report message."""

    origin: str
    kind: str  # "aggregate" | "tlsrpt" | "failure"
    stream: Readable | None = None
    message: EmailMessage | None = None
    #: what is worth knowing about the container (filled while the stream is read, e.g. trailing bytes)
    notes: list[str] = field(default_factory=list)
    #: the decompressing stream's counters (compressed bytes consumed, bytes out), None for plain data
    meter: Bounded | None = None


@dataclass(frozen=True)
class Unreadable:
    """Something that is not a report we can read, and why."""

    origin: str
    reason: str


Found = Payload | Unreadable


class Bounded:
    """A decompressing stream cut off at the size and ratio limits; damage becomes a skip reason.

    The ratio is output so far ÷ compressed input consumed so far (`consumed`; without it, the
    whole compressed size), checked after every step of at most `_OUT_STEP` bytes: a bomb is
    refused once `ratio_floor` bytes have come out, whatever follows it in the file.
    """

    def __init__(
        self,
        inner: Readable,
        compressed_size: int,
        limits: ContainerLimits,
        what: str,
        consumed: Callable[[], int] | None = None,
    ) -> None:
        self._inner = inner
        self._compressed = max(compressed_size, 1)
        self._consumed = consumed
        self._limits = limits
        self._what = what
        self.total = 0

    @property
    def consumed(self) -> int:
        """Compressed bytes consumed so far (the whole compressed size when the stream cannot tell)."""
        return self._consumed() if self._consumed is not None else self._compressed

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` decompressed bytes (fewer only at the end of the data)."""
        limits = self._limits
        want = limits.max_bytes + 1 - self.total if size is None or size < 0 else size
        parts: list[bytes] = []
        got = 0
        while got < want:
            step = max(1, min(want - got, _OUT_STEP, limits.max_bytes + 1 - self.total))
            try:
                data = self._inner.read(step)
            except EOFError:
                raise ReportRejected(f"truncated {self._what}: the data ends before the end-of-stream marker") from None
            except (zlib.error, gzip.BadGzipFile, zipfile.BadZipFile, OSError) as exc:
                raise ReportRejected(f"damaged {self._what}: {exc}") from None
            if not data:
                break
            parts.append(data)
            got += len(data)
            self.total += len(data)
            if self.total > limits.max_bytes:
                raise ReportRejected(f"{self._what} expands beyond the size limit of {limits.max_bytes:,} bytes")
            if self.total > limits.ratio_floor:
                consumed = max(self.consumed, 1)
                if self.total / consumed > limits.max_ratio:
                    raise ReportRejected(
                        f"{self._what} expands more than {limits.max_ratio}:1 (a compression bomb): "
                        f"{consumed:,} bytes gave {self.total:,} so far"
                    )
        return b"".join(parts)


class GzipMembers:
    """The decompressed data of one or more gzip members (RFC 1952 §2.2: a file may hold several).

    Bytes after the last complete member that do not start another member (a CRLF added by a mail
    gateway, zero padding) are ignored and noted in `notes`. Each call inflates at most `size`
    bytes from at most `_IN_STEP` compressed bytes, and `consumed` says how much compressed input
    zlib has taken so far: the ratio limit can be checked while the data comes out.
    """

    #: trailing bytes counted for the note at most (the rest is not read)
    JUNK_COUNTED = 1024 * 1024

    def __init__(self, inner: Readable, notes: list[str]) -> None:
        self._inner = inner
        self._notes = notes
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._pending = b""  # read from `inner` but not yet given to zlib
        self._fed = 0  # given to zlib (its unconsumed tail included)
        self._done = False

    @property
    def consumed(self) -> int:
        """Compressed bytes zlib has consumed (those it has not yet taken are not counted)."""
        return self._fed - len(self._inflater.unconsumed_tail)

    def _input(self) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending[:_IN_STEP], self._pending[_IN_STEP:]
            return chunk
        return self._inner.read(_IN_STEP)

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` decompressed bytes (b"" after the last member)."""
        size = _OUT_STEP if size is None or size < 0 else max(size, 1)
        while not self._done:
            inflater = self._inflater
            if inflater.unconsumed_tail:
                data = inflater.decompress(inflater.unconsumed_tail, size)
            else:
                chunk = self._input()
                if not chunk:
                    raise EOFError("gzip data ends before the end-of-stream marker")
                self._fed += len(chunk)
                data = inflater.decompress(chunk, size)
            if inflater.eof:
                self._after_member(inflater.unused_data)
            if data:
                return data
        return b""

    def _after_member(self, rest: bytes) -> None:
        """After a member's end: another member, the end of the file, or trailing junk (noted)."""
        self._fed -= len(rest)  # read past the member's end: not consumed by it
        rest += self._pending
        self._pending = b""
        while len(rest) < 2:
            more = self._inner.read(_IN_STEP)
            if not more:
                break
            rest += more
        if not rest:
            self._done = True
        elif rest.startswith(GZIP_MAGIC):
            self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            self._pending = rest
        else:
            self._done = True
            ignored = len(rest)
            while ignored <= self.JUNK_COUNTED:
                more = self._inner.read(_IN_STEP)
                if not more:
                    break
                ignored += len(more)
            amount = f"more than {self.JUNK_COUNTED:,}" if ignored > self.JUNK_COUNTED else f"{ignored:,}"
            self._notes.append(f"{amount} byte(s) after the end of the gzip data ignored (starting {rest[:4]!r})")


class Peeked:
    """A stream whose first bytes were read to recognise it, replayed first."""

    def __init__(self, inner: Readable) -> None:
        self._inner = inner
        self.head = inner.read(_HEAD)
        self._pending = self.head

    def read(self, size: int = -1, /) -> bytes:
        """The head first, then the rest."""
        if self._pending:
            if size is None or size < 0:
                data, self._pending = self._pending + self._inner.read(), b""
                return data
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return self._inner.read(size)


def sniff(head: bytes) -> str:
    """gzip, zip, xml, json, mbox, email or unknown, from the first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZIP_MAGICS):
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "xml"
    if text.startswith(b"{"):
        return "json"
    if head.startswith(b"From "):
        return "mbox"
    if _HEADER_LINE.match(head):
        return "email"
    return "unknown"


NOT_A_REPORT = "not a report: neither XML, JSON, gzip, zip nor an e-mail message"


class Extractor:
    """Finds the report documents in files, folders, messages and the containers inside them."""

    def __init__(self, limits: ContainerLimits | None = None) -> None:
        self.limits = limits or ContainerLimits()

    # -- files -------------------------------------------------------------------------------------

    def from_path(self, path: Path) -> Iterator[Found]:
        """Every report in a file (a folder: every file below it, in name order)."""
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                yield from self.from_path(child)
            return
        origin = str(path)
        try:
            handle = path.open("rb")
        except OSError as exc:
            yield Unreadable(origin, f"cannot read: {exc.strerror or exc}")
            return
        with handle:
            size = path.stat().st_size
            if size == 0:
                yield Unreadable(origin, "empty file")
                return
            head = handle.read(_HEAD)
            handle.seek(0)
            kind = sniff(head)
            if kind == "zip":
                yield from self._zip(handle, origin)
            elif kind == "mbox":
                yield from self._mbox(path, origin)
            elif kind == "email":
                if size > self.limits.max_message_bytes:
                    yield Unreadable(origin, f"message larger than {self.limits.max_message_bytes:,} bytes")
                else:
                    yield from self.from_message(handle.read(), origin)
            else:
                yield from self._stream(handle, size, origin, kind)

    def _stream(self, handle: IO[bytes] | Readable, size: int, origin: str, kind: str) -> Iterator[Found]:
        if kind == "gzip":
            notes: list[str] = []
            members = GzipMembers(handle, notes)
            meter = Bounded(members, size, self.limits, "gzip data", consumed=lambda: members.consumed)
            try:  # the first read can fail already (a gzip cut short within its first block)
                inner = Peeked(meter)
                inside = sniff(inner.head)
            except ReportRejected as exc:
                yield Unreadable(origin, exc.reason)
                return
            if inside not in ("xml", "json"):
                yield Unreadable(origin, "gzip data that holds neither an XML nor a JSON report")
                return
            kind = "aggregate" if inside == "xml" else "tlsrpt"
            yield Payload(origin, kind, inner, notes=notes, meter=meter)
        elif kind == "xml":
            yield Payload(origin, "aggregate", Bounded(handle, 1, self._plain(), "XML"))
        elif kind == "json":
            yield Payload(origin, "tlsrpt", Bounded(handle, 1, self._plain(), "JSON"))
        else:
            yield Unreadable(origin, NOT_A_REPORT)

    def _plain(self) -> ContainerLimits:
        """Uncompressed data: the size cap only."""
        return ContainerLimits(self.limits.max_bytes, max_ratio=2**62, ratio_floor=2**62)

    def _zip(self, handle: IO[bytes], origin: str) -> Iterator[Found]:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            yield Unreadable(origin, f"truncated or damaged zip: {exc}")
            return
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if not members:
                yield Unreadable(origin, "empty zip")
            if len(members) > self.limits.max_members:
                yield Unreadable(origin, f"zip with {len(members)} members (at most {self.limits.max_members})")
                return
            for member in members:
                where = f"{origin} > {member.filename}"
                problem = self._member_problem(member)
                if problem:
                    yield Unreadable(where, problem)
                    continue
                try:
                    raw = archive.open(member)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
                    yield Unreadable(where, f"damaged zip member: {exc}")
                    continue
                with raw:
                    meter = Bounded(
                        raw, member.compress_size, self.limits, "zip member", consumed=_zip_consumed(raw, member)
                    )
                    try:
                        inner = Peeked(meter)
                        kind = sniff(inner.head)
                    except ReportRejected as exc:
                        yield Unreadable(where, exc.reason)
                        continue
                    if kind not in ("xml", "json"):
                        yield Unreadable(where, "zip member that is neither an XML nor a JSON report")
                        continue
                    yield Payload(where, "aggregate" if kind == "xml" else "tlsrpt", inner, meter=meter)

    def _member_problem(self, member: zipfile.ZipInfo) -> str:
        limits = self.limits
        if member.flag_bits & 0x1:
            return "encrypted zip member"
        if member.file_size > limits.max_bytes:
            return f"zip member declares {member.file_size:,} bytes, beyond the size limit of {limits.max_bytes:,}"
        if member.file_size > limits.ratio_floor and member.file_size / max(member.compress_size, 1) > limits.max_ratio:
            return (
                f"zip member expands more than {limits.max_ratio}:1 (a compression bomb): "
                f"{member.compress_size:,} bytes declare {member.file_size:,}"
            )
        return ""

    # -- messages ----------------------------------------------------------------------------------

    def _mbox(self, path: Path, origin: str) -> Iterator[Found]:
        box = mailbox.mbox(path, create=False)
        try:
            for number, key in enumerate(box.iterkeys(), start=1):
                data = box.get_bytes(key)
                where = f"{origin} #{number}"
                if len(data) > self.limits.max_message_bytes:
                    yield Unreadable(where, f"message larger than {self.limits.max_message_bytes:,} bytes")
                    continue
                yield from self.from_message(data, where)
        finally:
            box.close()

    def from_message(self, data: bytes, origin: str) -> Iterator[Found]:
        """The reports of one e-mail message: attachments, or the message itself for a failure report."""
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        if is_failure_report(message):
            yield Payload(origin, "failure", message=message)
            return
        found = 0
        for part in message.walk():
            if part.is_multipart() or part.get_content_maintype() == "message":
                continue
            filename = part.get_filename() or ""
            if part.get_content_maintype() == "text" and not filename and part.get_content_subtype() != "xml":
                continue
            try:
                content = part.get_payload(decode=True)
            except (ValueError, TypeError):
                continue
            if not isinstance(content, bytes) or not content:
                continue
            where = f"{origin} > {filename or part.get_content_type()}"
            found += 1
            if found > self.limits.max_members:
                yield Unreadable(origin, f"more than {self.limits.max_members} attachments")
                return
            yield from self._bytes(content, where)
        if not found:
            yield Unreadable(origin, "no report in the message (no XML, gzip, zip or JSON attachment)")

    def _bytes(self, content: bytes, origin: str) -> Iterator[Found]:
        kind = sniff(content[:_HEAD])
        if kind == "zip":
            yield from self._zip(BytesIO(content), origin)
        elif kind in ("gzip", "xml", "json"):
            yield from self._stream(BytesIO(content), len(content), origin, kind)
        else:
            yield Unreadable(origin, "an attachment that is not a report")


def _zip_consumed(raw: object, member: zipfile.ZipInfo) -> Callable[[], int]:
    """Compressed bytes a zip member's reader has taken so far (its whole size if it cannot tell)."""

    def consumed() -> int:
        left = getattr(raw, "_compress_left", None)  # ZipExtFile's count of compressed bytes still unread
        return member.compress_size - left if isinstance(left, int) else member.compress_size

    return consumed


def is_failure_report(message: Message) -> bool:
    """An RFC 6591 report: multipart/report; report-type=feedback-report, or a feedback-report part."""
    if message.get_content_type() == "multipart/report" and message.get_param("report-type") == "feedback-report":
        return True
    return any(part.get_content_type() == "message/feedback-report" for part in message.walk())
