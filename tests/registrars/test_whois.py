"""`email-infra domain whois NAME` against the loopback RDAP registry: the table, the JSON, the exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import Cli
from tests.fakes.rdap import FakeRdap

NOW = datetime.now(UTC).replace(microsecond=0)


def env(rdap: FakeRdap) -> dict[str, str]:
    """The registry as the bootstrap source, its CA trusted."""
    return {"EMAIL_INFRA_RDAP_BOOTSTRAP": rdap.bootstrap_url, "EMAIL_INFRA_RDAP_CA": str(rdap.ca_path)}


def test_whois_prints_dates_age_status_and_nameservers(cli: Cli, rdap: FakeRdap) -> None:
    rdap.add_domain(
        "acme-outreach.test",
        NOW - timedelta(days=12),
        NOW + timedelta(days=353),
        status=["client transfer prohibited", "server hold"],
        registrar="[bold]Example Registrar[/bold]",
        nameservers=["ns1.acme-outreach.test", "ns2.acme-outreach.test"],
    )
    table = cli("domain", "whois", "acme-outreach.test", env=env(rdap))
    assert table.returncode == 0, table.stderr
    assert "acme-outreach.test: found" in table.stdout
    assert "12 days (recommended minimum before cold sending: 30)" in table.stdout
    assert "server hold" in table.stdout and "ns1.acme-outreach.test" in table.stdout
    assert "[bold]Example Registrar[/bold]" in table.stdout  # registry text is never read as markup

    as_json = cli("domain", "whois", "ACME-outreach.test.", "--format", "json", env=env(rdap))
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and data["status"] == "found" and data["name"] == "acme-outreach.test"
    assert data["registration"]["statuses"] == ["client transfer prohibited", "server hold"]
    assert data["registration"]["registered"] == (NOW - timedelta(days=12)).isoformat().replace("+00:00", "Z")


def test_whois_exit_codes_not_found_1_unknown_3_bad_name_2(cli: Cli, rdap: FakeRdap) -> None:
    missing = cli("domain", "whois", "nobody.test", "--format", "json", env=env(rdap))
    assert missing.returncode == 1 and json.loads(missing.stdout)["status"] == "not_found"

    rdap.throttle_next = 1
    limited = cli("domain", "whois", "nobody.test", env=env(rdap))
    assert limited.returncode == 3 and "429" in limited.stdout and "expired" not in limited.stdout

    bad = cli("domain", "whois", "not a domain", env=env(rdap))
    assert bad.returncode == 2 and "invalid domain name" in bad.stderr
