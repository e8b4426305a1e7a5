"""The MailBackend seam: what reconcile steps ask of a mail server (Mailcow is one implementation).

Every write reads back what it wrote and raises VerificationError when the server did not keep
it (Mailcow answers success for writes that did nothing).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol

from email_infrastructure.core.component import Health


@dataclass(frozen=True)
class MailDomain:
    """A mail domain's limits (quotas in MiB)."""

    name: str
    max_mailboxes: int
    mailbox_quota_mib: int
    domain_quota_mib: int
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        """Plan form."""
        return {k: v for k, v in asdict(self).items() if k != "name"}


@dataclass(frozen=True)
class DkimKey:
    """The server's DKIM key of a domain."""

    selector: str
    public_key: str
    bits: int


class MailboxState(StrEnum):
    """A mailbox's three states (Mailcow's `active` 1, 2 and 0)."""

    #: logins and delivery
    ACTIVE = "active"
    #: no login (SMTP AUTH, IMAP, SOGo refused), mail still delivered into it
    LOGIN_DISABLED = "login_disabled"
    #: no login, no delivery
    INACTIVE = "inactive"


@dataclass(frozen=True)
class Mailbox:
    """A mailbox as wanted or as read (never its password)."""

    address: str
    name: str
    quota_mib: int
    #: messages per day (the server's outbound rate limit); None = no limit
    daily_limit: int | None
    state: MailboxState = MailboxState.ACTIVE

    @property
    def local_part(self) -> str:
        """The part before @."""
        return self.address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        """The part after @."""
        return self.address.split("@", 1)[1]

    def to_json(self) -> dict[str, Any]:
        """Plan form."""
        return {
            "name": self.name,
            "quota_mib": self.quota_mib,
            "daily_limit": self.daily_limit,
            "state": self.state.value,
        }


def goto_set(goto: str) -> frozenset[str]:
    """The targets of a `goto` (comma-separated, as Mailcow stores it; spaces and ; split too)."""
    return frozenset(t for t in re.split(r"[\s,;]+", goto.lower()) if t)


@dataclass(frozen=True)
class Alias:
    """An alias: an address (`@domain` for a catch-all) forwarded to `goto` (comma-separated)."""

    address: str
    goto: str
    active: bool = True
    id: str = ""
    #: read: it carries the mark of an alias we created (only those are ever deleted)
    managed: bool = False

    def same(self, other: Alias) -> bool:
        """The same targets (in any order) and the same state."""
        return goto_set(self.goto) == goto_set(other.goto) and self.active == other.active

    def to_json(self) -> dict[str, Any]:
        """Plan form."""
        return {"goto": self.goto, "active": self.active}


class MailBackend(Protocol):
    """Domains, DKIM keys, mailboxes and aliases on one mail server."""

    name: str
    #: each mailbox's quota
    mailbox_quota_mib: int

    async def read_domain(self, domain: str) -> MailDomain | None:
        """The domain, or None."""

    async def ensure_domain(self, wanted: MailDomain, *, selector: str, bits: int, exists: bool) -> None:
        """Create (or update, when `exists`) the domain; read back."""

    async def remove_domain(self, domain: str) -> None:
        """Delete an empty domain (its DKIM key stays: `remove_dkim`); read back."""

    async def read_dkim(self, domain: str) -> DkimKey | None:
        """The domain's DKIM key, or None."""

    async def ensure_dkim(self, domain: str, selector: str, bits: int) -> DkimKey:
        """The domain's key with this selector and size: kept, created, or replaced; read back."""

    async def remove_dkim(self, domain: str) -> None:
        """Delete the domain's DKIM key; read back."""

    async def mailboxes(self, domain: str) -> list[Mailbox]:
        """The mailboxes the server lists for the domain (a server may list others' too: callers check)."""

    async def create_mailbox(self, wanted: Mailbox, password: str) -> None:
        """Create a mailbox with its password and limits; read back."""

    async def update_mailbox(self, wanted: Mailbox) -> None:
        """Bring name, quota, state and rate limit to `wanted`; read back."""

    async def remove_mailbox(self, address: str) -> None:
        """Delete a mailbox; read back."""

    async def aliases(self, domain: str) -> list[Alias]:
        """The domain's aliases."""

    async def ensure_alias(self, wanted: Alias, existing: Alias | None) -> None:
        """Create (marked as ours) or update an alias (always active as asked); read back."""

    async def remove_alias(self, alias: Alias) -> None:
        """Delete an alias as read (by its id); read back."""

    async def health(self) -> Health:
        """Reachable, authorised, and its services running?"""

    async def close(self) -> None:
        """Release connections."""
