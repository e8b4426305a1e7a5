"""What an inventory's domains get on a mail server: said the same way by validate, plan and export."""

from __future__ import annotations

from email_infrastructure.core.inventory.schema import ResolvedDomain


def wanted_mailboxes(domain: ResolvedDomain) -> int:
    """How many mailboxes the domain asks for (listed people, else `mailbox_count`)."""
    return len(domain.mailboxes) or domain.mailbox_count


def has_mail_backend(domain: ResolvedDomain) -> bool:
    """True when the domain's server declares a mail backend (its mailboxes are created there)."""
    return domain.server is not None and bool(domain.server.mail_backend)


def no_mail_backend(domain: ResolvedDomain) -> str | None:
    """Why the domain's mailboxes will never exist (no mail backend), or None when they can (or it wants none)."""
    count = wanted_mailboxes(domain)
    if count == 0 or has_mail_backend(domain):
        return None
    if domain.server is None:
        where, fix = "it has no server", "give it a server with a mail_backend"
    else:
        where, fix = f"its server {domain.server.name} has no mail_backend", "declare one on that server"
    return (
        f"{domain.name}: {where}: its {count} mailbox(es) will not be created without a mail backend "
        f"({fix}, or set mailbox_count: 0 and list no mailboxes if it sends from elsewhere)"
    )
