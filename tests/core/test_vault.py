"""The vault: round trip, key sources, at-rest encryption, rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from email_infrastructure.core.errors import ConfigError, VaultError
from email_infrastructure.core.settings import Settings
from email_infrastructure.core.vault import Vault, generate_key, key_file_path
from email_infrastructure.services.app import open_app
from email_infrastructure.storage.db import Database, open_database
from email_infrastructure.storage.models import DEFAULT_WORKSPACE_ID
from email_infrastructure.storage.repositories import SecretStore
from email_infrastructure.storage.scoping import bind

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    vault = Vault([generate_key()])
    token = vault.encrypt("hunter2-mailbox-password")
    assert "hunter2" not in token
    assert vault.decrypt(token) == "hunter2-mailbox-password"


def test_key_file_is_created_once_with_mode_0600(settings: Settings) -> None:
    first = Vault.from_settings(settings)
    path = key_file_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = Vault.from_settings(settings)
    assert second.decrypt(first.encrypt("x-secret")) == "x-secret"


def test_key_file_readable_by_others_is_refused(settings: Settings) -> None:
    Vault.from_settings(settings)
    key_file_path(settings).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Vault.from_settings(settings)


def test_invalid_env_key_is_a_clear_error(tmp_path: Path) -> None:
    bad = Settings(data_dir=tmp_path, secret_key="not-a-key", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    with pytest.raises(ConfigError, match="EMAIL_INFRA_SECRET_KEY is not a valid vault key"):
        Vault.from_settings(bad)


def test_production_refuses_missing_or_placeholder_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be set to a real key in production"):
        Settings(env="production", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    with pytest.raises(ValueError, match="must be set to a real key in production"):
        Settings(env="production", data_dir=tmp_path, secret_key="changethis", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it


def test_wrong_key_cannot_decrypt() -> None:
    token = Vault([generate_key()]).encrypt("x")
    with pytest.raises(VaultError, match="cannot be decrypted"):
        Vault([generate_key()]).decrypt(token)


async def test_secrets_are_encrypted_at_rest_in_the_sqlite_file(settings: Settings) -> None:
    async with open_app(settings) as app:
        async with app.uow() as uow:
            store = uow.secrets()
            await store.put("mailbox:ann@example.test", "password", "Pl41ntext-Passw0rd!")
            await store.put("domain:example.test", "dkim_private_key", PRIVATE_KEY)
            await uow.commit()
        async with app.uow() as uow:
            assert await uow.secrets().get("mailbox:ann@example.test", "password") == "Pl41ntext-Passw0rd!"
    raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("email-infra.db*"))
    assert raw, "the database file was not written"
    assert b"Pl41ntext-Passw0rd!" not in raw
    assert b"BEGIN PRIVATE KEY" not in raw
    assert b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in raw


async def test_rotation_reencrypts_every_secret(settings: Settings) -> None:
    db = await open_database(settings)
    old = Vault.from_settings(settings)
    async with db.sessions() as session, session.begin():
        bind(session, DEFAULT_WORKSPACE_ID)
        store = SecretStore(session, old)
        await store.put("mailbox:a@example.test", "password", "one")
        await store.put("mailbox:b@example.test", "password", "two")
    new_key = generate_key()
    async with db.sessions() as session, session.begin():
        bind(session, DEFAULT_WORKSPACE_ID)
        assert await SecretStore(session, old).reencrypt_all(Vault([new_key, *old.keys])) == 2
    async with db.sessions() as session:
        bind(session, DEFAULT_WORKSPACE_ID)
        assert await SecretStore(session, Vault([new_key])).get("mailbox:b@example.test", "password") == "two"
        with pytest.raises(VaultError):
            await SecretStore(session, old).get("mailbox:a@example.test", "password")
    await db.close()


async def test_secret_rows_hold_only_ciphertext_on_every_backend(database: Database, settings: Settings) -> None:
    from sqlalchemy import text

    vault = Vault.from_settings(settings)
    async with database.sessions() as session, session.begin():
        bind(session, DEFAULT_WORKSPACE_ID)
        await SecretStore(session, vault).put("mailbox:c@example.test", "password", "Row-Level-Secret-42")
    async with database.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT ciphertext FROM secrets"))).scalars().all()
    assert len(stored) == 1
    assert "Row-Level-Secret-42" not in stored[0]
    async with database.sessions() as session:
        bind(session, DEFAULT_WORKSPACE_ID)
        assert await SecretStore(session, vault).get("mailbox:c@example.test", "password") == "Row-Level-Secret-42"
