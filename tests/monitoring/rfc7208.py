"""The openspf RFC 7208 test suite (read from outside the repository) as PowerDNS rows.

Zone data follows the suite's drivers: an `SPF` entry is also served as TXT unless the name has a
TXT entry of its own (type SPF itself is retired, RFC 7208 §3.1, and never queried); `TXT: NONE`
means no TXT; `TIMEOUT` makes every type not listed before it fail — served as a LUA record that
raises, which PowerDNS answers with SERVFAIL. Addresses are moved onto loopback (the first octet
of an IPv4 address becomes 127, IPv6 becomes ::1): the audit never connects to them, and test
names must point at loopback only. A static audit does not use the sender's address, so this
changes none of the verdicts compared here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.fixtures.pdns import Row

ROOT = Path(__file__).resolve().parents[2]
_setting = Path(os.environ.get("EMAIL_INFRA_TEST_RFC7208_SUITE", "../shared/external-suites/rfc7208-tests.yml"))
SUITE = _setting if _setting.is_absolute() else (ROOT / _setting).resolve()
QUERIED_TYPES = ("TXT", "A", "AAAA", "MX", "PTR")
#: zones always created, so that a name the suite does not list is NXDOMAIN, not REFUSED
BASE_ZONES = ("com", "net", "org")


@dataclass(frozen=True)
class Case:
    """One test of one scenario: the domain whose record is judged, and the results allowed."""

    scenario: int
    section: str
    name: str
    domain: str
    results: frozenset[str]

    @property
    def id(self) -> str:
        """`section/test` for pytest ids and the allow-list."""
        return f"{self.section}/{self.name}"


def load_suite(path: Path = SUITE) -> list[dict[str, Any]]:
    """The suite's scenarios (YAML documents)."""
    with path.open("rb") as handle:
        return list(YAML(typ="safe", pure=True).load_all(handle))


def cases(scenarios: list[dict[str, Any]]) -> list[Case]:
    """Every test case; the judged domain is MAIL FROM's, else HELO (RFC 7208 §2.3, §2.4)."""
    out = []
    for index, scenario in enumerate(scenarios):
        for name, test in scenario["tests"].items():
            mailfrom = test.get("mailfrom") or ""
            domain = mailfrom.rpartition("@")[2] if mailfrom else test["helo"]
            result = test["result"]
            results = frozenset(result if isinstance(result, list) else [result])
            out.append(Case(index, scenario["description"], name, domain.lower(), results))
    return out


def _bytes(text: str) -> bytes:
    # the suite writes raw octets as \xNN escapes: code points below 256 are those octets
    return text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode()


def _txt(value: str | list[str]) -> str:
    strings = [value] if isinstance(value, str) else value
    quoted = []
    for string in strings:
        raw = _bytes(string)
        for chunk in [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]:
            body = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:03d}" for b in chunk)
            quoted.append(f'"{body}"')
    return " ".join(quoted)


def _row(name: str, rtype: str, value: Any) -> Row:
    if rtype == "TXT":
        return (name, "TXT", _txt(value), 0)
    if rtype == "A":
        return (name, "A", "127." + str(value).split(".", 1)[1], 0)
    if rtype == "AAAA":
        return (name, "AAAA", "::1", 0)
    if rtype == "MX":
        priority, host = value
        return (name, "MX", f"{host.rstrip('.')}." if host else ".", int(priority))
    return (name, rtype, f"{str(value).rstrip('.')}.", 0)  # PTR, CNAME


def zone_of(name: str) -> str:
    """The zone a suite name is served from: its top-level label (`arpa` for reverse names)."""
    return name.rstrip(".").rsplit(".", 1)[-1].lower()


def scenario_zones(scenario: dict[str, Any]) -> dict[str, list[Row]]:
    """zone → rows for one scenario's zone data."""
    zones: dict[str, list[Row]] = {zone: [] for zone in BASE_ZONES}
    for name, entries in scenario["zonedata"].items():
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        rows = zones.setdefault(zone_of(name), [])
        served: set[str] = set()
        for entry in entries:
            if entry == "TIMEOUT":
                for rtype in QUERIED_TYPES:
                    if rtype not in served:
                        rows.append((name, "LUA", f"{rtype} \"error('timeout')\"", 0))
                continue
            ((rtype, value),) = entry.items()
            if rtype == "SPF":
                if has_txt:
                    continue
                rtype = "TXT"
            if value == "NONE":
                continue
            served.add(rtype)
            rows.append(_row(name, rtype, value))
    return zones
