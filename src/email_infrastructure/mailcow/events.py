"""Topics the mail component publishes, with their payload types (never a password)."""

from __future__ import annotations

from typing import TypedDict

from email_infrastructure.core.events import Topic


class MailDomainPayload(TypedDict):
    """A mail domain on a backend."""

    domain: str
    backend: str


class MailboxPayload(TypedDict):
    """A mailbox on a backend (its password stays in the vault)."""

    domain: str
    address: str
    backend: str


class AliasPayload(TypedDict):
    """An alias on a backend."""

    domain: str
    address: str
    goto: str
    backend: str


class MailDkimPayload(TypedDict):
    """A DKIM key the backend generated (never the key itself)."""

    domain: str
    selector: str
    bits: int
    backend: str


DOMAIN_CREATED: Topic[MailDomainPayload] = Topic("mail.domain.created", MailDomainPayload)
DOMAIN_UPDATED: Topic[MailDomainPayload] = Topic("mail.domain.updated", MailDomainPayload)
DOMAIN_DELETED: Topic[MailDomainPayload] = Topic("mail.domain.deleted", MailDomainPayload)
MAILBOX_CREATED: Topic[MailboxPayload] = Topic("mail.mailbox.created", MailboxPayload)
MAILBOX_UPDATED: Topic[MailboxPayload] = Topic("mail.mailbox.updated", MailboxPayload)
MAILBOX_DELETED: Topic[MailboxPayload] = Topic("mail.mailbox.deleted", MailboxPayload)
MAILBOX_FAILED: Topic[MailboxPayload] = Topic("mail.mailbox.failed", MailboxPayload)
ALIAS_CREATED: Topic[AliasPayload] = Topic("mail.alias.created", AliasPayload)
ALIAS_UPDATED: Topic[AliasPayload] = Topic("mail.alias.updated", AliasPayload)
ALIAS_DELETED: Topic[AliasPayload] = Topic("mail.alias.deleted", AliasPayload)
DKIM_CREATED: Topic[MailDkimPayload] = Topic("mail.dkim.created", MailDkimPayload)
DKIM_DELETED: Topic[MailDkimPayload] = Topic("mail.dkim.deleted", MailDkimPayload)
