"""The RDAP client against the loopback registry: bootstrap (URL, file, cache), RFC 9083 fields, and every
failure as `not_found` or `unknown` with a reason — never a crash, never "expired"."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from email_infrastructure.registrars.rdap import IANA_BOOTSTRAP, RdapClient, base_for, services
from email_infrastructure.registrars.rdap_model import LookupStatus, parse_domain, status_value
from tests.fakes.http_server import FakeServer
from tests.fakes.rdap import FakeRdap

NOW = datetime.now(UTC).replace(microsecond=0)


def client(rdap: FakeRdap, **options: object) -> RdapClient:
    """A client that trusts only the fake's CA and bootstraps from the fake's dns.json."""
    return RdapClient(bootstrap=rdap.bootstrap_url, ca_file=str(rdap.ca_path), **options)  # type: ignore[arg-type]  # options are the dataclass's own


async def test_a_lookup_reads_dates_statuses_registrar_and_nameservers(rdap: FakeRdap) -> None:
    rdap.add_domain(
        "acme-outreach.test",
        NOW - timedelta(days=400),
        NOW + timedelta(days=200),
        last_changed=NOW - timedelta(days=3),
        status=["client transfer prohibited", "server hold"],
        registrar="Example Registrar, LLC",
        registrar_iana_id="9999",
        nameservers=["NS1.Acme-Outreach.test", "ns2.acme-outreach.test"],
    )
    async with client(rdap) as rdap_client:
        lookup = await rdap_client.lookup("Acme-Outreach.test.")

    assert lookup.status is LookupStatus.FOUND and lookup.server == rdap.url
    reg = lookup.registration
    assert reg is not None
    assert (reg.registered, reg.expires, reg.last_changed) == (
        NOW - timedelta(days=400),
        NOW + timedelta(days=200),
        NOW - timedelta(days=3),
    )
    assert reg.age_days(NOW) == 400 and reg.expiry == reg.expires
    assert reg.statuses == ("client transfer prohibited", "server hold")
    assert (reg.registrar, reg.registrar_iana_id) == ("Example Registrar, LLC", "9999")
    assert reg.nameservers == ("ns1.acme-outreach.test", "ns2.acme-outreach.test")
    assert json.loads(json.dumps(lookup.to_json()))["registration"]["registrar"] == "Example Registrar, LLC"


async def test_the_bootstrap_is_fetched_once_and_can_be_a_file(rdap: FakeRdap, tmp_path: Path) -> None:
    rdap.add_domain("a.test", NOW - timedelta(days=40), NOW + timedelta(days=300))
    async with client(rdap) as first:
        assert (await first.lookup("a.test")).status is LookupStatus.FOUND
        assert (await first.lookup("b.test")).status is LookupStatus.NOT_FOUND
    async with client(rdap) as second:  # another client in the same process: the table is cached
        assert (await second.lookup("a.test")).status is LookupStatus.FOUND
    assert len(rdap.calls("/bootstrap/")) == 1

    path = rdap.write_bootstrap(tmp_path / "dns.json")
    async with RdapClient(bootstrap=str(path), ca_file=str(rdap.ca_path)) as from_file:
        assert (await from_file.lookup("a.test")).status is LookupStatus.FOUND
    assert len(rdap.calls("/bootstrap/")) == 1


async def test_from_env_takes_the_bootstrap_and_the_ca(rdap: FakeRdap, monkeypatch: pytest.MonkeyPatch) -> None:
    rdap.add_domain("env.test", NOW - timedelta(days=40), NOW + timedelta(days=300))
    monkeypatch.setenv("EMAIL_INFRA_RDAP_BOOTSTRAP", rdap.bootstrap_url)
    monkeypatch.setenv("EMAIL_INFRA_RDAP_CA", str(rdap.ca_path))
    async with RdapClient.from_env() as from_env:
        assert (await from_env.lookup("env.test")).status is LookupStatus.FOUND


async def test_404_is_not_found_and_429_is_unknown_and_pauses_that_server(rdap: FakeRdap) -> None:
    rdap.add_domain("held.test", NOW - timedelta(days=40), NOW + timedelta(days=300))
    async with client(rdap) as rdap_client:
        missing = await rdap_client.lookup("nobody-here.test")
        rdap.throttle_next, rdap.retry_after = 1, 120
        limited = await rdap_client.lookup("held.test")
        again = await rdap_client.lookup("held.test")

    assert missing.status is LookupStatus.NOT_FOUND and "404" in missing.reason
    assert limited.status is LookupStatus.UNKNOWN and limited.registration is None
    assert limited.retry_after == 120 and "429" in limited.reason
    # the server asked for 120 s: the second lookup is not sent, and says why
    assert again.status is LookupStatus.UNKNOWN and "429" in again.reason
    assert [c.status for c in rdap.calls("/domain/held.test")] == [429]


@pytest.mark.parametrize("status", [500, 503, 400])
async def test_server_errors_are_unknown(rdap: FakeRdap, status: int) -> None:
    rdap.add_domain("flaky.test", NOW - timedelta(days=40), NOW + timedelta(days=300))
    rdap.next_statuses = [status]
    async with client(rdap) as rdap_client:
        lookup = await rdap_client.lookup("flaky.test")
    assert lookup.status is LookupStatus.UNKNOWN and str(status) in lookup.reason


async def test_a_tld_without_rdap_and_a_reserved_name_are_unknown_without_asking(rdap: FakeRdap) -> None:
    async with client(rdap) as rdap_client:
        lookup = await rdap_client.lookup("acme.invalid-tld")
    assert lookup.status is LookupStatus.UNKNOWN and "no RDAP service for .invalid-tld" in lookup.reason
    assert rdap.calls("/domain/") == []
    async with RdapClient(bootstrap=IANA_BOOTSTRAP) as iana:
        reserved = await iana.lookup("acme-outreach.test")
    assert reserved.status is LookupStatus.UNKNOWN and "reserved" in reserved.reason


async def test_the_registrars_expiry_is_followed_from_the_related_link(rdap: FakeRdap) -> None:
    rdap.add_domain(
        "renewed.test", NOW - timedelta(days=900), NOW + timedelta(days=5), registrar_expires=NOW + timedelta(days=370)
    )
    async with client(rdap) as rdap_client:
        lookup = await rdap_client.lookup("renewed.test")
    reg = lookup.registration
    assert reg is not None and reg.expires == NOW + timedelta(days=5)
    assert reg.registrar_expires == NOW + timedelta(days=370) and reg.expiry == reg.registrar_expires
    asked = [c.path for c in rdap.log if "renewed" in c.path.lower()]
    assert asked == ["/domain/renewed.test", "/registrar/domain/RENEWED.TEST"]


class Hostile:
    """A registry on plain HTTP whose domain answers are whatever a test sets in `body`."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.url = ""

    def __call__(
        self, method: str, path: str, query: object, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/dns.json":
            document = {"version": "1.0", "services": [[["test"], [self.url]]]}
            return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()
        return 200, {"Content-Type": "application/rdap+json"}, self.body


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    """The hostile registry, serving."""
    app = Hostile()
    with FakeServer(app) as server:
        app.url = f"{server.url}/"
        yield app


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"x" * 600_000, "more than 512000 bytes"),
        (b"not json", "is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),
        (b'["a", "list"]', "JSON list, not an object"),
        (b'{"objectClassName": "entity"}', "not a domain"),
        (b'{"title": "nothing of a domain"}', "none of a domain object's fields"),
    ],
    ids=["huge", "garbage", "deep", "list", "entity", "empty"],
)
async def test_hostile_bodies_are_unknown_with_a_reason(hostile: Hostile, body: bytes, reason: str) -> None:
    hostile.body = body
    async with RdapClient(bootstrap=f"{hostile.url}dns.json") as rdap_client:
        lookup = await rdap_client.lookup("acme.test")
    assert lookup.status is LookupStatus.UNKNOWN and reason in lookup.reason


async def test_wrong_types_inside_a_domain_are_skipped_not_fatal(hostile: Hostile) -> None:
    hostile.body = json.dumps(
        {
            "objectClassName": "domain",
            "status": ["clientHold", 7, None, "x" * 10],
            "events": [
                {"eventAction": "registration", "eventDate": "not a date"},
                {"eventAction": 5, "eventDate": "2020-01-01T00:00:00Z"},
                "an event?",
                {"eventAction": "expiration", "eventDate": "2030-01-01T00:00:00Z"},
            ],
            "entities": {"not": "a list"},
            "nameservers": [{"ldhName": 12}, {"ldhName": "NS1.ACME.TEST."}, "ns"],
        }
    ).encode()
    async with RdapClient(bootstrap=f"{hostile.url}dns.json") as rdap_client:
        lookup = await rdap_client.lookup("acme.test")
    reg = lookup.registration
    assert lookup.status is LookupStatus.FOUND and reg is not None
    assert reg.registered is None and reg.expires == datetime(2030, 1, 1, tzinfo=UTC)
    assert reg.statuses == ("client hold", "x" * 10) and reg.nameservers == ("ns1.acme.test",)
    assert reg.registrar is None


async def test_a_server_that_never_answers_is_unknown() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the backlog; nothing is ever read or written
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        async with RdapClient(bootstrap=f"{url}dns.json", timeout=0.3) as rdap_client:
            lookup = await rdap_client.lookup("acme.test")
    assert lookup.status is LookupStatus.UNKNOWN and "did not answer within 0.3 s" in lookup.reason


def test_bootstrap_matching_takes_the_longest_suffix_and_prefers_https() -> None:
    table = services(
        {
            "services": [
                [["uk"], ["http://uk.example/", "https://uk.example/rdap"]],
                [["co.uk"], ["https://co-uk.example/"]],
                "garbage",
                [["bad"], "not a list"],
            ]
        }
    )
    assert base_for(table, "acme.co.uk") == "https://co-uk.example/"
    assert base_for(table, "acme.org.uk") == "https://uk.example/rdap/"
    assert base_for(table, "acme.bad") is None


def test_status_values_and_shapes() -> None:
    assert status_value("serverHold") == "server hold" and status_value("Pending  Delete") == "pending delete"
    assert parse_domain("a.test", {"ldhName": "A.TEST"}).statuses == ()


def test_an_unreadable_ca_bundle_is_a_clear_configuration_error(tmp_path: Path) -> None:
    from email_infrastructure.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"EMAIL_INFRA_RDAP_CA: .*missing\.pem is not a readable CA bundle"):
        RdapClient(ca_file=str(tmp_path / "missing.pem"))
