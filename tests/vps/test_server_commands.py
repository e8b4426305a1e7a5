"""`email-infra server list|show|cloud-init|port25` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import Cli
from tests.fakes.hetzner import FakeHetzner

INVENTORY = """\
version: 1
providers:
  dns:
    local: {{type: zonefile}}
  mail:
    mc: {{type: mailcow, url: "https://mail.fleet.test", api_key: env:MAILCOW_KEY}}
  vps:
    hz: {{type: hetzner, token: env:HCLOUD_TEST_TOKEN, api_url: "{url}"}}
servers:
  - {{name: mx1, hostname: mail.fleet.test, provider: hz, size: cx32, region: nbg1, image: debian-12,
      mail_backend: mc, api_allow_from: [127.0.0.1/32]}}
  - {{name: old, hostname: old.fleet.test, ipv4: 127.0.0.30, port25: open}}
defaults: {{dns_provider: local, server: mx1}}
domains:
  - name: fleet.test
"""
KEY = "declared-key-0123456789abcdef"


def _write(tmp_path: Path, hetzner: FakeHetzner) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.format(url=hetzner.url))
    return path


def test_list_and_show_say_what_is_declared_and_port_25(cli: Cli, tmp_path: Path, hetzner_api: FakeHetzner) -> None:
    path = _write(tmp_path, hetzner_api)
    listed = cli("server", "list", "-f", str(path), "--json")
    assert listed.returncode == 0, listed.stderr
    by_name = {s["name"]: s for s in json.loads(listed.stdout)}
    assert by_name["mx1"]["created"] is False and by_name["mx1"]["port25"] == {
        "state": "blocked",
        "source": "provider-default",
    }
    assert (
        by_name["old"]["port25"] == {"state": "open", "source": "declared"} and by_name["old"]["ipv4"] == "127.0.0.30"
    )
    table = cli("server", "list", "-f", str(path))
    assert "mx1" in table.stdout and "to create" in table.stdout and "blocked" in table.stdout
    shown = cli("server", "show", "mx1", "-f", str(path), "--json")
    assert json.loads(shown.stdout)["declared"]["size"] == "cx32"
    missing = cli("server", "show", "nope", "-f", str(path))
    assert missing.returncode == 2 and "no server named 'nope'" in missing.stderr


def test_cloud_init_is_printed_for_review_with_the_key_only_when_asked(
    cli: Cli, tmp_path: Path, hetzner_api: FakeHetzner
) -> None:
    path = _write(tmp_path, hetzner_api)
    review = cli("server", "cloud-init", "mx1", "-f", str(path), env={"MAILCOW_KEY": KEY})
    assert review.returncode == 0, review.stderr
    doc = YAML(typ="safe").load(review.stdout)
    assert doc["fqdn"] == "mail.fleet.test" and KEY not in review.stdout and "redacted" in review.stdout
    full = cli("server", "cloud-init", "mx1", "-f", str(path), "--show-secrets", env={"MAILCOW_KEY": KEY})
    assert f"API_KEY={KEY}" in full.stdout
    existing = cli("server", "cloud-init", "old", "-f", str(path))
    assert existing.returncode == 2 and "not created by a VPS provider" in existing.stderr


def test_port25_of_a_server_we_did_not_create_is_refused(cli: Cli, tmp_path: Path, hetzner_api: FakeHetzner) -> None:
    path = _write(tmp_path, hetzner_api)
    assert cli("validate", "-f", str(path)).returncode == 0
    refused = cli("server", "port25", "mx1", "open")
    assert refused.returncode == 2 and "was not created by us" in refused.stderr
    bad = cli("server", "port25", "mx1", "maybe")
    assert bad.returncode == 2
    assert not (tmp_path / "data" / "email-infra.db").exists()  # a refused command stores nothing
