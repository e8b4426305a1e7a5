"""What `audit`, `blacklist` and `monitor` print: evidence, fixes, 80 columns, markup, formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli.conftest import Cli
from tests.cli.test_monitoring_commands import ns, write_inventory
from tests.fixtures.pdns import PowerDns

LONG = "a-rather-long-sending-subdomain.of-a-fairly-long-organisation-name.test"


def test_at_80_columns_full_names_appear_and_nothing_is_cut(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli(
        "audit", LONG, "good.test", "--nameserver", ns(audit_dns), "--checks", "spf,dmarc", env={"COLUMNS": "80"}
    )
    assert LONG in result.stdout
    assert "…" not in result.stdout.split("\n\n")[0]  # the table: Rich's ellipsis cuts `dom…`
    assert max(len(line) for line in result.stdout.splitlines() if "┃" in line or "│" in line) <= 80


def test_findings_print_as_written_with_their_fix(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli("audit", "markup.test", "--nameserver", ns(audit_dns), "--checks", "spf", env={"COLUMNS": "80"})
    assert "[bold]x[/bold]" in result.stdout, result.stdout
    assert "fix: fix the term as RFC 7208" in result.stdout


def test_drift_prints_what_was_seen_and_what_was_wanted(cli: Cli, audit_dns: PowerDns, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, audit_dns, ["good.test"], "[]")
    result = cli("audit", "-f", str(inventory), "--checks", "drift", env={"COLUMNS": "80"})
    assert "drift.changed" in result.stdout, result.stdout
    assert "want: " in result.stdout and "live: " in result.stdout
    assert "fix: `email-infra plan DOMAIN`, then `email-infra apply DOMAIN`" in result.stdout


def test_a_listing_shows_the_lists_reason_and_delisting_page(cli: Cli, audit_dns: PowerDns) -> None:
    table = cli("blacklist", "127.0.0.20", "--nameserver", ns(audit_dns), "--zones", "zen.spamhaus.org")
    assert table.returncode == 1
    assert "reason: Listed by XBL, see https://check.spamhaus.org/query/ip/127.0.0.20" in table.stdout
    assert "delisting: https://check.spamhaus.org/" in table.stdout
    data = json.loads(
        cli(
            "blacklist", "127.0.0.20", "--nameserver", ns(audit_dns), "--zones", "zen.spamhaus.org", "--format", "json"
        ).stdout
    )
    assert data["status"] == "error"
    assert data["results"][0]["reason"].startswith("Listed by XBL")
    assert data["results"][0]["delisting"] == "https://check.spamhaus.org/"


def test_blacklist_reads_lists_and_nameservers_from_the_inventory(
    cli: Cli, audit_dns: PowerDns, tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path, audit_dns, ["good.test"], "[bl.spamcop.net]")
    # the inventory's nameserver is the loopback PowerDNS; its list is the only one asked
    result = cli("blacklist", "-f", str(inventory), "127.0.0.20", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["target"], r["zone"], r["status"]) for r in rows] == [("127.0.0.20", "bl.spamcop.net", "listed")]
    assert result.returncode == 1


def test_blocklist_is_an_alias_of_the_dnsbl_check(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli(
        "audit",
        "listed.test",
        "--nameserver",
        ns(audit_dns),
        "--checks",
        "blocklist",
        "--zones",
        "dbl.spamhaus.org",
        "--format",
        "json",
    )
    checks = json.loads(result.stdout)["domains"][0]["checks"]
    assert checks["dnsbl"]["findings"][0]["id"] == "dnsbl.listed"


def test_jsonl_writes_one_object_per_domain_ip_and_list(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli(
        "audit",
        "good.test",
        "plusall.test",
        "--nameserver",
        ns(audit_dns),
        "--checks",
        "spf,mx,dnsbl",
        "--zones",
        "zen.spamhaus.org",
        "--format",
        "jsonl",
    )
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["domain"] for d in lines if "domain" in d) == ["good.test", "plusall.test"]
    assert [d["ip"] for d in lines if "ip" in d] == ["127.0.0.10"]
    assert [z["zone"] for z in lines if "zone" in z] == ["zen.spamhaus.org"]
    plusall = next(d for d in lines if d.get("domain") == "plusall.test")
    assert plusall["checks"]["spf"]["findings"][0]["id"] == "spf.plus_all"


def test_monitor_once_lines_formats_and_quiet(cli: Cli, audit_dns: PowerDns, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, audit_dns, ["good.test"], "[zen.spamhaus.org]")
    as_json = cli("monitor", "-f", str(inventory), "--once", "--format", "json", "--family", "blocklist")
    assert [r["family"] for r in json.loads(as_json.stdout)["runs"]] == ["blacklist"]
    assert "blacklist: " in as_json.stderr  # the run line, out of the JSON's way
    quiet = cli("monitor", "-f", str(inventory), "--once", "--format", "csv", "--family", "ptr", "--quiet")
    assert quiet.stderr.count("ptr: ") == 0
    rows = list(csv.DictReader(io.StringIO(quiet.stdout)))
    assert {(r["family"], r["subject"], r["check"]) for r in rows} == {("ptr", "127.0.0.10", "ptr")}


def test_the_checks_help_names_every_check() -> None:
    from email_infrastructure.cli.audit import CHECK_NAMES
    from email_infrastructure.monitoring.audit import ALL_CHECKS

    # the help text is spelled out so `--help` does not import the audit engine
    assert [c.split()[0] for c in CHECK_NAMES.split(",")] == list(ALL_CHECKS)
