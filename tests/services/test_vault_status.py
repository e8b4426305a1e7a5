"""The vault's status as the admin page shows it: the key's id (never the key), the last rotation, the
secrets and whether they all open, in this process and in one that held the rotated-away key."""

from __future__ import annotations

from email_infrastructure.core.vault import key_id, read_key_file
from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.vault import rotate_key, vault_status


async def test_the_status_follows_a_rotation(app: App) -> None:
    await workspaces.ensure(app)
    async with app.uow() as uow:
        await uow.secrets().put("mailbox:a@x.test", "password", "one")
        await uow.commit()
    before = await vault_status(app)
    key_file = app.settings.data_dir / "secret.key"
    assert before.key_id == key_id(read_key_file(key_file)) == before.active_key_id
    assert before.rotated_at is None and before.key_source == str(key_file)
    assert (before.check.total, before.check.undecryptable) == (1, [])
    assert not before.stale and not before.rotation_pending

    stale = App(app.settings)  # another process, holding the key of before the rotation
    try:
        stale.vault()
        await rotate_key(app)
        after = await vault_status(app)
        assert after.key_id == key_id(read_key_file(key_file)) != before.key_id
        assert after.rotated_at is not None and after.rotated_at.tzinfo is not None
        assert after.check.total == 1 and after.check.undecryptable == []
        # the other process reads the key file anew and reports the key now in use
        seen = await vault_status(stale)
        assert (seen.key_id, seen.stale) == (after.key_id, False)
    finally:
        await stale.close()
