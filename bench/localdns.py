"""A PowerDNS for benchmarks: zones written straight into its SQLite database, served on port 53.

checkdmarc's -n and pydnsbl's resolver take addresses on port 53 only, so this binds a loopback
address such as 127.0.0.2 on port 53 (root needed, as in CI).
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
from tests.fixtures.pdns import SCHEMA, PowerDns, free_port

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
    """Start pdns_server on an existing database in `directory`."""
    api_port = free_port()
    key = "bench-key"
    (directory / "pdns.conf").write_text(
        "\n".join(
            [
                "launch=gsqlite3",
                f"gsqlite3-database={directory / 'pdns.sqlite3'}",
                f"local-address={address}",
                f"local-port={port}",
                "api=yes",
                f"api-key={key}",
                "webserver=yes",
                "webserver-address=127.0.0.1",
                f"webserver-port={api_port}",
                "webserver-allow-from=127.0.0.0/8",
                f"socket-dir={directory}",
                "daemon=no",
                "guardian=no",
                "setuid=",
                "setgid=",
                "distributor-threads=2",
                "receiver-threads=2",
                "loglevel=3",
                "",
            ]
        )
    )
    log = (directory / "pdns.log").open("wb")
    process = subprocess.Popen(["pdns_server", f"--config-dir={directory}"], stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{api_port}"
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError((directory / "pdns.log").read_text()[-2000:])
        try:
            if httpx.get(f"{api}/api/v1/servers/localhost", headers={"X-API-Key": key}, timeout=1).status_code == 200:
                return PowerDns(address, port, api, key, process, directory)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("pdns_server did not start")


def queries_answered(server: PowerDns) -> int:
    """UDP + TCP queries PowerDNS has answered so far."""
    stats = httpx.get(
        f"{server.api_url}/api/v1/servers/localhost/statistics", headers={"X-API-Key": server.api_key}, timeout=5
    ).json()
    values = {s["name"]: int(s["value"]) for s in stats if s.get("type") == "StatisticItem"}
    return values.get("udp-queries", 0) + values.get("tcp-queries", 0)
