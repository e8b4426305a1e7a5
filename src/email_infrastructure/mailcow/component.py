"""The Mailcow component."""

from __future__ import annotations

from email_infrastructure.core.component import CredentialsOnlyComponent


class MailcowComponent(CredentialsOnlyComponent):
    """Mail domains, mailboxes and DKIM keys on Mailcow servers."""

    name = "mailcow"
    kind = "mail"
