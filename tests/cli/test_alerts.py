"""`email-infra alerts`: the dashboard's alert sink operations from the command line (one service)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.http_server import FakeServer
from tests.services.conftest import QUICKSTART
from tests.services.test_alert_sinks import TOKEN, Recorder


def test_add_list_test_and_remove_a_sink(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART, encoding="utf-8")
    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0
    recorder = Recorder()
    with FakeServer(recorder) as server:
        url = f"{server.url}/hook/{TOKEN}"
        refused = cli("alerts", "add", "webhook", "--url", url, "--name", "ops")
        assert refused.returncode == 2 and "owned by file:" in refused.stderr
        added = cli("alerts", "add", "webhook", "--url", url, "--name", "ops", "--force")
        assert added.returncode == 0, added.stderr
        listed = json.loads(cli("alerts", "list", "--json").stdout)
        assert listed == {
            "owner": "api",
            "sinks": [{"name": "ops", "type": "webhook", "target": f"{server.url}/…/****"}],
        }
        sent = cli("alerts", "test", "ops")
        assert sent.returncode == 0, sent.stderr
        assert [path for path, _, _ in recorder.seen] == [f"/hook/{TOKEN}"]
    for result in (added, sent):
        assert TOKEN not in result.stdout + result.stderr
    bad = cli("alerts", "add", "slack", "--webhook-url", f"https://hooks.slack.com/{TOKEN}")
    assert bad.returncode == 2 and "env:NAME" in bad.stderr and TOKEN not in bad.stderr
    assert cli("alerts", "remove", "ops").returncode == 0
    assert json.loads(cli("alerts", "list", "--json").stdout)["sinks"] == []
