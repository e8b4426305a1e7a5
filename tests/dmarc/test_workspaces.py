"""DMARC reports per workspace (SQLite and PostgreSQL): a report is stored in the workspace that
ingests it, summaries and lists read one workspace, and pass-rate alerts go to the ingesting
workspace's sinks under its own threshold — two workspaces ingesting at once in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.dmarc import IngestOptions, IngestSummary, ingest_paths
from email_infrastructure.services.dmarc_views import dmarc_summary, list_reports
from email_infrastructure.services.scope import acting_in
from tests.dmarc.reports import Row, aggregate
from tests.dmarc.test_alerts import Hook
from tests.fakes.http_server import FakeServer
from tests.services.conftest import two_domains

OFFLINE = IngestOptions(resolve=False)
DOMAINS = {"acme": "acme-outreach.test", "beta": "beta-outreach.test"}


async def manage(app: App, tmp_path: Path, name: str, url: str, threshold: float) -> None:
    """A workspace with the quickstart under its own names, a webhook and a pass-rate threshold of its own."""
    text = two_domains(DOMAINS[name], f"{name}-mail.test") + (
        f"\nmonitoring:\n  alert_sinks:\n    - {{type: webhook, url: '{url}'}}\n"
        f"  dmarc_alerts: {{pass_rate_threshold: {threshold}}}\n"
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    await workspaces.create(app, name)
    with acting_in(name):
        await import_inventory(app, load_inventory(path, provider_schemas()))


async def ingest(
    app: App, tmp_path: Path, workspace: str, domain: str, rows: list[Row], report_id: str = "same-id"
) -> IngestSummary:
    path = tmp_path / f"{workspace}-{domain}-{report_id}.xml"
    path.write_bytes(aggregate(rows, domain=domain, report_id=report_id))
    with acting_in(workspace):
        return await ingest_paths(app, [path], OFFLINE)


def rows(domain: str, passed: int, failed: int) -> list[Row]:
    return [
        Row(
            "127.0.0.10", passed, header_from=domain, envelope_from=f"bounce.{domain}", dkim_auth=(domain, "s1", "pass")
        ),
        Row("198.51.100.20", failed, dkim="fail", spf="fail", header_from=domain, envelope_from=f"bounce.{domain}"),
    ]


async def test_reports_summaries_and_pass_rate_alerts_stay_in_their_workspace(
    app: App, tmp_path: Path, events: list[Event]
) -> None:
    hooks = {name: Hook() for name in DOMAINS}
    with FakeServer(hooks["acme"]) as acme_receiver, FakeServer(hooks["beta"]) as beta_receiver:
        # 80 % passes: below acme's 90 %, above beta's 70 %
        await manage(app, tmp_path, "acme", f"{acme_receiver.url}/alerts", 0.9)
        await manage(app, tmp_path, "beta", f"{beta_receiver.url}/alerts", 0.7)
        acme_run, beta_run = await asyncio.gather(
            ingest(app, tmp_path, "acme", DOMAINS["acme"], rows(DOMAINS["acme"], 80, 20)),
            ingest(app, tmp_path, "beta", DOMAINS["beta"], rows(DOMAINS["beta"], 80, 20)),
        )
        assert acme_run.count("ingested") == beta_run.count("ingested") == 1
        assert [a["subject"] for a in acme_run.alerts] == [DOMAINS["acme"]] and beta_run.alerts == []
        # beta's own threshold is crossed only by beta's next report: its alert goes to beta's sink
        beta_worse = await ingest(app, tmp_path, "beta", DOMAINS["beta"], rows(DOMAINS["beta"], 10, 290), "r-2")
        assert [a["subject"] for a in beta_worse.alerts] == [DOMAINS["beta"]]
    for name, domain in DOMAINS.items():
        alerts = [(b["topic"], b["payload"]["subject"]) for b in hooks[name].bodies]
        assert alerts == [("monitoring.dmarc.failure_rate", domain)], (name, alerts)
    by_workspace = {(e.workspace, e.payload["subject"]) for e in events if e.topic == "monitoring.dmarc.failure_rate"}
    assert by_workspace == set(DOMAINS.items())

    for name, domain in DOMAINS.items():
        with acting_in(name):
            summary = await dmarc_summary(app)
            reports, total = await list_reports(app)
        assert [t.key for t in summary.domains] == [domain] and all(t.managed for t in summary.domains)
        assert total == len(reports) == (1 if name == "acme" else 2)
        assert {r.domain for r in reports} == {domain}


async def test_the_same_report_is_new_in_each_workspace_and_a_duplicate_within_one(app: App, tmp_path: Path) -> None:
    for name in DOMAINS:
        await workspaces.create(app, name)
    report = rows("shared-report.test", 5, 0)
    first = await ingest(app, tmp_path, "acme", "shared-report.test", report)
    other = await ingest(app, tmp_path, "beta", "shared-report.test", report)
    again = await ingest(app, tmp_path, "acme", "shared-report.test", report)
    assert (first.count("ingested"), other.count("ingested"), again.count("duplicate")) == (1, 1, 1)
    with acting_in("default"):
        assert (await list_reports(app))[1] == 0  # nothing of either in the default workspace


async def test_the_dashboards_day_colours_follow_each_workspaces_threshold(app: App, tmp_path: Path) -> None:
    from email_infrastructure.services.domain_detail import domain_detail

    await manage(app, tmp_path, "acme", "http://127.0.0.1:9/alerts", 0.9)
    await manage(app, tmp_path, "beta", "http://127.0.0.1:9/alerts", 0.7)
    for name, threshold in (("acme", 0.9), ("beta", 0.7)):
        with acting_in(name):
            detail = await domain_detail(app, DOMAINS[name], sections=True)
        assert detail.dmarc is not None and detail.dmarc.threshold == threshold, name
