"""Findings decided by a record's text alone: DMARC tag-list syntax, SPF lookup-term counts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from email_infrastructure.dns.records import txt_presentation
from email_infrastructure.monitoring.checks.dmarc import check_dmarc
from email_infrastructure.monitoring.checks.spf import check_spf
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckStatus
from email_infrastructure.monitoring.resolver import Resolver
from tests.fixtures.pdns import PowerDns

ZONE = "recordtext.test"


def _txt(name: str, value: str) -> tuple[str, str, str, int]:
    return (name, "TXT", txt_presentation(value), 0)


def _includes(count: int) -> str:
    return " ".join(f"include:_spf{n}.{ZONE}" for n in range(count))


@pytest.fixture(scope="module")
def zone(pdns: PowerDns) -> Iterator[None]:
    rows = [
        _txt(f"_dmarc.barep.{ZONE}", "v=DMARC1; p"),
        _txt(f"_dmarc.stray.{ZONE}", "v=DMARC1; p=reject; rua=mailto:d@recordtext.test; oops"),
        _txt(f"_dmarc.trailing.{ZONE}", "v=DMARC1; p=reject; rua=mailto:d@recordtext.test;"),
        _txt(f"_dmarc.nop.{ZONE}", "v=DMARC1; rua=mailto:d@recordtext.test"),
        (ZONE, "MX", f"mail.{ZONE}", 10),
        (f"mail.{ZONE}", "A", "127.0.0.10", 0),
        # eleven includes and a redirect after an `all`: never evaluated, never counted
        _txt(f"afterall.{ZONE}", f"v=spf1 ip4:127.0.0.10 -all {_includes(11)} redirect=_spf0.{ZONE}"),
        # ten includes plus a redirect: eleven reachable terms
        _txt(f"redirect.{ZONE}", f"v=spf1 {_includes(10)} redirect=_spf0.{ZONE}"),
        *(_txt(f"_spf{n}.{ZONE}", "v=spf1 ip4:127.0.1.0/24 -all") for n in range(11)),
    ]
    pdns.replace_zones({ZONE: rows})
    yield
    pdns.drop_zones([ZONE])


@pytest.fixture
async def context(pdns: PowerDns, zone: None) -> AsyncIterator[AuditContext]:
    resolver = Resolver([(pdns.address, pdns.dns_port)], timeout=2.0)
    yield AuditContext(resolver)
    await resolver.close()


async def test_a_dmarc_tag_without_equals_is_a_syntax_error_not_a_missing_policy(context: AuditContext) -> None:
    result = await check_dmarc(DomainTarget(f"barep.{ZONE}"), context)
    assert "dmarc.syntax" in result.ids()
    assert "dmarc.missing_policy" not in result.ids()
    assert result.status is CheckStatus.ERROR
    finding = next(f for f in result.findings if f.id == "dmarc.syntax")
    assert "'p'" in finding.message
    assert finding.hint


async def test_a_stray_word_in_a_dmarc_record_is_a_syntax_error(context: AuditContext) -> None:
    result = await check_dmarc(DomainTarget(f"stray.{ZONE}"), context)
    assert result.ids() == {"dmarc.syntax"}
    assert "'oops'" in result.findings[0].message


async def test_a_trailing_semicolon_and_a_missing_p_are_not_syntax_errors(context: AuditContext) -> None:
    assert (await check_dmarc(DomainTarget(f"trailing.{ZONE}"), context)).ids() == set()
    assert (await check_dmarc(DomainTarget(f"nop.{ZONE}"), context)).ids() == {"dmarc.missing_policy"}


async def test_terms_after_all_are_not_counted(context: AuditContext) -> None:
    result = await check_spf(DomainTarget(f"afterall.{ZONE}"), context)
    assert "spf.too_many_lookups" not in result.ids()
    assert "spf.redirect_ignored" in result.ids()


async def test_a_redirect_counts_as_a_lookup_term(context: AuditContext) -> None:
    result = await check_spf(DomainTarget(f"redirect.{ZONE}"), context)
    assert "spf.too_many_lookups" in result.ids()
    finding = next(f for f in result.findings if f.id == "spf.too_many_lookups")
    assert f"the 11th is redirect=_spf0.{ZONE} in redirect.{ZONE}" in finding.message
