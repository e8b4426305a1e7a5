"""The dashboard's session-signing secret: random, kept in the vault, made once whoever asks first."""

from __future__ import annotations

import secrets

from email_infrastructure.core.logging import register_secret
from email_infrastructure.core.secret_names import DASHBOARD_SESSION_KEY
from email_infrastructure.services.app import App
from email_infrastructure.services.scope import INSTALL_WIDE


async def session_secret(app: App) -> str:
    """The secret that signs dashboard sessions (made and stored on first use; a concurrent maker's wins)."""
    async with app.uow(INSTALL_WIDE) as uow:
        value = await uow.secrets(create_key=True).get_or_create(
            *DASHBOARD_SESSION_KEY, lambda: secrets.token_urlsafe(32)
        )
        await uow.commit()
    register_secret(value)
    return value


__all__ = ["session_secret"]
