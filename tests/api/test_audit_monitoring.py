"""`POST /api/v1/audit` and the monitoring results against a real PowerDNS with known defects."""

from __future__ import annotations

from typing import Any

from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import MakeApi
from tests.fixtures.pdns import PowerDns
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
