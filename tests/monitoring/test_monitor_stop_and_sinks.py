"""Stopping the monitor mid-run, alert URLs posted as configured, compliance when inputs are unknown."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory.schema import SinkSpec
from email_infrastructure.core.settings import Settings
from email_infrastructure.monitoring.audit import AuditReport
from email_infrastructure.monitoring.checks.compliance import compliance
from email_infrastructure.monitoring.findings import CheckResult, CheckStatus
from email_infrastructure.monitoring.monitor import FAMILIES, Monitor, family_name
from email_infrastructure.monitoring.sinks import build_sink
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import record_results
from tests.fakes.http_server import FakeServer

EVENT = Event("monitoring.check.failed", {"subject": "x.test", "check": "spf", "status": "error"})


class PathRecorder:
    """Records the path and query of every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, list[str]]]] = []

    def __call__(
        self, method: str, path: str, query: Any, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        self.seen.append((path, query))
        return 200, {"Content-Type": "text/plain"}, b"ok"


@pytest.mark.parametrize("kind", ["webhook", "slack"])
async def test_sinks_post_to_the_url_exactly_as_configured(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = PathRecorder()
    with FakeServer(recorder) as server:
        url = f"{server.url}/hook?team=ops"
        monkeypatch.setenv("TEST_SINK_URL", url)
        spec = SinkSpec(type=kind, **({"url": url} if kind == "webhook" else {"webhook_url": "env:TEST_SINK_URL"}))  # type: ignore[call-arg]  # settings are extra fields of the spec
        sink = build_sink(0, spec)
        await sink.send(EVENT)
        await sink.close()
    assert recorder.seen == [("/hook", {"team": ["ops"]})]


def test_compliance_is_unknown_when_its_inputs_are() -> None:
    unknown = CheckResult("spf")
    unknown.cannot_tell("spf.unknown", "timeout")
    checks = {"spf": unknown, "dkim": CheckResult("dkim"), "dmarc": CheckResult("dmarc")}
    assert compliance(checks, ptr_ok=True).status is CheckStatus.UNKNOWN
    assert compliance({"spf": CheckResult("spf"), **{k: v for k, v in checks.items() if k != "spf"}}, True).status is (
        CheckStatus.OK
    )


def test_blocklist_is_an_alias_of_the_blacklist_family() -> None:
    assert family_name("blocklist") == "blacklist"
    assert family_name("dns") == "dns"


async def test_a_stop_cancels_a_run_in_progress(settings: Settings) -> None:
    app = App(settings)
    stop = asyncio.Event()
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def runner(checks: set[str]) -> AuditReport:
        started.set()
        try:
            await asyncio.Event().wait()  # an audit whose nameservers never answer
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        raise AssertionError("unreachable")

    monitor = Monitor(runner, lambda rows: record_results(app, rows), dict.fromkeys(FAMILIES, 0))
    task = asyncio.ensure_future(monitor.run_forever(stop))
    await started.wait()
    stop.set()
    await asyncio.wait_for(task, 10)  # a guard against hanging, not a timing assertion
    assert cancelled
    await app.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_monitor_while_an_audit_waits_on_dns(sig: int, tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\nproviders: {dns: {local: {type: zonefile}}}\n"
        "servers:\n  - {name: mx1, hostname: mail.good.test, ipv4: 127.0.0.10}\n"
        "defaults: {dns_provider: local, server: mx1}\ndomains:\n  - name: good.test\n"
        f'monitoring:\n  nameservers: ["127.0.0.1:{silent.getsockname()[1]}"]\n'
        "  intervals: {dns: 60, blacklist: 60, ptr: 60, tls: 60}\n"
    )
    env = {"EMAIL_INFRA_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "email_infrastructure", "monitor", "-f", str(inventory)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the audit is waiting on the silent server once a query reached it
        silent.settimeout(30)  # the first run starts within 6 s (10 % jitter)
        silent.recvfrom(512)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)  # a guard, not a timing assertion
    finally:
        process.kill()
        silent.close()
    assert process.returncode == 0, stderr
