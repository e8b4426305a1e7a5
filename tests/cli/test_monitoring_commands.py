"""`audit`, `blacklist`, `monitor --once` and `metrics` through the CLI, against the test DNS server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli.conftest import Cli
from tests.fixtures.pdns import PowerDns


def ns(pdns: PowerDns) -> str:
    return f"{pdns.address}:{pdns.dns_port}"


def write_inventory(directory: Path, pdns: PowerDns, domains: list[str], blacklists: str, extra: str = "") -> Path:
    """An inventory whose domains live in the test DNS server, mail host 127.0.0.10."""
    path = directory / "inventory.yaml"
    listed = "".join(f"  - name: {d}\n" for d in domains)
    path.write_text(
        "version: 1\n"
        "providers: {dns: {local: {type: zonefile}}}\n"
        "servers:\n  - {name: mx1, hostname: mail.good.test, ipv4: 127.0.0.10}\n"
        "defaults: {dns_provider: local, server: mx1}\n"
        f"domains:\n{listed}"
        f'monitoring:\n  nameservers: ["{ns(pdns)}"]\n  blacklists: {blacklists}\n{extra}'
    )
    return path


def test_audit_any_domain_json_and_exit_codes(cli: Cli, audit_dns: PowerDns) -> None:
    good = cli(
        "audit",
        "good.test",
        "--nameserver",
        ns(audit_dns),
        "--format",
        "json",
        "--zones",
        "zen.spamhaus.org,dbl.spamhaus.org",
    )
    # nothing at error, but MTA-STS could not be determined (no HTTPS here): 3, not 0
    assert good.returncode == 3, good.stdout + good.stderr
    data = json.loads(good.stdout)
    domain = data["domains"][0]
    assert domain["domain"] == "good.test"
    assert {c: domain["checks"][c]["status"] for c in ("spf", "dkim", "dmarc", "mx", "dnsbl")} == dict.fromkeys(
        ("spf", "dkim", "dmarc", "mx", "dnsbl"), "ok"
    )
    # nothing serves https://mta-sts.good.test here: unknown, never an error
    assert domain["checks"]["mta_sts"]["status"] == "unknown"
    assert domain["status"] == "unknown"
    assert set(domain["checks"]) >= {"spf", "dkim", "dmarc", "mx", "dnsbl", "compliance"}
    assert data["ips"][0]["ip"] == "127.0.0.10"

    bad = cli(
        "audit",
        "nothing.test",
        "manylookups.test",
        "--nameserver",
        ns(audit_dns),
        "--format",
        "json",
        "--checks",
        "spf,dmarc,dkim",
    )
    assert bad.returncode == 1
    found = {
        d["domain"]: {f["id"] for c in d["checks"].values() for f in c["findings"]}
        for d in json.loads(bad.stdout)["domains"]
    }
    assert {"spf.missing", "dmarc.missing", "dkim.missing"} <= found["nothing.test"]
    assert "spf.too_many_lookups" in found["manylookups.test"]


def test_audit_csv_and_table(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli("audit", "plusall.test", "--nameserver", ns(audit_dns), "--format", "csv", "--checks", "spf")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows == [
        {
            "subject": "plusall.test",
            "check": "spf",
            "status": "error",
            "finding": "spf.plus_all",
            "severity": "error",
            "message": "+all authorises every host on the Internet to send as this domain",
        }
    ]
    table = cli("audit", "plusall.test", "--nameserver", ns(audit_dns), "--checks", "spf")
    assert "spf.plus_all" in table.stdout


def test_audit_usage_errors_exit_2(cli: Cli, audit_dns: PowerDns) -> None:
    assert cli("audit").returncode == 2
    assert cli("audit", "good.test", "--checks", "spf,nope").returncode == 2
    assert cli("audit", "bad..name", "--nameserver", ns(audit_dns)).returncode == 2
    assert cli("audit", "good.test", "--nameserver", "not-an-ip").returncode == 2


def test_blacklist_json(cli: Cli, audit_dns: PowerDns) -> None:
    result = cli(
        "blacklist",
        "127.0.0.20",
        "127.0.0.21",
        "listed.test",
        "--nameserver",
        ns(audit_dns),
        "--zones",
        "zen.spamhaus.org,dbl.spamhaus.org,not-served.example-bl.test",
        "--format",
        "json",
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    status = {(r["target"], r["zone"]): (r["status"], r["codes"]) for r in data["results"]}
    assert status[("127.0.0.20", "zen.spamhaus.org")] == ("listed", ["127.0.0.4"])
    assert status[("127.0.0.21", "zen.spamhaus.org")] == ("unknown", ["127.255.255.254"])
    assert status[("listed.test", "dbl.spamhaus.org")] == ("listed", ["127.0.1.2"])
    assert status[("127.0.0.20", "not-served.example-bl.test")][0] == "unknown"
    assert {z["zone"]: z["healthy"] for z in data["zones"]} == {
        "zen.spamhaus.org": True,
        "dbl.spamhaus.org": True,
        "not-served.example-bl.test": False,
    }
    clean = cli("blacklist", "127.0.0.30", "--nameserver", ns(audit_dns), "--zones", "zen.spamhaus.org")
    assert clean.returncode == 0


def test_monitor_once_stores_history_and_alerts_only_on_change(cli: Cli, audit_dns: PowerDns, tmp_path: Path) -> None:
    inventory = write_inventory(
        tmp_path, audit_dns, ["good.test", "nothing.test"], "[zen.spamhaus.org, dbl.spamhaus.org]"
    )
    first = cli("monitor", "-f", str(inventory), "--once", "--json")
    assert first.returncode == 1, first.stderr
    data = json.loads(first.stdout)
    assert [r["family"] for r in data["runs"]] == [
        "dns",
        "blacklist",
        "ptr",
        "tls",
        "mailbox",
        "sequencer",
        "registration",
        "delegation",
    ]
    changes = [c for r in data["runs"] for c in r["changes"]]
    assert {"subject": "nothing.test", "check": "spf", "from": None, "to": "error"} in changes
    domains = {d["domain"]: d for d in data["report"]["domains"]}
    # monitoring writes no key: with none in the vault there is no key to compare with
    assert "dkim.key_mismatch" not in {f["id"] for f in domains["good.test"]["checks"]["dkim"]["findings"]}
    assert "drift.missing" in {f["id"] for f in domains["good.test"]["checks"]["drift"]["findings"]}

    second = cli("monitor", "-f", str(inventory), "--once", "--json")
    assert [c for r in json.loads(second.stdout)["runs"] for c in r["changes"]] == []

    metrics = cli("metrics")
    assert metrics.returncode == 0
    assert 'email_infra_check_state{check="spf",state="error",subject="nothing.test"} 1.0' in metrics.stdout


def test_spamhaus_dqs_key_from_the_inventory_is_used_and_never_printed(
    cli: Cli, audit_dns: PowerDns, tmp_path: Path
) -> None:
    inventory = write_inventory(
        tmp_path, audit_dns, ["good.test"], "[zen.spamhaus.org]", "  spamhaus_dqs_key: env:TEST_DQS_KEY\n"
    )
    result = cli(
        "audit", "-f", str(inventory), "--checks", "dnsbl", "--format", "json", env={"TEST_DQS_KEY": "dqskey123"}
    )
    assert "dqskey123" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["zones"] == [{"zone": "<key>.zen.dq.spamhaus.net", "healthy": True, "reason": ""}]
    listing = data["ips"][0]["checks"]["dnsbl"]
    assert (data["ips"][0]["ip"], listing["findings"][0]["id"]) == ("127.0.0.10", "dnsbl.listed")
    assert "CSS" in listing["findings"][0]["message"]
