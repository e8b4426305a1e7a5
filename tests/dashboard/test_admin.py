"""The admin pages (issue 24 item 8): admin scope only, CSRF on every change, a new key shown once and
never again, a revoked key's session ended, alert sink secrets masked everywhere, the vault's key id
and secrets, workspace isolation, bad input refused with nothing changed."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from email_infrastructure.core.vault import key_id
from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.scope import EVERY, acting_in
from email_infrastructure.storage.models import EventRecord
from tests.dashboard.conftest import SCRIPT, Seeded, csrf_of, login
from tests.services.conftest import QUICKSTART, WriteInventory, two_domains

PAGES = ("/admin", "/admin/keys", "/admin/alerts", "/admin/vault")
TOKEN = "hookT0ken-9f8e7d6c5b4a"
NEW_KEY = re.compile(r"eik_[0-9a-f]{8}_[A-Za-z0-9_-]{43,}")


def make_key(seeded: Seeded, name: str, scope: str, workspace: str | None = None) -> str:
    """A new key straight through the service (the seeded fixture has read and write keys only)."""

    async def make() -> str:
        app = App(seeded.settings)
        try:
            return (await ApiKeyService(app).create(name, scope, source="test", workspace=workspace)).key
        finally:
            await app.close()

    return asyncio.run(make())


def stored_events(seeded: Seeded) -> str:
    """Every stored event's topic, source and payload, of every workspace, as one text to grep."""

    async def read() -> str:
        app = App(seeded.settings)
        try:
            async with app.uow(EVERY) as uow:
                rows = (await uow.session.scalars(select(EventRecord))).all()
                return json.dumps([[r.topic, r.source, r.payload] for r in rows], default=str)
        finally:
            await app.close()

    return asyncio.run(read())


@pytest.mark.parametrize("scope", ["read", "write"])
def test_read_and_write_keys_get_403_and_no_admin_link(client: TestClient, seeded: Seeded, scope: str) -> None:
    csrf = login(client, seeded.keys[scope])
    assert "/admin/keys" not in client.get("/").text
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    response = client.post("/admin/keys", data={"csrf": csrf, "name": "sneaky", "scope": "admin"})
    assert response.status_code == 403
    added = {"csrf": csrf, "type": "webhook", "url": "https://h.example.com/", "take_over": "yes"}
    assert client.post("/admin/alerts", data=added).status_code == 403
    assert "sneaky" not in stored_events(seeded)


def test_a_new_key_is_shown_once_and_never_again(
    client: TestClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = login(client, make_key(seeded, "boss", "admin"))
    assert 'href="/admin/keys"' in client.get("/").text
    assert client.get("/admin").headers["location"] == "/admin/keys"
    assert client.get("/workspaces/default/admin").headers["location"] == "/workspaces/default/admin/keys"
    assert client.post("/admin/keys", data={"name": "ci", "scope": "write"}).status_code == 403  # no CSRF token
    response = client.post("/admin/keys", data={"csrf": csrf, "name": "ci", "scope": "write"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    [key] = NEW_KEY.findall(response.text)
    assert response.text.count(key) == 1
    page = client.get("/admin/keys").text
    assert key not in page and 'data-key="ci" data-state="active"' in page
    assert key[:12] in page  # its prefix, by which it is recognised
    assert key not in stored_events(seeded) and key not in caplog.text
    assert "api.key.created" in stored_events(seeded)
    # the key works, once: it logs in
    client.cookies.clear()
    login(client, key)


def test_bad_key_input_is_a_400_and_nothing_is_made(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, make_key(seeded, "boss", "admin"))
    for name, scope in (("bad name", "read"), ("ok-name", "root"), (SCRIPT, "read"), ("boss", "read")):
        response = client.post("/admin/keys", data={"csrf": csrf, "name": name, "scope": scope})
        assert response.status_code == 400, (name, scope)
        assert SCRIPT not in response.text
    page = client.get("/admin/keys").text
    assert "ok-name" not in page and len(NEW_KEY.findall(page)) == 0


def test_a_revoked_key_ends_its_session(client: TestClient, seeded: Seeded) -> None:
    temp = make_key(seeded, "temp", "write")
    login(client, temp)
    temp_session = dict(client.cookies)
    client.cookies.clear()
    csrf = login(client, make_key(seeded, "boss", "admin"))
    confirm = client.get("/admin/keys/temp/revoke")
    assert confirm.status_code == 200 and "you are logged in with" not in confirm.text
    assert client.post("/admin/keys/temp/revoke", data={"csrf": "wrong"}).status_code == 403
    assert client.post("/admin/keys/temp/revoke", data={"csrf": csrf}).status_code == 303
    assert 'data-key="temp" data-state="revoked"' in client.get("/admin/keys").text
    client.cookies.clear()
    client.cookies.update(temp_session)
    assert client.get("/").headers["location"].startswith("/login")


def test_revoking_your_own_key_warns_then_logs_you_out(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, make_key(seeded, "boss", "admin"))
    assert "This is the key you are logged in with" in client.get("/admin/keys/boss/revoke").text
    response = client.post("/admin/keys/boss/revoke", data={"csrf": csrf})
    assert response.headers["location"] == "/login"
    assert client.get("/admin/keys").headers["location"].startswith("/login")


def test_sink_secrets_are_masked_in_every_page_and_event(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, make_key(seeded, "boss", "admin"))
    page = client.get("/admin/alerts").text
    assert 'id="owner-note"' in page  # the quickstart file owns the monitoring settings
    url = f"https://hooks.example.com/services/{TOKEN}?token={TOKEN}"
    form = {"csrf": csrf, "type": "webhook", "name": "ops", "url": url, "secret": "env:OPS_SECRET"}
    refused = client.post("/admin/alerts", data=form)
    assert refused.status_code == 400 and "owned by file:" in refused.text
    added = client.post("/admin/alerts", data={**form, "take_over": "yes"})
    assert added.status_code == 200 and "added the alert sink ops" in added.text
    assert "OPS_SECRET is not set" in added.text  # the file's warning, as `monitor` would give it
    page = client.get("/admin/alerts").text
    assert 'data-sink="ops"' in page and "https://hooks.example.com/…/****" in page and "env:OPS_SECRET" in page
    assert 'id="owner-note"' not in page
    for text in (added.text, page, client.get("/events").text, stored_events(seeded)):
        assert TOKEN not in text
    assert client.post("/admin/alerts/remove", data={"csrf": "stale", "name": "ops"}).status_code == 403
    assert client.post("/admin/alerts/remove", data={"csrf": csrf, "name": "ops"}).status_code == 303
    assert 'data-sink="ops"' not in client.get("/admin/alerts").text
    assert "desired.alert_sink.removed" in stored_events(seeded)


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "slack", "webhook_url": f"https://hooks.slack.com/services/{TOKEN}"},
        {"type": "webhook", "url": "javascript:alert(1)"},
        {"type": "email", "to": "ops@example.com", "from": SCRIPT},
        {"type": "webhook", "url": "https://h.example.com/", "name": SCRIPT},
        {"type": "sms", "to": "+1555"},
    ],
)
def test_bad_sink_input_is_a_400_and_nothing_changes(
    client: TestClient, seeded: Seeded, fields: dict[str, str]
) -> None:
    csrf = login(client, make_key(seeded, "boss", "admin"))
    before = client.get("/admin/alerts").text
    response = client.post("/admin/alerts", data={"csrf": csrf, "take_over": "yes", **fields})
    assert response.status_code == 400
    assert TOKEN not in response.text and SCRIPT not in response.text
    assert client.get("/admin/alerts").text == before


def test_a_sink_from_a_file_is_escaped(client: TestClient, seeded: Seeded, write_inventory: WriteInventory) -> None:
    async def seed() -> None:
        app = App(seeded.settings)
        try:
            sink = f"{{type: webhook, name: '{SCRIPT}', url: 'https://h.example.com/{TOKEN}'}}"
            text = QUICKSTART + f"\nmonitoring:\n  alert_sinks:\n    - {sink}\n"
            await import_inventory(app, write_inventory(text), force=True)
        finally:
            await app.close()

    asyncio.run(seed())
    login(client, make_key(seeded, "boss", "admin"))
    page = client.get("/admin/alerts").text
    assert SCRIPT not in page and "&lt;script&gt;" in page and TOKEN not in page


def test_the_vault_page_shows_the_key_id_never_the_key(client: TestClient, seeded: Seeded) -> None:
    login(client, make_key(seeded, "boss", "admin"))
    page = client.get("/admin/vault")
    assert page.status_code == 200
    key = (seeded.settings.data_dir / "secret.key").read_text().strip()
    assert key not in page.text
    assert f'<span class="mono" id="key-id">{key_id(key)}</span>' in page.text
    assert re.search(r'id="secrets">\d+ — <span class="badge s-ok">all decrypt', page.text)
    assert "never (the key is the first one)" in page.text
    assert "email-infra vault rotate-key" in page.text


def test_a_workspace_admin_sees_and_changes_only_its_own(
    client: TestClient, seeded: Seeded, write_inventory: WriteInventory
) -> None:
    async def seed() -> None:
        app = App(seeded.settings)
        try:
            await workspaces.create(app, "northwind")
            with acting_in("northwind"):
                await import_inventory(app, write_inventory(two_domains("n-a.test", "n-b.test"), name="north.yaml"))
        finally:
            await app.close()

    asyncio.run(seed())
    make_key(seeded, "north-read", "read", workspace="northwind")
    csrf = login(client, make_key(seeded, "north-boss", "admin", workspace="northwind"))
    page = client.get("/admin/keys").text
    assert re.findall(r'data-key="([^"]+)"', page) == ["north-boss", "north-read"]
    assert "operator" not in page  # no operator key box, no operator key listed
    assert client.get("/admin/keys/dash-read/revoke").status_code == 404
    assert client.post("/admin/keys/dash-read/revoke", data={"csrf": csrf}).status_code == 404
    made = client.post("/admin/keys", data={"csrf": csrf, "name": "north-op", "scope": "read", "operator": "yes"})
    assert made.status_code == 403
    assert client.get("/admin/vault").status_code == 404
    assert client.get("/workspaces/default/admin/alerts").status_code == 404
    form = {"csrf": csrf, "type": "slack", "webhook_url": "env:NORTH", "take_over": "yes"}
    assert client.post("/admin/alerts", data=form).status_code == 200
    client.cookies.clear()
    login(client, make_key(seeded, "boss", "admin"))
    assert "env:NORTH" not in client.get("/admin/alerts").text
    assert "env:NORTH" in client.get("/workspaces/northwind/admin/alerts").text
    keys = client.get("/admin/keys").text  # an operator: default's keys and the operator keys
    assert "north-boss" not in keys and 'data-key="dash-read"' in keys
    assert 'data-key="north-boss"' in client.get("/workspaces/northwind/admin/keys").text
    assert csrf_of(keys)
