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
from email_infrastructure.core.errors import ProviderError
from email_infrastructure.dns.config import ZonefileSettings
from email_infrastructure.dns.plan import Action, Change
from email_infrastructure.dns.providers.base import DnsProvider
from email_infrastructure.dns.records import Record, RecordError, parse_txt

_SERIAL = re.compile(r"^@\s+\d+\s+IN\s+SOA\s+\S+\s+\S+\s+\(\s*(\d+)", re.M)
_HEADER = (
    "; Managed by email-infrastructure; edits outside the inventory are kept only for records it does not manage.\n"
)


class ZonefileProvider(DnsProvider[ZonefileSettings]):
    """The embedded default: zone files under the data directory."""

    type = "zonefile"
    settings_model = ZonefileSettings

    @property
    def directory(self) -> Path:
        """Where the zone files live (relative paths are under the data directory)."""
        path = Path(self.settings.directory)
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

    def render_body(self, zone: str, records: list[Record]) -> str:
        """Everything after the SOA serial: deterministic for the same records."""
        lines = []
        for ns in self.settings.nameservers:
            lines.append(f"@\t3600\tIN\tNS\t{ns.rstrip('.')}.")
        for record in records:
            owner = record.relative_name(zone)
            for value in record.values:
                lines.append(f"{owner}\t{record.ttl}\tIN\t{record.type}\t{record.presentation(value)}")
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
        primary = self.settings.nameservers[0].rstrip(".") + "." if self.settings.nameservers else f"ns1.{zone}."
        hostmaster = self.settings.hostmaster.rstrip(".")
        rname = hostmaster + "." if "." in hostmaster else f"{hostmaster}.{zone}."
        text = (
            _HEADER
            + f"$ORIGIN {zone}.\n$TTL 3600\n"
            + f"@\t3600\tIN\tSOA\t{primary} {rname} ( {serial} 3600 900 1209600 300 )\n"
            + body
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".zone.tmp")
        tmp.write_text(text, encoding="utf-8")
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


def _strip_soa(text: str) -> str:
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if "\tIN\tSOA\t" in line:
            return "".join(lines[index + 1 :])
    return ""
