"""The contract every sequencer (sending platform: Instantly, Smartlead, EmailBison, ReachInbox)
implements, and its value types.

A sequencer holds sender accounts: our mailboxes with their SMTP/IMAP logins and sending settings.
Each platform keys an account its own way (Instantly by email address, the others by an integer
id); `RemoteAccount.remote_id` carries that key as text, and the reconcile step stores it per
mailbox. Health ("connected", warmup, sends today) is read from the same listings, normalised to
`AccountHealth` so the monitoring family compares platforms alike.

Secrets: `Login.password` goes out on create (and on a password change); nothing read back is
kept raw — a platform that returns passwords in reads (Smartlead) has them dropped in its provider,
before any value type, log line or error sees the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

from email_infrastructure.core.errors import ProviderError

#: a health state, as every check family reports it
HealthState = Literal["ok", "warning", "error", "unknown"]


class SequencerCapabilityError(ProviderError):
    """The platform's API cannot do this (ReachInbox cannot create accounts: the CSV export can)."""


class AccountExistsError(ProviderError):
    """A create was refused because the platform already has that email (EmailBison's 422 "already taken")."""


@dataclass(frozen=True)
class Login:
    """What an account is created with: the mailbox, its person, its logins and the mail server's ports."""

    email: str
    first_name: str
    last_name: str
    #: the SMTP and IMAP login name (Mailcow's: the address)
    username: str
    password: str = field(repr=False)
    smtp_host: str
    smtp_port: int = 587
    imap_host: str = ""
    imap_port: int = 993

    def __post_init__(self) -> None:
        if not self.imap_host:
            object.__setattr__(self, "imap_host", self.smtp_host)


@dataclass(frozen=True)
class AccountSettings:
    """The sending settings we declare per account; None = leave the platform's value alone."""

    daily_limit: int | None = None
    warmup: bool | None = None
    #: warmup emails per day
    warmup_per_day: int | None = None
    #: the daily step of a slow ramp-up (Instantly `warmup.increment`, Smartlead `daily_rampup`)
    ramp_up: int | None = None
    #: warmup reply rate in percent (0-100)
    reply_rate: int | None = None
    tracking_domain: str | None = None
    signature: str | None = None
    #: minutes between sends (Instantly `sending_gap`, Smartlead `time_to_wait_in_mins`)
    sending_gap: int | None = None
    tags: tuple[str, ...] = ()

    def differs(self, current: AccountSettings) -> dict[str, tuple[object, object]]:
        """The declared fields whose value differs from `current` (field → (current, declared))."""
        out: dict[str, tuple[object, object]] = {}
        for name in self.__dataclass_fields__:
            wanted = getattr(self, name)
            if wanted is None or (name == "tags" and not wanted):
                continue
            have = getattr(current, name)
            if name == "tags":
                if set(wanted) - set(have):
                    out[name] = (have, wanted)
            elif have != wanted:
                out[name] = (have, wanted)
        return out


@dataclass(frozen=True)
class AccountHealth:
    """What the platform thinks of an account, normalised across platforms."""

    #: `ok` connected and sending, `warning` paused or warmup trouble, `error` disconnected, `unknown` not said
    state: HealthState
    #: the platform's own words, without secrets (e.g. "Connection Error: 535 authentication failed")
    detail: str = ""
    #: True when both SMTP and IMAP connect; None when the platform does not say
    connected: bool | None = None
    #: the platform's warmup state in its words (active, paused, banned …), None when not exposed
    warmup: str | None = None
    warmup_score: float | None = None
    sent_today: int | None = None


@dataclass(frozen=True)
class RemoteAccount:
    """One account as the platform holds it: its key there, its settings and its health."""

    remote_id: str
    email: str
    settings: AccountSettings
    health: AccountHealth


@runtime_checkable
class SequencerProvider(Protocol):
    """A sending platform's account API. Every call goes through the provider's one `request()`
    choke point (core/http.VendorClient: rate limits client-side, 429 honoured, errors mapped)."""

    #: the inventory's `type:` (instantly, smartlead, emailbison, reachinbox)
    type: ClassVar[str]
    #: False for platforms whose API cannot create accounts (ReachInbox): the plan says so
    can_create: ClassVar[bool]
    #: declared settings the platform's API cannot set (the plan names them; set them in the platform)
    unsupported: ClassVar[frozenset[str]]
    #: the inventory's name of this provider (`providers.sequencers.<name>`)
    name: str

    def accounts(self) -> AsyncIterator[RemoteAccount]:
        """Every account on the platform (all pages), in the platform's order."""
        ...

    async def find(self, email: str) -> RemoteAccount | None:
        """The account of `email`, or None: what a create that timed out is followed by."""
        ...

    async def create(self, login: Login, settings: AccountSettings, *, absent: bool = False) -> RemoteAccount:
        """Create the account and read it back; AccountExistsError when the platform has it already.

        `absent`: the caller's own listing just showed no such account, so the look-up before the
        create is skipped (the push step lists once per sequencer; a lost answer is still followed by one).
        """
        ...

    async def update(self, account: RemoteAccount, settings: AccountSettings) -> RemoteAccount:
        """Change the declared settings that differ; the account as it is afterwards."""
        ...

    async def change_password(self, account: RemoteAccount, login: Login) -> RemoteAccount:
        """Give the platform the mailbox's new password (where no route takes one: delete and re-create)."""
        ...

    async def delete(self, account: RemoteAccount) -> None:
        """Remove the account (gone already counts as done)."""
        ...

    async def flush(self) -> list[str]:
        """Send what the provider batched (Instantly's warmup jobs, 100 emails each); the emails it asked warmup for."""
        ...

    def warmups_sent(self) -> frozenset[str]:
        """Every email whose warmup any flush of this client has sent so far (another step's flush included)."""
        ...

    async def health(self, emails: Sequence[str]) -> dict[str, AccountHealth]:
        """The health of these accounts (by email); accounts the platform lacks are left out."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


__all__ = [
    "AccountExistsError",
    "AccountHealth",
    "AccountSettings",
    "HealthState",
    "Login",
    "RemoteAccount",
    "SequencerCapabilityError",
    "SequencerProvider",
]
