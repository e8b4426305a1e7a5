"""A PowerDNS for benchmarks: zones written straight into its SQLite database, served on port 53.

checkdmarc's -n and pydnsbl's resolver take addresses on port 53 only, so this binds a loopback
address such as 127.0.0.2 on port 53 (root needed, as in CI).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import httpx
from tests.fixtures.pdns import SCHEMA, PowerDns, start_pdns

Row = tuple[str, str, str]  # name, type, content (zone-file presentation)


def _split_priority(rtype: str, content: str) -> tuple[str, int]:
    # The generic SQL backends keep the MX/SRV priority in its own column, not in the content.
    if rtype in ("MX", "SRV"):
        priority, rest = content.split(None, 1)
        return rest, int(priority)
    return content, 0


def write_zones(database: Path, zones: dict[str, Iterable[Row]]) -> int:
    """Create the database and insert every zone with SOA and NS; returns the record count."""
    count = 0
    with sqlite3.connect(database) as conn:
        conn.executescript(SCHEMA.read_text())
        for zone, rows in zones.items():
            cur = conn.execute("INSERT INTO domains (name, type) VALUES (?, 'NATIVE')", (zone,))
            domain_id = cur.lastrowid
            base = [
                (zone, "SOA", "ns1.localhost. hostmaster.localhost. 1 10800 3600 604800 300"),
                (zone, "NS", "ns1.localhost."),
            ]
            batch = [(domain_id, n, t, *_split_priority(t, c), 300, 0, 1) for n, t, c in [*base, *rows]]
            conn.executemany(
                "INSERT INTO records (domain_id, name, type, content, prio, ttl, disabled, auth) VALUES (?,?,?,?,?,?,?,?)",
                batch,
            )
            count += len(batch)
    return count


def start(directory: Path, address: str = "127.0.0.2", port: int = 53) -> PowerDns:
    """Start pdns_server, caches on, on the database `write_zones` filled in `directory`."""
    return start_pdns(directory, address, port, fresh=False, cache=True)


def queries_answered(server: PowerDns) -> int:
    """UDP + TCP queries PowerDNS has answered so far."""
    stats = httpx.get(
        f"{server.api_url}/api/v1/servers/localhost/statistics", headers={"X-API-Key": server.api_key}, timeout=5
    ).json()
    values = {s["name"]: int(s["value"]) for s in stats if s.get("type") == "StatisticItem"}
    return values.get("udp-queries", 0) + values.get("tcp-queries", 0)
