"""`email-infra audit DOMAIN --checks registration,expiry`: the opt-in RDAP checks of any domain's audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import Cli
from tests.fakes.rdap import FakeRdap
from tests.fixtures.parent_dns import ParentDns
from tests.registrars.test_whois import env

NOW = datetime.now(UTC).replace(microsecond=0)


def test_an_audit_asks_rdap_only_when_the_checks_are_named(cli: Cli, rdap: FakeRdap, parent_dns: ParentDns) -> None:
    rdap.add_domain("audited.test", NOW - timedelta(days=5), NOW + timedelta(days=6), status=["client hold"])
    resolver = f"{parent_dns.address}:{parent_dns.port}"

    asked = cli(
        "audit", "audited.test", "--checks", "registration,expiry", "--nameserver", resolver, "--format", "json",
        env=env(rdap),
    )  # fmt: skip
    (domain,) = json.loads(asked.stdout)["domains"]
    assert asked.returncode == 1, asked.stderr
    assert set(domain["checks"]) == {"registration", "expiry"}
    registration = {f["id"] for f in domain["checks"]["registration"]["findings"]}
    assert registration == {"registration.suspended", "registration.young", "registration.registrar"}
    assert [f["id"] for f in domain["checks"]["expiry"]["findings"]] == ["expiry.urgent"]
    assert domain["checks"]["expiry"]["findings"][0]["hint"].startswith("renew now")

    default = cli("audit", "audited.test", "--nameserver", resolver, "--format", "json", env=env(rdap))
    (plain,) = json.loads(default.stdout)["domains"]
    assert not {"registration", "expiry", "delegation"} & set(plain["checks"])
    assert [c.path for c in rdap.log if "/domain/" in c.path] == ["/domain/audited.test"]  # asked once, when named
