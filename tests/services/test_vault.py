"""Vault rotation survives being interrupted at any point, any number of times."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from email_infrastructure.core.errors import NotFoundError, VaultError
from email_infrastructure.core.events import Event
from email_infrastructure.core.settings import Settings
from email_infrastructure.core.vault import (
    KEY_FILE_NAME,
    PENDING_KEY_FILE_NAME,
    StaleKeyError,
    Vault,
    generate_key,
    key_id,
)
from email_infrastructure.services import vault as vault_service
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import SecretRecord

SECRETS = {("mailbox:a@x.test", "password"): "one", ("mailbox:b@x.test", "password"): "two"}


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs (not even except-clauses for Exception)."""


async def _store(app: App) -> None:
    async with app.uow() as uow:
        for (owner, name), value in SECRETS.items():
            await uow.secrets().put(owner, name, value)
        await uow.commit()


async def _read_all(settings: Settings) -> dict[tuple[str, str], str]:
    """What a new process, reading the key files as they are now, can decrypt."""
    app = App(settings)
    try:
        async with app.uow() as uow:
            return await uow.secrets(create_key=False).get_many(list(SECRETS))
    finally:
        await app.close()


@pytest.mark.parametrize("where", ["before re-encrypting", "after the commit"])
async def test_two_interrupted_rotations_in_a_row_lose_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    app = App(settings)
    await _store(app)
    real_replace, real_reencrypt = os.replace, vault_service._reencrypt

    def crash_replace(src: str | Path, dst: str | Path) -> None:
        if Path(src).name == PENDING_KEY_FILE_NAME:
            raise Killed
        real_replace(src, dst)

    async def crash_reencrypt(*args: object, **kwargs: object) -> int:
        raise Killed

    for _ in range(2):
        with monkeypatch.context() as patch:
            if where == "after the commit":
                patch.setattr(vault_service.os, "replace", crash_replace)
            else:
                patch.setattr(vault_service, "_reencrypt", crash_reencrypt)
            app.reload_vault()
            with pytest.raises(Killed):
                await vault_service.rotate_key(app)
        assert await _read_all(settings) == SECRETS
    assert real_reencrypt is vault_service._reencrypt
    app.reload_vault()
    result = await vault_service.rotate_key(app)
    assert result.finished_interrupted
    assert not (settings.data_dir / PENDING_KEY_FILE_NAME).exists()
    key = (settings.data_dir / KEY_FILE_NAME).read_text().strip()
    async with app.uow() as uow:
        store = uow.secrets()
        values = {k: await store.get(*k) for k in SECRETS}
    assert values == SECRETS
    # the key file alone opens every secret now
    only = Vault([key])
    async with app.uow() as uow:
        from sqlalchemy import select

        from email_infrastructure.storage.models import SecretRecord

        rows = (await uow.session.scalars(select(SecretRecord))).all()
    assert sorted(only.decrypt(r.ciphertext) for r in rows) == ["one", "two"]
    await app.close()


async def _put(app: App, key: tuple[str, str], value: str) -> None:
    async with app.uow() as uow:
        await uow.secrets().put(*key, value)
        await uow.commit()


async def _rows(app: App) -> list[SecretRecord]:
    async with app.uow() as uow:
        return list((await uow.session.scalars(select(SecretRecord))).all())


async def test_a_process_running_during_a_rotation_writes_under_the_new_key(app: App) -> None:
    await _store(app)  # this process holds the first key in memory from now on
    other = App(app.settings)  # `vault rotate-key` in another process
    try:
        await vault_service.rotate_key(other)
        new = (app.settings.data_dir / KEY_FILE_NAME).read_text().strip()
        async with app.uow() as uow:
            await uow.secrets().put("dashboard", "session-key", "fresh")
            await uow.commit()
        only_new = Vault([new])
        assert {(r.owner, r.name): (only_new.decrypt(r.ciphertext), r.key_id) for r in await _rows(app)} == {
            **{k: (v, key_id(new)) for k, v in SECRETS.items()},
            ("dashboard", "session-key"): ("fresh", key_id(new)),
        }
        async with other.uow() as uow:  # and what the other process writes, this one reads
            await uow.secrets().put("api", "key-hmac", "by-the-other")
            await uow.commit()
        async with app.uow() as uow:
            assert await uow.secrets().get("api", "key-hmac") == "by-the-other"
        await vault_service.rotate_key(other)  # the next rotation finds every secret readable
        assert (await vault_service.check_secrets(app)).undecryptable == []
    finally:
        await other.close()


async def test_a_process_whose_key_was_rotated_away_refuses_to_write(app: App) -> None:
    old, new = generate_key(), generate_key()
    running = App(app.settings.model_copy(update={"secret_key": SecretStr(old)}))
    rotating = App(app.settings.model_copy(update={"secret_key": SecretStr(old)}))
    try:
        await _store(running)
        await vault_service.rotate_key(rotating, new)
        with pytest.raises(StaleKeyError, match="rotated by another process"):
            await _put(running, ("dashboard", "session-key"), "never-written")
        assert {r.key_id for r in await _rows(app)} == {key_id(new)}
        with pytest.raises(VaultError, match=rf"mailbox:a@x.test/password was written under vault key {key_id(new)}"):
            async with running.uow() as uow:
                await uow.secrets().get("mailbox:a@x.test", "password")
    finally:
        await running.close()
        await rotating.close()


async def test_a_secret_no_key_opens_is_named_and_can_be_forgotten(app: App, events: list[Event]) -> None:
    await _store(app)
    lost = generate_key()
    async with app.uow() as uow:  # what a server holding a retired key used to leave behind
        uow.session.add(SecretRecord(owner="dashboard", name="session-key", ciphertext=Vault([lost]).encrypt("gone")))
        await uow.commit()
    with pytest.raises(VaultError, match=r"cannot be decrypted.*dashboard/session-key.*vault forget NAME"):
        await vault_service.rotate_key(app)
    app.reload_vault()
    check = await vault_service.check_secrets(app)
    assert (check.total, check.undecryptable) == (3, ["dashboard/session-key"])
    with pytest.raises(VaultError, match="vault forget dashboard/session-key"):
        async with app.uow() as uow:
            await uow.secrets().get("dashboard", "session-key")
    await vault_service.forget_secret(app, "dashboard/session-key")
    with pytest.raises(NotFoundError):
        await vault_service.forget_secret(app, "dashboard/session-key")
    forgotten = [e for e in events if e.topic == "vault.secret.forgotten"]
    assert [e.payload for e in forgotten] == [{"name": "dashboard/session-key"}]
    assert (await vault_service.rotate_key(app)).reencrypted == 2
    assert (await vault_service.check_secrets(app)).undecryptable == []
    assert not any(v in repr(e.payload) for e in events for v in ("gone", "one", "two", lost))
