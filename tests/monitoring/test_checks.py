"""Each check against real DNS answers from PowerDNS (no mocked resolver)."""

from __future__ import annotations

from typing import Any

import pytest

from email_infrastructure.monitoring.checks.dkim import check_dkim
from email_infrastructure.monitoring.checks.dmarc import check_dmarc, walk_names
from email_infrastructure.monitoring.checks.mta_sts import (
    check_bimi,
    check_tls_rpt,
    mx_matches,
    parse_policy,
)
from email_infrastructure.monitoring.checks.mx import check_mx
from email_infrastructure.monitoring.checks.ptr import check_ptr
from email_infrastructure.monitoring.checks.spf import check_spf
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckStatus
from tests.monitoring.zones import KEY_2048


def target(name: str, **kwargs: Any) -> DomainTarget:
    return DomainTarget(name, selectors=["dkim"], selectors_declared=True, **kwargs)


@pytest.mark.parametrize(
    ("domain", "expected", "status"),
    [
        ("good.test", set(), CheckStatus.OK),
        ("nothing.test", {"spf.missing"}, CheckStatus.ERROR),
        ("twospf.test", {"spf.multiple_records"}, CheckStatus.ERROR),
        ("manylookups.test", {"spf.too_many_lookups"}, CheckStatus.ERROR),
        ("voids.test", {"spf.void_lookups"}, CheckStatus.ERROR),
        ("plusall.test", {"spf.plus_all"}, CheckStatus.ERROR),
        ("neutral.test", {"spf.ptr", "spf.neutral_all"}, CheckStatus.WARNING),
        ("loop.test", {"spf.loop"}, CheckStatus.ERROR),
        ("macroinclude.test", set(), CheckStatus.OK),
        ("sendermacro.test", {"spf.not_static"}, CheckStatus.UNKNOWN),
        ("allfirst.test", {"spf.plus_all"}, CheckStatus.ERROR),
    ],
)
async def test_spf(ctx: AuditContext, domain: str, expected: set[str], status: CheckStatus) -> None:
    result = await check_spf(target(domain), ctx)
    assert result.ids() == expected, result.findings
    assert result.status is status


async def test_spf_counts_lookups_through_includes(ctx: AuditContext) -> None:
    result = await check_spf(target("manylookups.test"), ctx)
    finding = next(f for f in result.findings if f.id == "spf.too_many_lookups")
    assert "the 11th is include:l10.provider.test" in finding.message


async def test_spf_covers_declared_ips(ctx: AuditContext) -> None:
    assert (await check_spf(target("good.test", sending_ips=["127.0.0.10", "127.0.1.7"]), ctx)).ids() == set()
    result = await check_spf(target("uncovered.test", sending_ips=["127.0.0.10"]), ctx)
    assert result.ids() == {"spf.ip_not_covered"}


async def test_spf_coverage_reads_mapped_ipv6_as_ipv4_and_never_guesses(ctx: AuditContext) -> None:
    # RFC 7208 §5: an IPv4-mapped IPv6 address is matched as the IPv4 address
    assert (await check_spf(target("good.test", sending_ips=["::ffff:127.0.0.10"]), ctx)).ids() == set()
    assert (await check_spf(target("macroinclude.test", sending_ips=["127.0.0.10"]), ctx)).ids() == set()
    for domain, also in (("sendermacro.test", set()), ("ptronly.test", {"spf.ptr"})):
        result = await check_spf(target(domain, sending_ips=["127.0.0.10"]), ctx)
        assert result.ids() == {"spf.not_static", *also}, domain
        assert result.status is CheckStatus.UNKNOWN
        assert any("cannot be determined statically" in f.message for f in result.findings)


async def test_two_spf_records_are_each_evaluated_in_sorted_order(ctx: AuditContext) -> None:
    result = await check_spf(target("twospf.test", sending_ips=["127.0.0.10"]), ctx)
    assert result.ids() == {"spf.multiple_records", "spf.ip_not_covered"}
    uncovered = [f for f in result.findings if f.id == "spf.ip_not_covered"]
    assert [f.evidence for f in uncovered] == [("v=spf1 -all",)]  # the -all record, not the other
    assert result.findings[0].evidence == ("v=spf1 -all", "v=spf1 ip4:127.0.0.10 -all")


@pytest.mark.parametrize(
    ("domain", "expected", "status"),
    [
        ("good.test", set(), CheckStatus.OK),
        ("nothing.test", {"dkim.missing"}, CheckStatus.ERROR),
        ("weakdkim.test", {"dkim.weak_key"}, CheckStatus.WARNING),
        ("tinydkim.test", {"dkim.weak_key"}, CheckStatus.ERROR),
        ("baddkim.test", {"dkim.invalid_key"}, CheckStatus.ERROR),
    ],
)
async def test_dkim(ctx: AuditContext, domain: str, expected: set[str], status: CheckStatus) -> None:
    result = await check_dkim(target(domain), ctx)
    assert result.ids() == expected, result.findings
    assert result.status is status


async def test_dkim_expected_key_and_common_selectors(ctx: AuditContext) -> None:
    assert (await check_dkim(target("good.test", expected_dkim={"dkim": KEY_2048}), ctx)).ids() == set()
    other = await check_dkim(target("weakdkim.test", expected_dkim={"dkim": KEY_2048}), ctx)
    assert "dkim.key_mismatch" in other.ids()
    guessed = await check_dkim(DomainTarget("good.test"), ctx)
    assert guessed.status is CheckStatus.OK
    missing = await check_dkim(DomainTarget("nothing.test"), ctx)
    assert missing.ids() == {"dkim.missing"}
    assert "common selectors" in missing.findings[0].message


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("good.test", set()),
        ("nothing.test", {"dmarc.missing"}),
        ("twospf.test", {"dmarc.multiple_records"}),
        (
            "badtag.test",
            {"dmarc.invalid_tag", "dmarc.partial", "dmarc.obsolete_tag", "dmarc.no_rua"},
        ),
        ("policynone.test", {"dmarc.policy_none"}),
        ("extrua.test", {"dmarc.unauthorized_destination"}),
        ("sub.parent.test", {"dmarc.inherited"}),
        ("upper.test", set()),
        ("lowerversion.test", {"dmarc.missing"}),
        ("duptag.test", {"dmarc.duplicate_tag"}),
    ],
)
async def test_dmarc(ctx: AuditContext, domain: str, expected: set[str]) -> None:
    result = await check_dmarc(target(domain), ctx)
    assert result.ids() == expected, result.findings


async def test_dmarc_external_authorisation_names_the_destination(ctx: AuditContext) -> None:
    result = await check_dmarc(target("extrua.test"), ctx)
    messages = [f.message for f in result.findings]
    assert len(messages) == 1
    assert messages[0].startswith("reports.test does not publish extrua.test._report._dmarc.reports.test")


def test_dmarc_walk_is_capped_at_eight_names() -> None:
    assert walk_names("a.b.example.test") == [
        "a.b.example.test",
        "b.example.test",
        "example.test",
        "test",
    ]
    long = ".".join(f"l{n}" for n in range(12)) + ".test"
    names = walk_names(long)
    assert len(names) == 8
    assert names[0] == long


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("good.test", set()),
        ("nomx.test", {"mx.missing"}),
        ("nullmx.test", {"mx.null"}),
        ("cnamemx.test", {"mx.cname"}),
    ],
)
async def test_mx(ctx: AuditContext, domain: str, expected: set[str]) -> None:
    result, _ips = await check_mx(target(domain), ctx)
    assert result.ids() == expected, result.findings


async def test_mx_names_our_host_and_returns_addresses(ctx: AuditContext) -> None:
    result, ips = await check_mx(target("good.test", mail_host="mail.good.test"), ctx)
    assert (result.ids(), ips) == (set(), ["127.0.0.10"])
    result, _ = await check_mx(target("good.test", mail_host="mx.elsewhere.test"), ctx)
    assert result.ids() == {"mx.mismatch"}


async def test_ptr(ctx: AuditContext) -> None:
    assert (await check_ptr("127.0.0.10", ctx, "mail.good.test")).ids() == set()
    assert (await check_ptr("127.0.0.10", ctx, "mail.other.test")).ids() == {"ptr.wrong_host"}
    assert (await check_ptr("127.0.0.11", ctx)).ids() == {"ptr.mismatch"}
    assert (await check_ptr("127.0.0.12", ctx)).ids() == {"ptr.missing"}


async def test_tls_rpt_and_bimi_syntax(ctx: AuditContext) -> None:
    assert (await check_tls_rpt(target("good.test"), ctx)).ids() == set()
    assert (await check_tls_rpt(target("badmtasts.test"), ctx)).ids() == {"tls_rpt.invalid"}
    assert (await check_bimi(target("badmtasts.test"), ctx)).ids() == {"bimi.invalid"}


def test_mta_sts_policy_parsing() -> None:
    fields, mx, problems = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: *.good.test\r\nmax_age: 604800\r\n")
    assert (fields["mode"], mx, problems) == ("enforce", ["*.good.test"], [])
    assert mx_matches("mail.good.test", "*.good.test")
    assert not mx_matches("a.mail.good.test", "*.good.test")
    _, _, problems = parse_policy("version: STSv2\nmode: strict\nmax_age: -1\n")
    assert len(problems) == 4
