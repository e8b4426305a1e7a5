"""`POST /api/v1/audit` and the monitoring results against a real PowerDNS with known defects."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import MakeApi
from tests.conftest import Cli
from tests.fixtures.pdns import PowerDns, free_port
from tests.services.conftest import WriteInventory, two_domains


def statuses(report: dict[str, Any]) -> dict[str, str]:
    domain = report["domains"][0]
    return {name: check["status"] for name, check in domain["checks"].items()}


async def test_an_ad_hoc_audit_uses_the_servers_resolvers(make_api: MakeApi, audit_dns: PowerDns) -> None:
    api = await make_api(nameservers=[f"{audit_dns.address}:{audit_dns.dns_port}"])
    good = await api.client.post(
        "/api/v1/audit", headers=api.auth("read"), json={"domains": ["good.test"], "checks": ["spf", "dmarc"]}
    )
    assert good.status_code == 200, good.text
    assert statuses(good.json()["data"]) == {"spf": "ok", "dmarc": "ok"}
    bare = await api.client.post(
        "/api/v1/audit", headers=api.auth(), json={"domains": ["nothing.test"], "checks": ["spf"]}
    )
    assert statuses(bare.json()["data"])["spf"] == "error"
    bad = await api.client.post(
        "/api/v1/audit", headers=api.auth(), json={"domains": ["good.test"], "checks": ["nope"]}
    )
    # check names are the schema's (an enum): an unknown one is refused by it
    assert bad.status_code == 422 and "unknown check" in bad.json()["error"]["details"][0]["msg"]
    # the client cannot choose where the server sends queries
    ignored = await api.client.post(
        "/api/v1/audit", headers=api.auth(), json={"domains": ["good.test"], "nameservers": ["192.0.2.1"]}
    )
    assert ignored.status_code == 422


async def test_run_a_check_now_then_read_latest_and_history(
    make_api: MakeApi, audit_dns: PowerDns, write_inventory: WriteInventory
) -> None:
    api = await make_api(nameservers=[f"{audit_dns.address}:{audit_dns.dns_port}"])
    await import_inventory(api.app, write_inventory(two_domains("good.test", "nothing.test")))
    run = await api.client.post(
        "/api/v1/monitoring/results", headers=api.auth("write"), json={"domain": "nothing.test", "family": "dns"}
    )
    assert run.status_code == 200, run.text
    assert run.json()["data"]["family"] == "dns" and run.json()["data"]["transitions"] > 0
    latest = await api.client.get("/api/v1/monitoring/results?subject=nothing.test", headers=api.auth())
    states = {s["check"]: s["status"] for s in latest.json()["data"]["items"]}
    assert states["spf"] == "error" and states["dmarc"] == "error"
    history = await api.client.get(
        "/api/v1/monitoring/results/history?subject=nothing.test&check=spf", headers=api.auth()
    )
    assert [r["status"] for r in history.json()["data"]["items"]] == ["error"]
    listed = await api.client.get("/api/v1/domains?status=error", headers=api.auth())
    assert [d["name"] for d in listed.json()["data"]["items"]] == ["nothing.test"]
    failed = await api.client.get("/api/v1/events?topic=monitoring.check.failed", headers=api.auth())
    assert failed.json()["data"]["items"], "a state change to error is in the audit log"
    unknown = await api.client.post(
        "/api/v1/monitoring/results", headers=api.auth("write"), json={"domain": "absent.test"}
    )
    assert unknown.status_code == 404
    family = await api.client.post(
        "/api/v1/monitoring/results", headers=api.auth("write"), json={"domain": "good.test", "family": "x"}
    )
    assert family.status_code == 422  # family names are the schema's enum


def _stored_fleet(pdns: PowerDns, good: str, bad: str) -> str:
    """Two domains on the test PowerDNS; only the stored `monitoring.nameservers` say where to ask."""
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
servers:
  - {{name: mx1, hostname: mail.{good}, ipv4: 127.0.0.10}}
defaults:
  dns_provider: pdns
  server: mx1
  dmarc: {{policy: none, rua: ["mailto:dmarc@{good}"]}}
monitoring:
  nameservers: ["{pdns.address}:{pdns.dns_port}"]
domains:
  - name: {good}
  - name: {bad}
"""


def verdicts(report: dict[str, Any], checks: frozenset[str]) -> dict[tuple[str, str], str]:
    """(domain, check) → status, for the checks asked."""
    return {
        (d["domain"], name): check["status"]
        for d in report["domains"]
        for name, check in d["checks"].items()
        if name in checks
    }


async def test_audit_api_and_monitor_agree_on_the_stored_state_drift_included(
    make_api: MakeApi,
    pdns: PowerDns,
    write_inventory: WriteInventory,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21 item 12: one resolver configuration (the stored monitoring.nameservers) and drift everywhere."""
    from email_infrastructure.monitoring.monitor import FAMILIES
    from email_infrastructure.services import plans
    from email_infrastructure.services.monitoring import MonitorRequest, MonitorService

    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    tag = uuid.uuid4().hex[:8]
    good, bad = f"same{tag}.test", f"moved{tag}.test"
    # the server's own resolver setting is a dead one: the stored monitoring.nameservers come first
    dead = f"127.0.0.1:{free_port()}"
    api = await make_api(nameservers=[dead])
    applied = await plans.apply(api.app, source=write_inventory(_stored_fleet(pdns, good, bad)))
    assert not applied.failed, [o.error for o in applied.failed]
    try:
        httpx.patch(  # someone edits the DMARC record at the provider (setup, not our code)
            f"{pdns.api_url}/api/v1/servers/localhost/zones/{bad}.",
            json={"rrsets": [_dmarc_rrset(bad)]},
            headers={"X-API-Key": pdns.api_key},
            timeout=10,
        ).raise_for_status()
        checks = FAMILIES["dns"]
        monitor = await MonitorService.create(api.app, MonitorRequest())
        try:
            (run,) = await monitor.run_once(["dns"])
        finally:
            await monitor.close()
        watched = verdicts(run.report.to_json(), checks)
        assert watched[(good, "spf")] == "ok" and watched[(good, "drift")] == "ok", watched
        assert watched[(bad, "drift")] == "error", watched

        body = {"domains": [good, bad], "checks": sorted(checks)}
        response = await api.client.post("/api/v1/audit", headers=api.auth(), json=body)
        assert response.status_code == 200, response.text
        assert verdicts(response.json()["data"], checks) == watched

        env = {"DATABASE_URL": api.app.settings.database_url or "", "EMAIL_INFRA_NAMESERVERS": dead}
        for args in ((good, bad), ()):  # named domains, and every stored one
            result = cli("audit", *args, "--checks", ",".join(sorted(checks)), "--format", "json", env=env)
            assert result.returncode == 1, result.stderr
            assert verdicts(json.loads(result.stdout), checks) == watched, args

        # an explicit --nameserver still wins over the stored ones
        explicit = cli("audit", good, "--nameserver", dead, "--timeout", "0.2", "--format", "json", env=env)
        assert json.loads(explicit.stdout).get("resolver_silent"), explicit.stdout
    finally:
        pdns.drop_zones([good, bad])


def _dmarc_rrset(zone: str) -> dict[str, Any]:
    return {
        "name": f"_dmarc.{zone}.",
        "type": "TXT",
        "ttl": 300,
        "changetype": "REPLACE",
        "records": [{"content": '"v=DMARC1; p=reject"', "disabled": False}],
    }
