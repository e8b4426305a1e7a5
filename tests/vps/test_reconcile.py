"""End to end: a server created at the (fake) Hetzner API, its address in the real PowerDNS, its reverse
DNS set after the A record resolves, Mailcow on it configured — and a kill -9 during creation."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.export import export_credentials
from email_infrastructure.services.vps import list_servers, record_port25
from tests.dns.test_powerdns import query
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.mailcow import FakeMailcow
from tests.fixtures.kills import kill_apply_when
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import WriteInventory


@pytest.fixture
def env(hetzner_api: FakeHetzner, pdns: PowerDns, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"HCLOUD_TEST_TOKEN": hetzner_api.token, "PDNS_TEST_KEY": pdns.api_key}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def inventory(pdns: PowerDns, hetzner: FakeHetzner, zone: str, mail_url: str | None = None, **server: str) -> str:
    mail = f'  mail:\n    mc: {{type: mailcow, url: "{mail_url}", api_key: env:MAILCOW_TEST_KEY, timeout: 2}}\n'
    spec = {"size": "cx32", "region": "nbg1", "image": "debian-12", **server}
    fields = ", ".join(f"{k}: {v}" for k, v in spec.items())
    backend = ", mail_backend: mc" if mail_url else ""
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
  vps:
    hz: {{type: hetzner, token: env:HCLOUD_TEST_TOKEN, api_url: "{hetzner.url}", ssh_keys: [ops], poll_interval: 0.02}}
{mail if mail_url else ""}servers:
  - {{name: mx1, hostname: mail.{zone}, provider: hz, {fields}, api_allow_from: [127.0.0.1/32]{backend}}}
defaults:
  dns_provider: pdns
  server: mx1
  dmarc: {{policy: none, rua: ["mailto:dmarc@{zone}"]}}
domains:
  - name: {zone}
    mailboxes:
      - {{first_name: Ann, last_name: Lee}}
monitoring:
  nameservers: ["127.0.0.1:{pdns.dns_port}"]
"""


def _zone() -> str:
    return f"v{uuid.uuid4().hex[:10]}.test"


async def _events(app: App, prefix: str) -> list[dict[str, Any]]:
    async with app.uow() as uow:
        rows = await uow.events.recent(limit=1000, topic_prefix=prefix)
    return [{"topic": r.topic, **r.payload} for r in rows]


async def test_plan_orders_servers_then_mail_then_dns_with_addresses_known_after_apply(
    app: App,
    write_inventory: WriteInventory,
    hetzner_api: FakeHetzner,
    pdns: PowerDns,
    env: dict[str, str],
    mailcow: tuple[FakeMailcow, str],
) -> None:
    zone = _zone()
    planned = await plans.plan(app, source=write_inventory(inventory(pdns, hetzner_api, zone, mailcow[1])))
    assert not planned.failed, [s.error for s in planned.failed]
    steps = {s.key: s for s in planned.graph.steps}
    create = steps["vps.server:mx1"].changes
    assert [c.action for c in create] == ["create"]
    assert create[0].to_json()["new"]["ipv4"] == {"known_after_apply": True}
    zone_json = next(z for z in planned.to_json()["zones"] if z["zone"] == zone)
    values = {(c["name"], c["type"]): c["new"]["values"] for c in zone_json["changes"]}
    assert values[(f"mail.{zone}", "A")] == ["(known after apply)"]
    assert "ip4:(known after apply)" in values[(zone, "TXT")][0]
    assert "0.0.0.0" not in str(planned.to_json())  # no placeholder leaks into what people read
    # DNS and mail wait for the server; reverse DNS waits for the zone that publishes its A record
    assert "vps.server:mx1" in steps[f"dns.zone:{zone}"].depends_on
    assert "vps.server:mx1" in steps[f"mail.domain:{zone}"].depends_on
    assert set(steps["vps.rdns:mx1"].depends_on) == {"vps.server:mx1", f"dns.zone:{zone}"}
    assert [c.action for c in steps[f"mail.domain:{zone}"].changes] == ["create"]
    assert hetzner_api.servers == {}  # planning created nothing
    notes = " ".join(steps["vps.server:mx1"].notes)
    assert "port 25 is blocked" in notes


async def test_apply_creates_publishes_sets_reverse_dns_and_a_second_apply_changes_nothing(
    app: App,
    write_inventory: WriteInventory,
    hetzner_api: FakeHetzner,
    pdns: PowerDns,
    env: dict[str, str],
    mailcow: tuple[FakeMailcow, str],
) -> None:
    zone = _zone()
    fake_mailcow, url = mailcow
    source = write_inventory(inventory(pdns, hetzner_api, zone, url))
    applied = await plans.apply(app, source=source)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    [server] = hetzner_api.ours()
    ipv4 = server["public_net"]["ipv4"]["ip"]
    assert await query(pdns, f"mail.{zone}", "A") == [ipv4]
    spf = await query(pdns, zone, "TXT")
    assert any(f"ip4:{ipv4}" in v for v in spf), spf
    assert server["public_net"]["ipv4"]["dns_ptr"] == f"mail.{zone}"
    assert f"ann.lee@{zone}" in fake_mailcow.mailboxes
    # the new server's cloud-init carries the mail provider's declared key for Mailcow's API
    assert f"API_KEY={env_key(fake_mailcow)}" in server["_user_data"]
    created = await _events(app, "vps.server.created")
    assert len(created) == 1 and created[0]["ipv4"] == ipv4
    [view] = await list_servers(app)
    assert {e["ip"] for e in await _events(app, "vps.rdns.updated")} == {ipv4, view.facts["ipv6"]}
    assert view.created and view.facts["ipv4"] == ipv4 and view.facts["ptr"][ipv4] == f"mail.{zone}"

    again = await plans.apply(app)
    assert again.status == "unchanged", again.to_json()
    assert len(hetzner_api.servers) == 1
    assert len(await _events(app, "vps.server.created")) == 1

    # its mailboxes export, with a warning first: Hetzner blocks port 25 on new accounts
    exported = await export_credentials(app, "generic")
    assert exported.rows == 1 and any("port 25 is blocked (provider-default)" in w for w in exported.warnings)
    await record_port25(app, "mx1", "open")
    assert (await export_credentials(app, "generic")).warnings == []


def env_key(fake: FakeMailcow) -> str:
    return fake.rw_key


async def test_reverse_dns_waits_for_the_a_record_and_the_next_apply_sets_it(
    app: App,
    write_inventory: WriteInventory,
    hetzner_api: FakeHetzner,
    pdns: PowerDns,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from email_infrastructure.reconcile import vps_steps

    zone = _zone()
    source = write_inventory(inventory(pdns, hetzner_api, zone))
    unanswered: list[str] = []

    async def nothing_yet(self: vps_steps.ReverseDnsStep, ip: str) -> bool:
        unanswered.append(ip)
        return False

    with monkeypatch.context() as patch:
        patch.setattr(vps_steps.ReverseDnsStep, "_resolves", nothing_yet)
        first = await plans.apply(app, source=source)
    assert [o.key for o in first.failed] == ["vps.rdns:mx1"]
    assert "does not resolve to it yet" in str(first.failed[0].error)
    [server] = hetzner_api.ours()
    assert not server["public_net"]["ipv4"]["dns_ptr"].startswith("mail.")
    [view] = await list_servers(app)
    assert "does not resolve" in str(view.facts["last_error"])  # the created server is remembered

    second = await plans.apply(app)
    assert not second.failed, [(o.key, o.error) for o in second.failed]
    assert [o.key for o in second.outcomes if o.status == "applied"] == ["vps.rdns:mx1"]
    assert hetzner_api.ours()[0]["public_net"]["ipv4"]["dns_ptr"] == f"mail.{zone}"
    assert len(hetzner_api.servers) == 1


async def test_an_unknown_server_type_or_location_fails_the_plan_clearly(
    app: App, write_inventory: WriteInventory, hetzner_api: FakeHetzner, pdns: PowerDns, env: dict[str, str]
) -> None:
    zone = _zone()
    planned = await plans.plan(
        app, source=write_inventory(inventory(pdns, hetzner_api, zone, size="cx99", region="mars1"))
    )
    error = next(s.error for s in planned.failed if s.key == "vps.server:mx1")
    assert "server type 'cx99' is not offered" in str(error) and "location 'mars1'" in str(error)
    assert f"dns.zone:{zone}" in {s.key for s in planned.failed}  # its zone waits on it: not planned half
    assert hetzner_api.servers == {}


async def test_a_small_server_is_planned_with_a_memory_warning(
    app: App,
    write_inventory: WriteInventory,
    hetzner_api: FakeHetzner,
    pdns: PowerDns,
    env: dict[str, str],
    mailcow: tuple[FakeMailcow, str],
) -> None:
    planned = await plans.plan(
        app, source=write_inventory(inventory(pdns, hetzner_api, _zone(), mailcow[1], size="cx22"))
    )
    notes = next(s.notes for s in planned.graph.steps if s.key == "vps.server:mx1")
    assert any("Mailcow needs at least 6 GiB" in n for n in notes), notes


async def test_a_server_no_longer_declared_is_deleted_only_with_prune(
    app: App, write_inventory: WriteInventory, hetzner_api: FakeHetzner, pdns: PowerDns, env: dict[str, str]
) -> None:
    zone = _zone()
    text = inventory(pdns, hetzner_api, zone)
    assert not (await plans.apply(app, source=write_inventory(text))).failed
    hetzner_api.add_server("someone-elses")
    source = write_inventory(_drop_server(text, zone))
    planned = await plans.plan(app, source=source)
    step = next(s for s in planned.graph.steps if s.key == "vps.server:mx1")
    assert step.changes == [] and any("--prune deletes it" in n for n in step.notes)
    kept = await plans.apply(app, source=source)
    assert len(hetzner_api.servers) == 2 and not kept.failed
    pruned = await plans.apply(app, source=source, prune=True)
    assert not pruned.failed, [(o.key, o.error) for o in pruned.failed]
    assert [s["name"] for s in hetzner_api.servers.values()] == ["someone-elses"]  # never one not ours
    assert len(await _events(app, "vps.server.deleted")) == 1
    assert [v.name for v in await list_servers(app)] == ["mx9"]


def _drop_server(text: str, zone: str) -> str:
    """The inventory with mx1 replaced by an existing server (given by its address)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("  - {name: mx1,"):
            line = f"  - {{name: mx9, hostname: mail.{zone}, ipv4: 127.0.0.21}}"
        lines.append(line.replace("server: mx1", "server: mx9"))
    return "\n".join(lines) + "\n"


async def test_port25_recorded_shows_in_status_and_the_plan(
    app: App, write_inventory: WriteInventory, hetzner_api: FakeHetzner, pdns: PowerDns, env: dict[str, str]
) -> None:
    from email_infrastructure.services.status import status

    source = write_inventory(inventory(pdns, hetzner_api, _zone()))
    assert not (await plans.apply(app, source=source)).failed
    report = await status(app)
    assert "port 25 blocked (provider-default)" in report.components["servers"].detail
    await record_port25(app, "mx1", "open")
    report = await status(app)
    assert "port 25 open (recorded)" in report.components["servers"].detail
    plan_notes = next(s.notes for s in (await plans.plan(app)).graph.steps if s.key == "vps.server:mx1")
    assert not any("blocked" in n for n in plan_notes)


async def test_killed_during_creation_the_rerun_finds_the_server_and_never_makes_a_second(
    tmp_path: Path,
    hetzner_api: FakeHetzner,
    pdns: PowerDns,
    env: dict[str, str],
    write_inventory: WriteInventory,
    app: App,
) -> None:
    zone = _zone()
    source = write_inventory(inventory(pdns, hetzner_api, zone))
    hetzner_api.actions_never_finish = True  # creation hangs in its action poll: the moment to kill
    await kill_apply_when(
        app, source.path, hetzner_api.unfinished_polled, env=env, what="the poll of the server's creation"
    )
    hetzner_api.actions_never_finish = False
    for server in hetzner_api.servers.values():  # the platform finishes booting it without us
        server["status"] = "running"

    again = await plans.apply(app, source=source)
    assert not again.failed, [(o.key, o.error) for o in again.failed]
    assert len(hetzner_api.servers) == 1
    created = await _events(app, "vps.server.created")
    assert len(created) == 1  # the intent written before the create call, confirmed once
