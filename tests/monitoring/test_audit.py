"""The audit engine over many domains: IP discovery, blocklists, compliance, drift, JSON shape."""

from __future__ import annotations

import pytest

from email_infrastructure.dns.records import Record
from email_infrastructure.monitoring.audit import DEFAULT_CHECKS, audit, single_addresses
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.dnsbl import resolve_zones
from email_infrastructure.monitoring.targets import plain_target


def test_single_addresses_from_spf() -> None:
    assert single_addresses("v=spf1 ip4:127.0.0.10 ip4:127.0.1.0/24 +ip6:::1/128 ip4:127.0.0.9/32 -all") == [
        "127.0.0.10",
        "::1",
        "127.0.0.9",
    ]


async def test_plain_audit_finds_ips_from_mx_and_spf(ctx: AuditContext) -> None:
    report = await audit(
        [plain_target("good.test", None)],
        ctx,
        set(DEFAULT_CHECKS),
        resolve_zones(["zen.spamhaus.org", "dbl.spamhaus.org"]),
    )
    data = report.to_json()
    assert [d["domain"] for d in data["domains"]] == ["good.test"]
    domain = data["domains"][0]
    assert domain["checks"]["spf"] == {"status": "ok", "findings": []}
    assert domain["checks"]["dkim"]["status"] == "ok"
    assert [i["ip"] for i in data["ips"]] == ["127.0.0.10"]
    assert data["ips"][0]["checks"]["ptr"]["status"] == "ok"
    assert data["ips"][0]["checks"]["dnsbl"]["status"] == "ok"
    gmail = next(f for f in domain["checks"]["compliance"]["findings"] if f["id"] == "compliance.gmail")
    assert "are met" in gmail["message"]
    assert {z["zone"]: z["healthy"] for z in data["zones"]} == {
        "zen.spamhaus.org": True,
        "dbl.spamhaus.org": True,
    }


async def test_listed_ip_and_tracking_host_and_error_status(ctx: AuditContext) -> None:
    target = DomainTarget(
        "policynone.test",
        selectors=["dkim"],
        selectors_declared=True,
        sending_ips=["127.0.0.20", "127.0.0.40"],
        tracking_hosts=["tracked.test"],
    )
    zones = resolve_zones(["zen.spamhaus.org", "multi.uribl.com", "mirror.example-bl.test"])
    report = await audit([target], ctx, set(DEFAULT_CHECKS), zones)
    ips = {r.subject: r for r in report.ips}
    assert ips["127.0.0.20"].checks["dnsbl"].ids() == {"dnsbl.listed"}
    # the mirror list answers 127.0.0.40 with an error code: unknown, never listed
    assert ips["127.0.0.40"].checks["dnsbl"].ids() == {"dnsbl.unknown"}
    assert ips["127.0.0.40"].checks["dnsbl"].status.value == "unknown"
    assert "dnsbl.listed" in report.domains[0].checks["dnsbl"].ids()
    assert report.status.value == "error"
    gmail = next(f for f in report.domains[0].checks["compliance"].findings if f.id == "compliance.gmail")
    assert "forward-confirmed PTR" in gmail.message


async def test_drift_missing_changed_and_second_spf(ctx: AuditContext) -> None:
    desired = [
        Record.make("twospf.test", "TXT", ["v=spf1 ip4:127.0.0.10 -all"]),
        Record.make("good.test", "MX", ["10 mail.good.test"]),
        Record.make("_dmarc.good.test", "TXT", ["v=DMARC1; p=none"]),
        Record.make("gone.good.test", "A", ["127.0.0.10"]),
    ]
    target = DomainTarget("good.test", selectors=["dkim"], selectors_declared=True, desired=desired)
    report = await audit([target], ctx, {"drift"}, [])
    findings = {(f.id, f.message.split(" ")[0]) for f in report.domains[0].checks["drift"].findings}
    assert findings == {
        ("drift.extra_spf", "twospf.test"),
        ("drift.changed", "_dmarc.good.test"),
        ("drift.missing", "gone.good.test"),
    }


async def test_many_domains_share_queries(ctx: AuditContext) -> None:
    targets = [plain_target(d, ["dkim"]) for d in ("good.test", "weakdkim.test", "policynone.test", "extrua.test") * 25]
    report = await audit(targets, ctx, {"spf", "dkim", "dmarc", "mx"}, [])
    assert len(report.domains) == 100
    assert ctx.resolver.stats.queries < 60


async def test_null_mx_domain_audits_without_crashing(ctx: AuditContext) -> None:
    report = await audit([plain_target("nullmx.test", ["dkim"])], ctx, {"spf", "dmarc", "mx", "mta_sts", "ptr"}, [])
    assert report.domains[0].checks["mx"].ids() == {"mx.null"}
    assert report.ips == []


async def test_a_failing_check_is_unknown_and_the_audit_goes_on(
    ctx: AuditContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from email_infrastructure.monitoring import audit as audit_module

    async def broken(target: DomainTarget, ctx: AuditContext) -> None:
        raise RuntimeError("unforeseen answer")

    monkeypatch.setattr(audit_module, "check_dkim", broken)
    report = await audit(
        [plain_target("good.test", ["dkim"]), plain_target("nothing.test", ["dkim"])], ctx, {"spf", "dkim"}, []
    )
    assert [r.checks["dkim"].ids() for r in report.domains] == [{"dkim.internal_error"}] * 2
    assert report.domains[1].checks["spf"].ids() == {"spf.missing"}


def test_odd_cidr_lengths_are_ignored() -> None:
    assert single_addresses("v=spf1 ip4:127.0.0.10/abc ip4:127.0.0.11 -all") == ["127.0.0.11"]


@pytest.mark.parametrize(
    ("domain", "finding", "severity"),
    [
        ("badsyntax.test", "spf.syntax", "error"),
        ("loop.test", "spf.loop", "error"),
        ("inclmissing.test", "spf.include_missing", "error"),
        ("manymx.test", "spf.too_many_mx", "error"),
        ("redirectall.test", "spf.redirect_ignored", "warning"),
    ],
)
async def test_spf_walk_problems_reach_the_report(ctx: AuditContext, domain: str, finding: str, severity: str) -> None:
    report = await audit([plain_target(domain, ["dkim"])], ctx, {"spf"}, [])
    findings = report.to_json()["domains"][0]["checks"]["spf"]["findings"]
    assert {(f["id"], f["severity"]) for f in findings} == {(finding, severity)}
