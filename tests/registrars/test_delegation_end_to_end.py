"""A domain's delegation end to end: `apply` sets the DNS provider's nameservers at the registrar (the Porkbun
fake) and reads them back; the registry publishes them at the parent (the loopback TLD PowerDNS); the
`delegation` family, red before, turns green. SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService, check_states
from email_infrastructure.services.registration_checks import DomainCheckOptions
from tests.fakes.porkbun import FakePorkbun
from tests.fixtures.parent_dns import ParentDns, authoritative
from tests.fixtures.pdns import PowerDns
from tests.registrars.test_delegation_check import child, delegate_to_us, options, ours, zonefile_inventory
from tests.registrars.test_registration_family import stored


async def delegation_state(app: App, parent_dns: ParentDns, pdns: PowerDns, domain: str) -> tuple[str, set[str]]:
    """One run of the `delegation` family: the domain's stored state and its findings."""
    request = MonitorRequest(
        nameservers=[f"{parent_dns.address}:{parent_dns.port}"],
        domain_options=DomainCheckOptions(delegation=options(parent_dns, pdns)),
    )
    service = await MonitorService.create(app, request)
    try:
        (run,) = await service.run_once(["delegation"])
    finally:
        await service.close()
    states = {(s.subject, s.check): s.status for s in await check_states(app)}
    (report,) = [d for d in run.report.domains if d.subject == domain]
    return states[(domain, "delegation")], report.checks["delegation"].ids()


async def test_a_delegation_set_at_the_registrar_turns_the_parent_check_green(
    app: App,
    porkbun: FakePorkbun,
    parent_dns: ParentDns,
    pdns: PowerDns,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PB_TEST_KEY", porkbun.apikey)
    monkeypatch.setenv("PB_TEST_SECRET", porkbun.secretapikey)
    domain = child()
    nameservers = ours(domain)
    porkbun.add_domain(domain)  # registered already: delegated and watched only
    updated = porkbun._update_ns

    def publish(name: str, data: dict[str, Any]) -> dict[str, Any]:
        answer = updated(name, data)
        # what the registry does with a registrar's change: the parent refers the domain to them
        delegate_to_us(parent_dns, pdns, name, tuple(porkbun.nameservers[name]))
        return answer

    monkeypatch.setattr(porkbun, "_update_ns", publish)
    text = zonefile_inventory(nameservers, [domain])
    text = text.replace(
        "\nservers:",
        "  registrars:\n"
        f'    pb: {{type: porkbun, apikey: env:PB_TEST_KEY, secretapikey: env:PB_TEST_SECRET, api_url: "{porkbun.url}"}}\n'
        "\nservers:",
        1,
    ).replace("defaults:\n", "defaults:\n  registrar: pb\n", 1)
    await stored(app, tmp_path, text)

    with authoritative(pdns, domain):
        before = await delegation_state(app, parent_dns, pdns, domain)
        applied = await plans.apply(app)
        assert not applied.failed, [(o.key, o.error) for o in applied.failed]
        outcomes = {o.key: o.status for o in applied.outcomes}
        assert outcomes[f"registrar.nameservers:{domain}"] == "applied"
        after = await delegation_state(app, parent_dns, pdns, domain)
        again = await plans.plan(app)

    assert before == ("error", {"delegation.missing"})
    assert porkbun.nameservers[domain] == list(nameservers)  # set and read back
    assert after[0] == "ok", after
    assert not again.has_changes  # the registrar holds what the DNS provider names
