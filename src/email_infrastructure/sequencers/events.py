"""Topics the sequencer component publishes, with their payload types (never a password)."""

from __future__ import annotations

from typing import TypedDict

from email_infrastructure.core.events import Topic


class AccountPayload(TypedDict):
    """A mailbox's account at a sequencer; `fields` names the settings an update changed."""

    domain: str
    address: str
    sequencer: str
    fields: list[str]


ACCOUNT_CREATED: Topic[AccountPayload] = Topic("sequencer.account.created", AccountPayload)
ACCOUNT_UPDATED: Topic[AccountPayload] = Topic("sequencer.account.updated", AccountPayload)
#: our password changed (the vault's), given to the platform
ACCOUNT_PASSWORD_CHANGED: Topic[AccountPayload] = Topic("sequencer.account.password_changed", AccountPayload)
ACCOUNT_DELETED: Topic[AccountPayload] = Topic("sequencer.account.deleted", AccountPayload)
#: an account that was on the platform before us, now recorded (updated, never deleted)
ACCOUNT_ADOPTED: Topic[AccountPayload] = Topic("sequencer.account.adopted", AccountPayload)
ACCOUNT_FAILED: Topic[AccountPayload] = Topic("sequencer.account.failed", AccountPayload)
