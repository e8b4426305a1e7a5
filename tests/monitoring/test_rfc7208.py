"""The openspf RFC 7208 suite against the audit's SPF verdicts, on the real PowerDNS.

Each scenario's zone data is loaded in turn; for every test case the audited domain's record is
judged by `audit()`: a record the suite calls permerror must get a permerror finding, a record it
evaluates (pass/fail/softfail/neutral) must get no `spf.*` error, temperror must be `unknown`.
The suite judges one sender; a static audit judges the record for every sender, so it may say
"cannot be determined statically" (unknown) where the suite knows the sender — never an error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from email_infrastructure.monitoring.audit import audit
from email_infrastructure.monitoring.checks.spf import PERMERROR_IDS
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckStatus, Severity
from email_infrastructure.monitoring.resolver import Resolver
from tests.conftest import service_missing
from tests.fixtures.pdns import PowerDns
from tests.monitoring.rfc7208 import SUITE, Case, cases, load_suite, scenario_zones

SCENARIOS = load_suite() if SUITE.exists() else []
CASES = cases(SCENARIOS)
EVALUATED = {"pass", "fail", "softfail", "neutral"}

#: errors that are this project's policy, not RFC 7208 results
POLICY_ERRORS = {
    "spf.plus_all": "+all authorises every host (email-auth-standards.md §1, §8); RFC 7208 says pass",
}
#: where the audit judges a case differently from the suite, and why
DISAGREEMENTS = {
    "Processing limits/include-at-limit": (
        "the suite's sender matches ip4 after 10 lookups; for any other sender the next term (mx) is "
        "the 11th lookup, so the record is a permerror for most mail and the audit reports it"
    ),
}


def verdict(case: Case, findings: set[tuple[str, Severity]], status: CheckStatus) -> str:
    """The audit's verdict in the suite's terms."""
    errors = {i for i, severity in findings if severity is Severity.ERROR} - set(POLICY_ERRORS)
    if errors & PERMERROR_IDS:
        return "permerror"
    if errors == {"spf.missing"}:
        return "none"
    if errors:
        return "error: " + ", ".join(sorted(errors))
    return "unknown" if status is CheckStatus.UNKNOWN else "evaluated"


def agrees(results: frozenset[str], ours: str) -> bool:
    """Does our verdict fit one of the results the suite allows?"""
    allowed = set()
    for result in results:
        if result == "permerror":
            allowed.add("permerror")
        elif result in EVALUATED:
            allowed |= {"evaluated", "unknown"}  # unknown: the result depends on the sender
        elif result == "temperror":
            allowed.add("unknown")
        elif result == "none":
            allowed |= {"none", "unknown"}  # no record, or a name that cannot be asked
    return ours in allowed


class SuiteDns:
    """Loads one scenario at a time into PowerDNS (the scenarios reuse names)."""

    def __init__(self, pdns: PowerDns) -> None:
        self.pdns = pdns
        self.current = -1
        self.created: set[str] = set()

    def load(self, index: int) -> None:
        if self.current != index:
            zones = scenario_zones(SCENARIOS[index])
            self.pdns.drop_zones(sorted(self.created - set(zones)))
            self.pdns.replace_zones(zones)
            self.created.update(zones)
            self.current = index


@pytest.fixture(scope="module")
def suite_dns(pdns: PowerDns) -> Iterator[SuiteDns]:
    """The suite's zones, dropped afterwards (they shadow names other tests expect REFUSED)."""
    loader = SuiteDns(pdns)
    yield loader
    pdns.drop_zones(sorted(loader.created))


@pytest.mark.parametrize("case", CASES or [None], ids=[c.id for c in CASES] or ["suite-missing"])
async def test_rfc7208_suite(case: Case | None, pdns: PowerDns, suite_dns: SuiteDns) -> None:
    if case is None:
        service_missing(f"the RFC 7208 suite is not at {SUITE} (EMAIL_INFRA_TEST_RFC7208_SUITE)")
        return
    suite_dns.load(case.scenario)
    resolver = Resolver([(pdns.address, pdns.dns_port)], timeout=1.0)
    try:
        target = DomainTarget(case.domain, selectors=["dkim"], selectors_declared=True)
        report = await audit([target], AuditContext(resolver), {"spf"}, [])
    finally:
        await resolver.close()
    spf = report.domains[0].checks["spf"]
    ours = verdict(case, {(f.id, f.severity) for f in spf.findings}, spf.status)
    if case.id in DISAGREEMENTS:
        assert not agrees(case.results, ours), f"{case.id} now agrees: drop it from DISAGREEMENTS"
        return
    assert agrees(case.results, ours), (case.id, sorted(case.results), ours, spf.findings)


def test_the_allow_list_names_real_cases() -> None:
    if not CASES:
        service_missing(f"the RFC 7208 suite is not at {SUITE}")
    assert set(DISAGREEMENTS) <= {c.id for c in CASES}
