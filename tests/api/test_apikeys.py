"""API keys: shown once, stored as an HMAC only, verified, scoped, revoked; the `apikey` commands."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from email_infrastructure.core.errors import UserError
from email_infrastructure.services.apikeys import (
    SERVER_KEY,
    ApiKeyService,
    AuthenticationError,
    PermissionDeniedError,
    require,
)
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import ApiKey, utcnow
from tests.api.conftest import KNOWN_SECRETS
from tests.conftest import Cli


async def test_a_key_is_stored_only_as_an_hmac_and_verifies(app: App) -> None:
    keys = ApiKeyService(app)
    created = await keys.create("ci", "write")
    KNOWN_SECRETS.add(created.key)
    prefix, secret = created.key.split("_")[1], created.key.split("_", 2)[2]
    assert created.key.startswith("eik_") and len(prefix) == 8 and len(secret) >= 43  # 32 random bytes
    async with app.uow() as uow:
        row = await uow.session.scalar(select(ApiKey).where(ApiKey.name == "ci"))
        dump = " ".join(str(v) for r in (await uow.session.execute(text("SELECT * FROM api_keys"))).all() for v in r)
        assert await uow.secrets().get(*SERVER_KEY)  # the HMAC key is in the vault
    assert row is not None and row.prefix == prefix and len(row.key_hash) == 64
    assert secret not in dump and created.key not in dump
    info = await ApiKeyService(app).verify(created.key)  # a fresh service reads the server key from the vault
    assert (info.name, info.scope) == ("ci", "write")
    assert info.allows("read") and info.allows("write") and not info.allows("admin")


@pytest.mark.parametrize(
    "bad",
    [None, "", "eik_zz_short", "Bearer nothing", "eik_00000000_" + "A" * 43],
)
async def test_missing_malformed_or_unknown_keys_are_refused(app: App, bad: str | None) -> None:
    keys = ApiKeyService(app)
    KNOWN_SECRETS.add((await keys.create("someone", "read")).key)
    with pytest.raises(AuthenticationError):
        await keys.verify(bad)


async def test_a_key_with_one_character_changed_is_refused(app: App) -> None:
    keys = ApiKeyService(app)
    key = (await keys.create("x", "admin")).key
    KNOWN_SECRETS.add(key)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(AuthenticationError):
        await keys.verify(tampered)


async def test_a_revocation_elsewhere_takes_effect_once_the_short_cache_expires(app: App) -> None:
    server = ApiKeyService(app)  # the API process
    key = (await server.create("ci2", "read")).key
    KNOWN_SECRETS.add(key)
    await server.verify(key)
    await ApiKeyService(app).revoke("ci2")  # the CLI, another process
    assert (await server.verify(key)).name == "ci2"  # trusted for up to VERIFIED_FOR seconds more
    server._verified.clear()  # as when VERIFIED_FOR seconds have passed
    with pytest.raises(AuthenticationError):
        await server.verify(key)


async def test_revoked_keys_are_refused_and_the_name_can_be_reused(app: App) -> None:
    keys = ApiKeyService(app)
    old = (await keys.create("deploy", "write")).key
    KNOWN_SECRETS.add(old)
    revoked = await keys.revoke("deploy")
    assert revoked.revoked_at is not None
    with pytest.raises(AuthenticationError):
        await keys.verify(old)
    new = (await keys.create("deploy", "read")).key
    KNOWN_SECRETS.add(new)
    assert (await keys.verify(new)).scope == "read"
    with pytest.raises(AuthenticationError):
        await keys.verify(old)


async def test_names_and_scopes_are_checked(app: App) -> None:
    keys = ApiKeyService(app)
    KNOWN_SECRETS.add((await keys.create("dup", "read")).key)
    with pytest.raises(UserError, match="exists already"):
        await keys.create("dup", "read")
    with pytest.raises(UserError, match="unknown scope"):
        await keys.create("other", "root")
    with pytest.raises(UserError, match="key name"):
        await keys.create("has space", "read")
    with pytest.raises(UserError, match="no API key"):
        await keys.revoke("absent")


async def test_scopes_are_ordered_read_write_admin(app: App) -> None:
    keys = ApiKeyService(app)
    created = await keys.create("reader", "read")
    KNOWN_SECRETS.add(created.key)
    require(created.info, "read")
    with pytest.raises(PermissionDeniedError, match="write scope"):
        require(created.info, "write")


async def test_last_used_is_written_at_most_once_a_minute(app: App) -> None:
    keys = ApiKeyService(app)
    key = (await keys.create("poller", "read")).key
    KNOWN_SECRETS.add(key)
    first = (await keys.verify(key)).last_used_at
    assert first is not None
    assert (await ApiKeyService(app).verify(key)).last_used_at == first  # within the minute: no write
    async with app.uow() as uow:  # a minute later
        row = await uow.session.scalar(select(ApiKey).where(ApiKey.name == "poller"))
        assert row is not None
        row.last_used_at = utcnow() - timedelta(seconds=61)
        await uow.commit()
    again = (await ApiKeyService(app).verify(key)).last_used_at  # a fresh verifier: nothing cached
    assert again is not None and again > first


def test_apikey_commands_create_list_revoke(cli: Cli) -> None:
    made = cli("apikey", "create", "--name", "ops", "--scope", "admin", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    KNOWN_SECRETS.add(key)
    plain = cli("apikey", "create", "--name", "bot", "--scope", "read")
    assert plain.returncode == 0 and plain.stdout.strip().startswith("eik_"), plain.stderr
    KNOWN_SECRETS.add(plain.stdout.strip())
    listed = cli("apikey", "list", "--json")
    assert listed.returncode == 0
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["ops"]["scope"] == "admin" and not rows["ops"]["revoked"]
    assert key not in listed.stdout and plain.stdout.strip() not in listed.stdout
    table = cli("apikey", "list")
    assert "ops" in table.stdout and key not in table.stdout
    assert cli("apikey", "revoke", "ops").returncode == 0
    assert json.loads(cli("apikey", "list", "--json").stdout)[1]["revoked"] is True
    bad = cli("apikey", "create", "--name", "x", "--scope", "superuser")
    assert bad.returncode == 2 and "unknown scope" in bad.stderr
    gone = cli("apikey", "revoke", "nobody")
    assert gone.returncode == 2 and "no API key" in gone.stderr
