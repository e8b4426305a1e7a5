"""Zone files: one RFC 1035 file per zone, deterministic, serial bumped only on change."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone

from email_infrastructure.core.component import Health, HealthStatus
from email_infrastructure.core.database import PRIVATE_DIR_MODE, make_dirs
from email_infrastructure.core.errors import ProviderError
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.dns.config import ZonefileSettings, soa_mailbox, zone_directory
from email_infrastructure.dns.plan import Action, Change
from email_infrastructure.dns.providers.base import DnsProvider
from email_infrastructure.dns.records import SUPPORTED_TYPES, Record, RecordError, parse_txt, txt_chunks

#: zone files are public data a name server (often another user) must read; never writable by others
ZONE_FILE_MODE = 0o644
ZONE_DIR_MODE = 0o755
_SERIAL = re.compile(r"^@\s+\d+\s+IN\s+SOA\s+\S+\s+\S+\s+\(\s*(\d+)", re.M)
MAX_SERIAL = 2**32 - 1  # RFC 1035: an unsigned 32-bit number
MAX_TTL = 2**31 - 1  # RFC 2181 §8
# Every line of a zone file is built from checked parts: settings and records may have been made
# by hand (model_construct, Record(...)) and one newline would add records or an $INCLUDE.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
# Patterns are used with fullmatch: `$` would also match before a final newline.
_RELATIVE_NAME = re.compile(rf"(?:\*|{_LABEL})(?:\.{_LABEL})*")
# Unquoted values (addresses, priorities, host names): no spaces but single ones, no ; ( ) " \ $
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._*:-]+(?: [A-Za-z0-9._*:-]+)*")
_CAA_TAG = re.compile(r"[a-z0-9]{1,15}")
_HEADER = (
    "; Managed by email-infrastructure; edits outside the inventory are kept only for records it does not manage.\n"
)


class ZonefileProvider(DnsProvider[ZonefileSettings]):
    """The embedded default: zone files under the data directory."""

    type = "zonefile"
    settings_model = ZonefileSettings

    @property
    def directory(self) -> Path:
        """Where the zone files live (relative paths are under the data directory, never above it)."""
        try:
            path = Path(zone_directory(self.settings.directory))
        except ValueError as exc:
            raise ProviderError(f"directory: {exc}", provider=self.name) from None
        return path if path.is_absolute() else self.context.data_dir / path

    def path(self, zone: str) -> Path:
        """The file of one zone."""
        return self.directory / f"{zone}.zone"

    async def zone_exists(self, zone: str) -> bool:
        """A zone exists once its file does."""
        return self.path(zone).is_file()

    async def list_records(self, zone: str) -> list[Record]:
        """Parse the zone file with dnspython."""
        path = self.path(zone)
        if not path.is_file():
            return []
        try:
            parsed = dns.zone.from_file(str(path), origin=zone + ".", relativize=False, check_origin=False)
        except (dns.exception.DNSException, OSError, UnicodeDecodeError) as exc:
            raise ProviderError(f"{path}: cannot parse zone file: {exc}", provider=self.name) from None
        records = []
        for name, rdataset in parsed.iterate_rdatasets():
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            owner = name.to_text().rstrip(".").lower()
            if rtype == "SOA" or (rtype == "NS" and owner == zone):
                continue
            values = [parse_txt(r.to_text()) if rtype == "TXT" else r.to_text() for r in rdataset]
            try:
                records.append(Record.make(owner, rtype, values, rdataset.ttl))
            except RecordError as exc:
                raise ProviderError(f"{path}: {exc}", provider=self.name) from None
        return sorted(records)

    async def apply_changes(self, zone: str, changes: list[Change]) -> None:
        """Rewrite the file from the current records plus the changes, atomically."""
        current = {r.key: r for r in await self.list_records(zone)}
        for change in changes:
            if change.action is Action.DELETE:
                current.pop(change.record.key, None)
            else:
                assert change.new is not None
                current[change.new.key] = change.new
        self.write(zone, sorted(current.values()))

    def apex_nameservers(self) -> list[str]:
        """The apex NS hosts, absolute; ProviderError for one that is not a host name."""
        try:
            hosts = [normalise_domain(ns) + "." for ns in self.settings.nameservers]
        except ValueError as exc:
            raise ProviderError(f"name server: {exc}", provider=self.name) from None
        if not hosts:
            raise ProviderError("at least one name server is needed", provider=self.name)
        return hosts

    def render_body(self, zone: str, records: list[Record]) -> str:
        """Everything after the SOA serial: deterministic for the same records."""
        lines = [f"@\t3600\tIN\tNS\t{ns}" for ns in self.apex_nameservers()]
        for record in records:
            try:
                owner = _owner(record, zone)
                if record.type not in SUPPORTED_TYPES:
                    raise ValueError(f"record type {record.type!r} is not supported")
                if not (isinstance(record.ttl, int) and 0 <= record.ttl <= MAX_TTL):
                    raise ValueError(f"TTL {record.ttl!r} is outside 0..{MAX_TTL}")
                values = [_presentation(record, value) for value in record.values]
            except ValueError as exc:
                raise ProviderError(f"{zone}: refusing to write {record.name!r}: {exc}", provider=self.name) from None
            lines += [f"{owner}\t{record.ttl}\tIN\t{record.type}\t{value}" for value in values]
        return "\n".join(lines) + "\n"

    def write(self, zone: str, records: list[Record]) -> bool:
        """Write the zone when its content changed; returns whether it did."""
        path = self.path(zone)
        body = self.render_body(zone, records)
        old_text = path.read_text(encoding="utf-8") if path.is_file() else ""
        old_serial = int(m.group(1)) if (m := _SERIAL.search(old_text)) else 0
        if old_text and old_text.endswith(body) and _strip_soa(old_text) == body:
            return False
        today = int(datetime.now(UTC).strftime("%Y%m%d")) * 100
        serial = max(old_serial + 1, today)
        if serial > MAX_SERIAL:
            raise ProviderError(
                f"{path}: the SOA serial {old_serial} cannot grow past {MAX_SERIAL}; reset it to "
                f"{today} (and its secondaries, RFC 1982) before the next apply",
                provider=self.name,
            )
        primary = self.apex_nameservers()[0]
        try:
            rname = soa_mailbox(self.settings.hostmaster, zone)
        except ValueError as exc:
            raise ProviderError(f"hostmaster: {exc}", provider=self.name) from None
        text = (
            _HEADER
            + f"$ORIGIN {zone}.\n$TTL 3600\n"
            + f"@\t3600\tIN\tSOA\t{primary} {rname} ( {serial} 3600 900 1209600 300 )\n"
            + body
        )
        if not Path(self.settings.directory).is_absolute():
            make_dirs(self.context.data_dir, PRIVATE_DIR_MODE)  # it also holds the database and vault key
        make_dirs(self.directory, ZONE_DIR_MODE)
        tmp = path.with_suffix(".zone.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, ZONE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), ZONE_FILE_MODE)  # exact, whatever the umask or a stale tmp file
            handle.write(text)
        os.replace(tmp, path)
        return True

    async def health(self) -> Health:
        """The directory must be writable."""
        directory = self.directory
        probe = directory if directory.exists() else directory.parent
        while not probe.exists():
            probe = probe.parent
        if os.access(probe, os.W_OK):
            return Health(HealthStatus.OK, f"zone files in {directory}")
        return Health(HealthStatus.DOWN, f"{directory} is not writable")


def _owner(record: Record, zone: str) -> str:
    """The record's name relative to the zone, when it is a name in the zone."""
    inside = record.name == zone or record.name.endswith("." + zone)
    owner = record.relative_name(zone) if inside else ""
    if owner != "@" and not (_RELATIVE_NAME.fullmatch(owner) and len(record.name) <= 253):
        raise ValueError(f"not a name in {zone}")
    return owner


def _presentation(record: Record, value: str) -> str:
    """One value in zone-file form; ValueError for text that could end the line or the record."""
    if record.type == "TXT":
        return " ".join(_quote(chunk) for chunk in txt_chunks(value))
    if record.type == "CAA":
        flags, tag, text = value.split(" ", 2) if value.count(" ") >= 2 else ("", "", "")
        if not (flags.isdigit() and int(flags) <= 255 and _CAA_TAG.fullmatch(tag)):
            raise ValueError(f"CAA value {value!r} is not 'FLAGS TAG VALUE'")
        return f"{int(flags)} {tag} {_quote(text.encode('utf-8'))}"
    text = record.presentation(value)
    if not _PLAIN_VALUE.fullmatch(text):
        raise ValueError(f"{record.type} value {value!r} is not a plain value")
    return text


def _quote(chunk: bytes) -> str:
    """A quoted character-string: quotes and backslashes escaped, control characters as \\DDD."""
    out = []
    for char in chunk.decode("utf-8"):
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _strip_soa(text: str) -> str:
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if "\tIN\tSOA\t" in line:
            return "".join(lines[index + 1 :])
    return ""
