"""The `registration` family through the monitor: age, expiry and holds from the loopback RDAP registry,
stored with history, one alert per domain that turns bad (a real webhook receiver), and RDAP failures
stored as `unknown` — never "expired", never an alert. SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.registrars.rdap import RdapClient
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.history import check_history
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService, check_states
from email_infrastructure.services.registration_checks import DomainCheckOptions
from email_infrastructure.services.status import status
from tests.fakes.http_server import FakeServer
from tests.fakes.rdap import FakeRdap

ROOT = Path(__file__).parents[2]
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
EXPIRING, HELD, YOUNG = "expiring-soon.test", "on-hold.test", "brand-new.test"


class Webhook:
    """A local alert receiver: the JSON body of every POST."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(
        self, method: str, path: str, query: object, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        self.bodies.append(json.loads(body))
        return 200, {"Content-Type": "text/plain"}, b"ok"


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    """The receiver and its URL."""
    receiver = Webhook()
    with FakeServer(receiver) as server:
        yield receiver, f"{server.url}/alerts"


def inventory_text(domains: list[str], sink: str, extra: str = "") -> str:
    """The quickstart's provider and server, these domains (no mailboxes), a webhook sink."""
    quickstart = (ROOT / "examples" / "quickstart.yaml").read_text()
    head = quickstart[: quickstart.index("domains:")]
    listed = "".join(f"  - name: {d}\n{extra}" for d in domains)
    return f"{head}monitoring:\n  alert_sinks:\n    - {{type: webhook, url: '{sink}'}}\ndomains:\n{listed}"


async def stored(app: App, tmp_path: Path, text: str) -> None:
    """Import `text` as an inventory file: the desired state the monitor watches."""
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    await import_inventory(app, load_inventory(path, provider_schemas()))


def options(rdap: FakeRdap, now: datetime = NOW) -> DomainCheckOptions:
    """The family's RDAP client on the loopback registry, at a fixed clock."""
    return DomainCheckOptions(
        rdap=lambda: RdapClient(bootstrap=rdap.bootstrap_url, ca_file=str(rdap.ca_path)), now=lambda: now
    )


async def states(app: App) -> dict[tuple[str, str], str]:
    """(subject, check) → stored state."""
    return {(s.subject, s.check): s.status for s in await check_states(app)}


async def test_an_expiry_in_10_days_and_a_server_hold_each_raise_one_alert(
    app: App, rdap: FakeRdap, webhook: tuple[Webhook, str], tmp_path: Path
) -> None:
    receiver, url = webhook
    await stored(app, tmp_path, inventory_text([EXPIRING, HELD, YOUNG], url))
    rdap.add_domain(EXPIRING, NOW - timedelta(days=400), NOW + timedelta(days=10))
    rdap.add_domain(HELD, NOW - timedelta(days=400), NOW + timedelta(days=200), status=["server hold"])
    rdap.add_domain(YOUNG, NOW - timedelta(days=3), NOW + timedelta(days=362), registrar="Porkbun LLC")

    service = await MonitorService.create(app, MonitorRequest(domain_options=options(rdap)))
    try:
        (first,) = await service.run_once(["registration"])
        (second,) = await service.run_once(["registration"])
    finally:
        await service.close()

    assert await states(app) == {
        (EXPIRING, "registration"): "ok",
        (EXPIRING, "expiry"): "error",
        (HELD, "registration"): "error",
        (HELD, "expiry"): "ok",
        (YOUNG, "registration"): "warning",
        (YOUNG, "expiry"): "ok",
    }
    alerts = sorted((b["payload"]["subject"], b["payload"]["check"]) for b in receiver.bodies)
    assert alerts == [(EXPIRING, "expiry"), (HELD, "registration")]
    assert {b["topic"] for b in receiver.bodies} == {"monitoring.check.failed"}
    assert second.transitions == []  # unchanged: no second alert
    by_subject = {d.subject: d.checks for d in first.report.domains}
    assert "expires in 10 day(s)" in by_subject[EXPIRING]["expiry"].findings[0].message
    assert "server hold" in by_subject[HELD]["registration"].findings[0].message
    young = {f.id: f.message for f in by_subject[YOUNG]["registration"].findings}
    assert "registered 3 day(s) ago" in young["registration.young"] and "minimum" in young["registration.young"]
    assert young["registration.registrar"] == "registrar: Porkbun LLC"
    # the age beside the minimum is the state's line when nothing is wrong; `status` names what is
    summaries = {(s.subject, s.check): s.summary for s in await check_states(app)}
    assert (
        summaries[(EXPIRING, "registration")] == "registered 400 days ago (recommended minimum before cold sending: 30)"
    )
    line = (await status(app)).components["registration"]
    assert line.status.value == "degraded"
    assert f"{EXPIRING} expiry: {EXPIRING} expires in 10 day(s)" in line.detail
    assert f"{YOUNG} registration: {YOUNG} was registered 3 day(s) ago" in line.detail


@pytest.mark.parametrize("failure", ["404", "429", "503"])
async def test_rdap_failures_are_unknown_never_expired_and_never_alert(
    app: App, rdap: FakeRdap, webhook: tuple[Webhook, str], tmp_path: Path, failure: str
) -> None:
    receiver, url = webhook
    await stored(app, tmp_path, inventory_text([EXPIRING], url))
    rdap.add_domain(EXPIRING, NOW - timedelta(days=400), NOW + timedelta(days=100))
    service = await MonitorService.create(app, MonitorRequest(domain_options=options(rdap)))
    try:
        await service.run_once(["registration"])
        if failure == "404":
            del rdap.domains[EXPIRING]
        elif failure == "429":
            rdap.throttle_next = 5
        else:
            rdap.next_statuses = [503]
        (failed,) = await service.run_once(["registration"])
    finally:
        await service.close()

    assert failed.report.status.value == "unknown" and failed.transitions == []
    # the state stays what it was; the history says unknown, with the reason
    assert await states(app) == {(EXPIRING, "registration"): "ok", (EXPIRING, "expiry"): "ok"}
    rows, _ = await check_history(app, EXPIRING, "expiry", 10, 0)
    assert [r.status for r in rows] == ["unknown", "ok"]
    text = json.dumps([r.findings for r in rows])
    assert "expired" not in text and failure in text
    assert receiver.bodies == []


async def test_auto_renew_softens_the_expiry_warning(app: App, rdap: FakeRdap, tmp_path: Path) -> None:
    from email_infrastructure.monitoring.checks.registration import RegistrationTarget, check_registration

    rdap.add_domain(EXPIRING, NOW - timedelta(days=400), NOW + timedelta(days=10))
    async with RdapClient(bootstrap=rdap.bootstrap_url, ca_file=str(rdap.ca_path)) as client:
        lookup = await client.lookup(EXPIRING)
    manual = check_registration(RegistrationTarget(EXPIRING), lookup, NOW)["expiry"]
    renewing = check_registration(RegistrationTarget(EXPIRING, auto_renew=True), lookup, NOW)["expiry"]
    urgent = check_registration(RegistrationTarget(EXPIRING, auto_renew=True), lookup, NOW + timedelta(days=5))
    gone = check_registration(RegistrationTarget(EXPIRING, auto_renew=True), lookup, NOW + timedelta(days=11))
    assert (manual.status.value, manual.ids()) == ("error", {"expiry.soon"})
    assert (renewing.status.value, renewing.ids()) == ("ok", {"expiry.date"})
    assert (urgent["expiry"].status.value, urgent["expiry"].ids()) == ("warning", {"expiry.renewal_due"})
    assert (gone["expiry"].status.value, gone["expiry"].ids()) == ("error", {"expiry.expired"})


def test_auto_renew_is_read_from_the_registrar_schema_whatever_its_shape() -> None:
    from types import SimpleNamespace

    from email_infrastructure.services.registration_checks import auto_renew

    def domain(**fields: object) -> Any:
        return SimpleNamespace(**fields)

    assert auto_renew(domain(registration=SimpleNamespace(auto_renew=True))) is True
    assert auto_renew(domain(register={"auto_renew": False})) is False
    assert auto_renew(domain(registration=None)) is None  # registered elsewhere: the stricter rule
    assert auto_renew(domain()) is None and auto_renew(domain(register={"auto_renew": "yes"})) is None


async def test_an_expiry_without_auto_renew_alerts_at_30_14_and_7_days_and_once_renewed_recovers(
    app: App, rdap: FakeRdap, webhook: tuple[Webhook, str], tmp_path: Path
) -> None:
    receiver, url = webhook
    await stored(app, tmp_path, inventory_text([EXPIRING], url))
    expires = NOW + timedelta(days=30)
    rdap.add_domain(EXPIRING, NOW - timedelta(days=400), expires)
    seen: list[tuple[int, str]] = []
    for days_left in (40, 30, 25, 14, 10, 7, 3):
        service = await MonitorService.create(
            app, MonitorRequest(domain_options=options(rdap, expires - timedelta(days=days_left)))
        )
        try:
            await service.run_once(["registration"])
        finally:
            await service.close()
        seen += [(days_left, b["payload"]["summary"]) for b in receiver.bodies[len(seen) :]]
    # one page at each threshold (30, 14, 7), none between them
    assert [d for d, _ in seen] == [30, 14, 7]
    assert all(f"{EXPIRING} expires in {days} day(s)" in summary for days, summary in seen)
    rdap.add_domain(EXPIRING, NOW - timedelta(days=400), expires + timedelta(days=365))  # renewed
    service = await MonitorService.create(app, MonitorRequest(domain_options=options(rdap, expires)))
    try:
        await service.run_once(["registration"])
    finally:
        await service.close()
    assert [b["topic"] for b in receiver.bodies][-1] == "monitoring.check.recovered" and len(receiver.bodies) == 4
