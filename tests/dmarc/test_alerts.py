"""Pass-rate alerts: edge-triggered, through the configured sinks to local receivers."""

from __future__ import annotations

import json
import queue
import threading
from email import message_from_bytes
from pathlib import Path
from typing import Any

from email_infrastructure.core.events import Event
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from tests.dmarc.conftest import OUR_SERVER_IP, Manage
from tests.dmarc.reports import Row, aggregate
from tests.fakes.http_server import FakeServer
from tests.fixtures.pdns import free_port
from tests.fixtures.receiver import receiving

OFFLINE = IngestOptions(resolve=False)


class Hook:
    """An HTTP endpoint that keeps what is posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(
        self, method: str, path: str, query: Any, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.bodies.append(json.loads(body))
        return 200, {}, b"ok"


async def test_a_failing_domain_alerts_once_and_again_when_it_recovers(
    app: App, manage: Manage, tmp_path: Path, events: list[Event]
) -> None:
    hook, smtp_port = Hook(), free_port()
    with FakeServer(hook) as server, receiving(smtp_port) as mailbox:
        await manage(sinks=[
            {"type": "webhook", "url": f"{server.url}/alerts"},
            {"type": "email", "host": "127.0.0.1", "port": smtp_port, "starttls": "never",
             "from": "monitor@acme-outreach.test", "to": ["ops@acme-outreach.test"]},
        ])  # fmt: skip

        async def ingest(name: str, rows: list[Row]) -> None:
            path = tmp_path / f"{name}.xml"
            path.write_bytes(aggregate(rows, report_id=name))
            await ingest_paths(app, [path], OFFLINE)

        # 60 of 100 pass: below the 90 % default
        await ingest("bad-1", [Row(OUR_SERVER_IP, 60), Row("198.51.100.20", 40, dkim="fail", spf="fail")])
        assert [b["topic"] for b in hook.bodies] == ["monitoring.dmarc.failure_rate"]
        payload = hook.bodies[0]["payload"]
        assert (payload["subject"], payload["status"], payload["previous"]) == ("acme-outreach.test", "error", None)
        assert payload["pass_rate"] == 0.6 and payload["threshold"] == 0.9 and payload["messages"] == 100
        subject = message_from_bytes(mailbox.messages.get(timeout=10).raw)["Subject"]
        assert subject.startswith("[email-infra] FAILED dmarc_pass_rate on acme-outreach.test")

        # still failing: no second alert
        await ingest("bad-2", [Row("198.51.100.20", 10, dkim="fail", spf="fail")])
        assert len(hook.bodies) == 1

        # 1,000 more passing messages lift the rate above the threshold: one recovery
        await ingest("good", [Row(OUR_SERVER_IP, 1000)])
        assert [b["payload"]["status"] for b in hook.bodies] == ["error", "ok"]
        assert hook.bodies[1]["payload"]["previous"] == "error"
        subject = message_from_bytes(mailbox.messages.get(timeout=10).raw)["Subject"]
        assert subject.startswith("[email-infra] RECOVERED dmarc_pass_rate on acme-outreach.test")
        try:
            extra = mailbox.messages.get_nowait()
        except queue.Empty:
            extra = None
        assert extra is None
    assert [e.payload["status"] for e in events if e.topic == "monitoring.dmarc.failure_rate"] == ["error", "ok"]


async def test_too_few_messages_never_alert(app: App, manage: Manage, tmp_path: Path, events: list[Event]) -> None:
    await manage()
    path = tmp_path / "few.xml"
    path.write_bytes(aggregate([Row("198.51.100.20", 5, dkim="fail", spf="fail")], report_id="few"))
    result = await ingest_paths(app, [path], OFFLINE)
    assert result.alerts == [] and not [e for e in events if e.topic == "monitoring.dmarc.failure_rate"]
