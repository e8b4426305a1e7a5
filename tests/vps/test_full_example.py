"""`email-infra plan -f examples/full.yaml` with every provider endpoint pointed at a fake: servers,
mail and DNS in one ordered plan."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import Cli
from tests.fakes.cloudflare import FakeCloudflare
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.http_server import FakeServer
from tests.fakes.mailcow import FakeMailcow

EXAMPLE = Path(__file__).parents[2] / "examples" / "full.yaml"
DOMAINS = ("getoutbound.com", "tryoutbound.com", "outboundmail.io")


@pytest.fixture
def cloudflare(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudflare]:
    api = FakeCloudflare()
    for domain in DOMAINS:
        api.add_zone(domain)
    with FakeServer(api) as server:
        api.url = server.url + "/client/v4"
        yield api


def _pointed_at_fakes(tmp_path: Path, cloudflare: str, mailcow: str, hetzner: str) -> Path:
    yaml = YAML()
    doc = yaml.load(EXAMPLE.read_text())
    doc["providers"]["dns"]["cloudflare"]["api_url"] = cloudflare
    doc["providers"]["mail"]["mailcow"]["url"] = mailcow
    doc["providers"]["vps"]["hetzner"]["api_url"] = hetzner
    doc["servers"][0]["api_allow_from"] = ["127.0.0.1/32"]
    out = io.StringIO()
    yaml.dump(doc, out)
    path = tmp_path / "full.yaml"
    path.write_text(out.getvalue())
    return path


def test_full_example_plans_servers_mail_and_dns_in_one_ordered_plan(
    cli: Cli, tmp_path: Path, cloudflare: FakeCloudflare, hetzner_api: FakeHetzner
) -> None:
    mailcow = FakeMailcow()
    with FakeServer(mailcow) as mail_server:
        path = _pointed_at_fakes(tmp_path, cloudflare.url, mail_server.url, hetzner_api.url)
        env = {
            "CLOUDFLARE_API_TOKEN": next(iter(cloudflare.tokens)),
            "MAILCOW_API_KEY": mailcow.rw_key,
            "HCLOUD_TOKEN": hetzner_api.token,
        }
        text = cli("plan", "-f", str(path), env=env)
        as_json = cli("plan", "-f", str(path), "--json", env=env)
    assert text.returncode == 0, text.stdout + text.stderr
    out = text.stdout
    server_line = out.index("vps.server:mx1: + server mx1 at hetzner")
    mail_line = out.index("mail.domain:getoutbound.com: + mail domain getoutbound.com")
    zone_line = out.index("getoutbound.com (cloudflare)")
    assert server_line < mail_line < zone_line  # servers, then mail, then DNS
    assert "ip4:(known after apply)" in out
    plan = json.loads(as_json.stdout)
    keys = {s["key"] for s in plan["steps"]}
    assert {"vps.server:mx1", "vps.rdns:mx1"} <= keys
    assert {f"mail.mailboxes:{d}" for d in DOMAINS} <= keys and {f"dns.zone:{d}" for d in DOMAINS} <= keys
    assert plan["summary"]["create"] > 0 and not [s for s in plan["steps"] if s["error"]]
    assert hetzner_api.servers == {} and mailcow.writes == 0  # a plan writes nothing
