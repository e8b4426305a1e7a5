"""The Record model: one normalisation of names, TTLs, values and TXT chunking for every provider."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import UserError

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
MIN_TTL, MAX_TTL = 60, 86400
TXT_CHUNK = 255


class RecordError(UserError):
    """A record is invalid or conflicts with another one."""


def fqdn(name: str) -> str:
    """Lowercase, no trailing dot: the one form names take inside the project."""
    return name.strip().rstrip(".").lower()


def txt_chunks(value: str) -> list[bytes]:
    """Split a logical TXT value into ≤255-byte character-strings (RFC 1035 §3.3.14).

    Splits on byte boundaries of the UTF-8 form without cutting a multi-byte character.
    """
    data = value.encode("utf-8")
    chunks: list[bytes] = []
    while data:
        cut = min(TXT_CHUNK, len(data))
        while cut < len(data) and cut > 0 and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        chunks.append(data[:cut])
        data = data[cut:]
    return chunks or [b""]


def _quote(chunk: bytes) -> str:
    text = chunk.decode("utf-8")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def txt_presentation(value: str) -> str:
    """Zone-file form of a TXT value: quoted ≤255-byte strings separated by spaces."""
    return " ".join(_quote(c) for c in txt_chunks(value))


_CHARSTRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(\d{3}|.)")


def _unescape(text: str) -> str:
    def sub(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code)) if code.isdigit() else code

    raw = _ESCAPE.sub(sub, text)
    # \DDD escapes are bytes; re-decode them as UTF-8 when they form one.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def parse_txt(content: str) -> str:
    """The logical value of TXT content: quoted character-strings are joined, bare text kept."""
    text = content.strip()
    if text.startswith('"') and text.endswith('"'):
        parts = _CHARSTRING.findall(text)
        if parts and _CHARSTRING.sub("", text).strip() == "":
            return "".join(_unescape(p) for p in parts)
    return text


def _norm_ip(value: str, version: int) -> str:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        raise RecordError(f"{value!r} is not an IPv{version} address") from None
    if ip.version != version:
        raise RecordError(f"{value!r} is not an IPv{version} address")
    return str(ip)


def _norm_host(value: str) -> str:
    host = fqdn(value)
    if host and not re.fullmatch(r"[a-z0-9_*](?:[a-z0-9_.-]*[a-z0-9])?", host):
        raise RecordError(f"{value!r} is not a host name")
    return host or "."


def normalise_value(rtype: str, value: str) -> str:
    """The canonical text of one value of a record of type `rtype`."""
    if rtype == "A":
        return _norm_ip(value, 4)
    if rtype == "AAAA":
        return _norm_ip(value, 6)
    if rtype in ("CNAME", "NS"):
        return _norm_host(value)
    if rtype == "MX":
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > 65535:
            raise RecordError(f"MX value {value!r} is not 'PRIORITY HOST'")
        return f"{int(parts[0])} {_norm_host(parts[1])}"
    if rtype == "SRV":
        parts = value.split()
        if len(parts) != 4 or not all(p.isdigit() and int(p) <= 65535 for p in parts[:3]):
            raise RecordError(f"SRV value {value!r} is not 'PRIORITY WEIGHT PORT TARGET'")
        return " ".join([*(str(int(p)) for p in parts[:3]), _norm_host(parts[3])])
    if rtype == "TXT":
        return value
    if rtype == "CAA":
        parts = value.split(None, 2)
        if len(parts) != 3:
            raise RecordError(f"CAA value {value!r} is not 'FLAGS TAG VALUE'")
        return f"{int(parts[0])} {parts[1].lower()} {parse_txt(parts[2])}"
    raise RecordError(f"record type {rtype} is not supported")


@dataclass(frozen=True, order=True)
class Record:
    """An RRset: every value of one name and type, with one TTL."""

    name: str
    type: str
    values: tuple[str, ...]
    ttl: int = 3600
    note: str = field(default="", compare=False)
    #: served through a CDN proxy (Cloudflare); only providers that proxy ever set it
    proxied: bool = False

    @classmethod
    def make(cls, name: str, rtype: str, values: Iterable[str], ttl: int = 3600, note: str = "") -> Record:
        """Build a normalised record, or raise RecordError."""
        rtype = rtype.upper()
        if rtype not in SUPPORTED_TYPES:
            raise RecordError(f"{fqdn(name)}: record type {rtype} is not supported")
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise RecordError(f"{fqdn(name)} {rtype}: TTL {ttl} is outside {MIN_TTL}..{MAX_TTL}")
        try:
            normalised = tuple(sorted({normalise_value(rtype, v) for v in values}))
        except RecordError as exc:
            raise RecordError(f"{fqdn(name)} {rtype}: {exc}") from None
        if not normalised:
            raise RecordError(f"{fqdn(name)} {rtype}: a record needs at least one value")
        if rtype == "CNAME" and len(normalised) > 1:
            raise RecordError(f"{fqdn(name)}: a CNAME has exactly one target")
        return cls(name=fqdn(name), type=rtype, values=normalised, ttl=ttl, note=note)

    @property
    def key(self) -> tuple[str, str]:
        """(name, type): what identifies the RRset."""
        return (self.name, self.type)

    def relative_name(self, zone: str) -> str:
        """The name relative to `zone` ('@' for the apex)."""
        if self.name == zone:
            return "@"
        return self.name[: -len(zone) - 1]

    def presentation(self, value: str) -> str:
        """One value in zone-file form (absolute names end with a dot)."""
        if self.type in ("CNAME", "NS"):
            return value if value == "." else value + "."
        if self.type == "MX":
            prio, host = value.split()
            return f"{prio} {host if host == '.' else host + '.'}"
        if self.type == "SRV":
            *nums, host = value.split()
            return " ".join([*nums, host if host == "." else host + "."])
        if self.type == "TXT":
            return txt_presentation(value)
        if self.type == "CAA":
            flags, tag, text = value.split(" ", 2)
            return f"{flags} {tag} {_quote(text.encode())}"
        return value

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form used in plans (`proxied` only when true)."""
        data: dict[str, Any] = {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}
        if self.proxied:
            data["proxied"] = True
        return data


def check_conflicts(records: Iterable[Record], where: str) -> None:
    """Refuse a CNAME beside other data, and more than one SPF record at one name."""
    by_name: dict[str, list[Record]] = {}
    for record in records:
        by_name.setdefault(record.name, []).append(record)
    for name, group in by_name.items():
        types = {r.type for r in group}
        if "CNAME" in types and len(types) > 1:
            others = ", ".join(sorted(types - {"CNAME"}))
            raise RecordError(f"{where}: {name} has a CNAME beside other data ({others})")
        spf = [v for r in group if r.type == "TXT" for v in r.values if v.lower().startswith("v=spf1")]
        if len(spf) > 1:
            raise RecordError(f"{where}: {name} has {len(spf)} SPF records; exactly one is allowed")
