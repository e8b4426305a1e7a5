"""Vault rotation survives being interrupted at any point, any number of times."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from email_infrastructure.core.settings import Settings
from email_infrastructure.core.vault import KEY_FILE_NAME, PENDING_KEY_FILE_NAME, Vault
from email_infrastructure.services import vault as vault_service
from email_infrastructure.services.app import App

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
