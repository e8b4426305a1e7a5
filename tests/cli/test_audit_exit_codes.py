"""Exit codes of `audit`, `blacklist` and `monitor --once` when no DNS server answers: 3, never 0."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.cli.test_monitoring_commands import ns, write_inventory
from tests.fixtures.pdns import PowerDns, free_port

FAST = ("--timeout", "0.05", "--deadline", "2")


@pytest.fixture
def silent() -> Iterator[str]:
    """A UDP socket on loopback that receives every query and answers none."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_an_audit_that_resolved_nothing_exits_3_and_says_so_everywhere(cli: Cli, silent: str) -> None:
    result = cli("audit", "example.test", "--nameserver", silent, *FAST, "--format", "json")
    assert result.returncode == 3, result.stdout + result.stderr
    data = json.loads(result.stdout)
    checks = data["domains"][0]["checks"]
    assert {name: c["status"] for name, c in checks.items()} == dict.fromkeys(checks, "unknown")
    # compliance does not say `ok` while its message says nothing was determined
    assert "compliance" in checks
    assert data["status"] == "unknown"


def test_a_closed_port_is_unknown_too(cli: Cli) -> None:
    result = cli("audit", "example.test", "--nameserver", f"127.0.0.1:{free_port()}", *FAST, "--checks", "spf,mx")
    assert result.returncode == 3, result.stdout + result.stderr


def test_errors_still_win_over_unknowns(cli: Cli, audit_dns: PowerDns) -> None:
    # plusall.test is an error; mta_sts of good.test is unknown: 1
    result = cli("audit", "plusall.test", "good.test", "--nameserver", ns(audit_dns), "--checks", "spf,mta_sts")
    assert result.returncode == 1


def test_warnings_alone_exit_0(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli("audit", "good.test", "--nameserver", ns(audit_dns), "--checks", "spf,dmarc,mx")
    assert result.returncode == 0, result.stdout


def test_blacklist_with_a_silent_resolver_says_it_once_not_once_per_list(cli: Cli, silent: str) -> None:
    result = cli(
        "blacklist",
        "127.0.0.20",
        "127.0.0.21",
        "example.test",
        "--nameserver",
        silent,
        "--timeout",
        "0.05",
        "--zones",
        "zen.spamhaus.org,bl.spamcop.net",
    )
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    said = f"unknown the resolver {silent} does not answer (no reply to 3 tries): nothing could be determined"
    assert lines == [said]
    # one undetermined row per target on stdout; no list named, none "broken"
    rows = [line for line in result.stdout.splitlines() if "undetermined" in line]
    assert [r.split()[1] for r in rows] == ["127.0.0.20", "127.0.0.21", "example.test"]
    assert "broken" not in result.stdout and "spamhaus" not in result.stdout


def test_blacklist_json_with_a_silent_resolver_carries_the_reason(cli: Cli, silent: str) -> None:
    result = cli("blacklist", "127.0.0.2", "--nameserver", silent, "--timeout", "0.05", "--format", "json")
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert data["status"] == "unknown"
    assert data["resolver_silent"].startswith(f"the resolver {silent} does not answer")
    assert [(r["target"], r["zone"], r["status"]) for r in data["results"]] == [("127.0.0.2", "*", "unknown")]
    assert data["zones"] == []


def test_an_audit_with_a_silent_resolver_says_it_once_not_a_timeout_per_check(cli: Cli, silent: str) -> None:
    result = cli("audit", "a.test", "b.test", "--nameserver", silent, *FAST)
    assert result.returncode == 3, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "(timeout)" not in output and "broken" not in output
    assert [line for line in output.splitlines() if "does not answer" in line] == [
        f"unknown the resolver {silent} does not answer (no reply to 3 tries): nothing could be determined"
    ]
    assert "a.test" in result.stdout and "b.test" in result.stdout


def test_monitor_once_with_nothing_answering_exits_3(cli: Cli, silent: str, tmp_path: Path, pdns: PowerDns) -> None:
    inventory = write_inventory(tmp_path, pdns, ["good.test"], "[zen.spamhaus.org]")
    result = cli("monitor", "-f", str(inventory), "--once", "--nameserver", f"127.0.0.1:{free_port()}", "--json")
    assert result.returncode == 3, result.stdout + result.stderr
    assert {r["status"] for r in json.loads(result.stdout)["runs"]} <= {"unknown", "ok"}
