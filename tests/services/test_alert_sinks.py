"""Alert sinks edited in the stored desired state (issue 24 item 8): masked views, validation as an
inventory file's, the ownership rule (a file's settings only taken over), events without secrets,
test sends through the real sink code, and the next monitor run using what was stored."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from email_infrastructure.core.errors import NotFoundError, ProviderError, UserError
from email_infrastructure.core.events import Event
from email_infrastructure.core.logging import RedactingFilter
from email_infrastructure.monitoring.sinks.webhook import SIGNATURE_HEADER
from email_infrastructure.services import workspaces
from email_infrastructure.services.alert_sinks import (
    SINK_ADDED,
    SINK_REMOVED,
    SINK_TESTED,
    TEST_TOPIC,
    add_sink,
    list_sinks,
    mask_url,
    remove_sink,
    send_test_alert,
)
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import OwnershipConflictError, import_inventory, load_snapshot
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService
from email_infrastructure.services.scope import acting_in
from tests.api.conftest import free_port
from tests.fakes.http_server import FakeServer
from tests.fixtures.receiver import receiving
from tests.services.conftest import QUICKSTART, WriteInventory, two_domains

TOKEN = "T0k3n-s3cr3t-abcdef"


class Recorder:
    """A webhook receiver: keeps every request's path, headers and JSON body; answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def __call__(
        self, method: str, path: str, query: Any, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        self.seen.append((path, headers, json.loads(body or b"{}")))
        return self.status, {"Content-Type": "text/plain"}, b"ok" if self.status == 200 else b"nope"


async def _stored_monitoring(app: App) -> dict[str, Any] | None:
    found = (await load_snapshot(app)).settings.get("monitoring")
    return None if found is None else {"owner": found.owner, **found.value}


def test_urls_are_shown_without_their_path_and_references_as_written() -> None:
    assert mask_url("https://hooks.slack.com/services/T000/B000/XXXX") == "https://hooks.slack.com/…/****"
    assert mask_url(f"http://127.0.0.1:8080/hook?token={TOKEN}") == "http://127.0.0.1:8080/…/****"
    assert mask_url("https://user:pw@example.com/") == "https://example.com/"
    assert mask_url("env:SLACK_URL") == "env:SLACK_URL"
    assert mask_url("javascript:alert(1)") == "****"


async def test_a_files_settings_are_taken_over_only_when_asked(
    app: App, write_inventory: WriteInventory, events: list[Event]
) -> None:
    await import_inventory(app, write_inventory(QUICKSTART))
    before = await _stored_monitoring(app)
    assert before is not None and before["owner"].startswith("file:")
    assert (await list_sinks(app)).editable is False
    with pytest.raises(OwnershipConflictError, match="owned by file:"):
        await add_sink(app, "webhook", {"url": f"https://hooks.example.com/a/{TOKEN}"})
    assert await _stored_monitoring(app) == before

    added, _ = await add_sink(
        app, "webhook", {"url": f"https://hooks.example.com/a/{TOKEN}"}, take_over=True, source="dashboard:boss"
    )
    assert (added.name, added.target) == ("webhook-1", "https://hooks.example.com/…/****")
    listed = await list_sinks(app)
    assert listed.owner == "api" and listed.editable and [s.name for s in listed.sinks] == ["webhook-1"]
    stored = await _stored_monitoring(app)
    assert stored is not None and stored["intervals"] == before["intervals"]  # the rest of the settings kept
    made = [e for e in events if e.topic == SINK_ADDED.name]
    assert [(e.payload["name"], e.source) for e in made] == [("webhook-1", "dashboard:boss")]
    assert TOKEN not in json.dumps([e.payload for e in events])

    # the file leaves `monitoring` out: importing it again keeps the stored sinks
    await import_inventory(app, write_inventory(QUICKSTART))
    assert [s.name for s in (await list_sinks(app)).sinks] == ["webhook-1"]
    # a file that declares its own conflicts, as with any setting another owner holds
    declared = QUICKSTART + "\nmonitoring:\n  intervals: {dns: 10m}\n"
    with pytest.raises(OwnershipConflictError):
        await import_inventory(app, write_inventory(declared))


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/LEAK"}, "env:NAME reference"),
        ("webhook", {"url": "https://h.example.com/x", "secret": "LEAKED-literal"}, "env:NAME reference"),
        ("webhook", {"url": "ftp://h.example.com/x"}, "http:// or https://"),
        ("webhook", {}, "needs url"),
        ("email", {"from": "a@example.com", "to": "nobody"}, "not an email address"),
        ("email", {"from": "a@example.com", "to": "b@example.com", "port": "99999"}, "port"),
        ("email", {"from": "a@example.com", "to": "b@example.com", "starttls": "maybe"}, "starttls"),
        ("pager", {}, "unknown alert sink type"),
        ("webhook", {"url": "https://h.example.com/", "name": "bad name!"}, "name"),
    ],
)
async def test_bad_input_is_refused_and_nothing_changes(
    app: App, write_inventory: WriteInventory, kind: str, fields: dict[str, str], message: str
) -> None:
    await import_inventory(app, write_inventory(QUICKSTART))
    before = await _stored_monitoring(app)
    with pytest.raises(UserError, match=message) as raised:
        await add_sink(app, kind, fields, take_over=True)
    assert "LEAK" not in str(raised.value)
    assert await _stored_monitoring(app) == before


async def test_names_are_unique_and_a_sink_is_removed_by_name(app: App, events: list[Event]) -> None:
    await workspaces.ensure(app)
    await add_sink(app, "slack", {"webhook_url": "env:OPS_SLACK", "name": "ops"})
    with pytest.raises(UserError, match="exists already"):
        await add_sink(app, "webhook", {"url": "https://h.example.com/", "name": "ops"})
    await add_sink(app, "email", {"from": "a@example.com", "to": "b@example.com, c@example.com"})
    listed = (await list_sinks(app)).sinks
    assert [(s.name, s.target) for s in listed] == [
        ("ops", "env:OPS_SLACK"),
        ("email-1", "b@example.com, c@example.com via localhost:587"),
    ]
    removed = await remove_sink(app, "ops")
    assert removed.name == "ops"
    assert [s.name for s in (await list_sinks(app)).sinks] == ["email-1"]
    assert [e.payload["name"] for e in events if e.topic == SINK_REMOVED.name] == ["ops"]
    with pytest.raises(NotFoundError):
        await remove_sink(app, "ops")


async def test_a_test_alert_goes_through_the_webhook_sink_signed(
    app: App, events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    await workspaces.ensure(app)
    monkeypatch.setenv("HOOK_SECRET", "signing-secret-value")
    recorder = Recorder()
    with FakeServer(recorder) as server:
        await add_sink(app, "webhook", {"url": f"{server.url}/hook/{TOKEN}", "secret": "env:HOOK_SECRET"})
        sent = await send_test_alert(app, "webhook-1", source="dashboard:boss")
    assert sent.target == f"{server.url}/…/****"
    [(path, headers, body)] = recorder.seen
    assert path == f"/hook/{TOKEN}" and body["topic"] == TEST_TOPIC
    assert headers[SIGNATURE_HEADER.lower()].startswith("sha256=")
    [tested] = [e for e in events if e.topic == SINK_TESTED.name]
    assert tested.payload["delivered"] is True
    with pytest.raises(NotFoundError):
        await send_test_alert(app, "nope")


async def test_a_failed_test_alert_says_why_without_the_urls_token(
    app: App, events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    await workspaces.ensure(app)
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.addFilter(RedactingFilter())  # as setup_logging's handler does
    logging.getLogger().addHandler(handler)
    caplog.set_level(logging.INFO)
    try:
        with FakeServer(Recorder(status=503)) as server:
            await add_sink(app, "webhook", {"url": f"{server.url}/hook/{TOKEN}"})
            with pytest.raises(ProviderError, match="HTTP 503") as raised:
                await send_test_alert(app, "webhook-1")
    finally:
        logging.getLogger().removeHandler(handler)
    assert TOKEN not in str(raised.value)
    [tested] = [e for e in events if e.topic == SINK_TESTED.name]
    assert tested.payload["delivered"] is False and "HTTP 503" in tested.payload["error"]
    assert TOKEN not in json.dumps(tested.payload)
    assert "retrying" in logged.getvalue() and TOKEN not in logged.getvalue()  # the retries' log lines


async def test_a_test_alert_goes_through_the_email_sink(app: App) -> None:
    await workspaces.ensure(app)
    port = free_port()
    with receiving(port) as receiver:
        fields = {"from": "alerts@example.com", "to": "ops@example.com", "host": "127.0.0.1", "port": str(port)}
        await add_sink(app, "email", {**fields, "starttls": "never"})
        await send_test_alert(app, "email-1")
        got = receiver.messages.get(timeout=10)
    assert got.rcpt_to == ["ops@example.com"] and b"alert-test" in got.raw


async def test_the_next_monitor_run_delivers_to_a_sink_added_here(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory(QUICKSTART))
    recorder = Recorder()
    with FakeServer(recorder) as server:
        await add_sink(app, "webhook", {"url": f"{server.url}/hook", "name": "ops"}, take_over=True)
        service = await MonitorService.create(app, MonitorRequest())
        try:
            assert [s.name for s in service.dispatcher.sinks] == ["ops"]
            failed = {"subject": "acme-mail.test", "check": "spf", "status": "error"}
            await service.dispatcher.deliver(Event("monitoring.check.failed", failed, workspace="default"))
        finally:
            await service.close()
    assert [body["payload"]["subject"] for _, _, body in recorder.seen] == ["acme-mail.test"]


async def test_a_workspaces_sinks_are_its_own(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory(QUICKSTART))
    await workspaces.create(app, "northwind")
    with acting_in("northwind"):
        await import_inventory(app, write_inventory(two_domains("n-a.test", "n-b.test"), name="north.yaml"))
        await add_sink(app, "slack", {"webhook_url": "env:NORTH_SLACK"}, take_over=True)
        assert [s.target for s in (await list_sinks(app)).sinks] == ["env:NORTH_SLACK"]
    assert (await list_sinks(app)).sinks == []
    with pytest.raises(NotFoundError):
        await send_test_alert(app, "slack-1")
