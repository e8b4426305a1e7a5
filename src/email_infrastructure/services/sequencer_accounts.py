"""What each sequencer holds of our mailboxes, against the desired state (read only).

For every (mailbox, sequencer) the desired state pairs — a domain's `sequencers:` (or the defaults'),
a mailbox's own list where a file gave one — the platform's account is looked up in one listing per
sequencer: present (with its health and the declared settings it differs in) or missing. This is
what `email-infra sequencer list|show` print, and what the push step (issue 25, next) will plan from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, UserError
from email_infrastructure.core.inventory import Inventory, ProviderSpec, ResolvedDomain
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.core.inventory.schema import SequencerUseSpec
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.sequencers.provider import AccountHealth, AccountSettings, RemoteAccount, SequencerProvider
from email_infrastructure.sequencers.registry import build_sequencer
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import stored_inventory
from email_infrastructure.services.export import tracking_host

#: how a sequencer is built from its declaration (tests give the fakes' base URLs through `api_url`)
Build = Callable[[str, ProviderSpec], SequencerProvider]


def build(name: str, spec: ProviderSpec) -> SequencerProvider:
    """The provider of `providers.sequencers.<name>`, its token resolved from the environment."""
    settings = dict(spec.settings)
    token = resolve_secret(str(settings.pop("token")))
    settings.pop("rate_limit", None)  # the providers keep their vendors' documented limits
    return build_sequencer(name, spec.type, token, **settings)


def wanted_settings(domain: ResolvedDomain, use: SequencerUseSpec) -> AccountSettings:
    """The settings an account of `domain` should have at `use`'s sequencer (the domain's defaults filled in)."""
    return AccountSettings(
        daily_limit=use.daily_limit or domain.daily_send_limit,
        warmup=use.warmup,
        warmup_per_day=use.warmup_per_day,
        ramp_up=use.ramp_up,
        reply_rate=use.reply_rate,
        tracking_domain=use.tracking_domain or tracking_host(domain) or None,
        signature=use.signature,
        sending_gap=use.sending_gap,
        tags=tuple(use.tags),
    )


@dataclass(frozen=True)
class Wanted:
    """One account the desired state asks for: a mailbox at a sequencer, with its settings."""

    address: str
    domain: str
    sequencer: str
    settings: AccountSettings


def wanted_accounts(inventory: Inventory, domains: Sequence[str] = ()) -> list[Wanted]:
    """Every (mailbox, sequencer) pair of the desired state (of `domains` when given), in domain order."""
    out: list[Wanted] = []
    for domain in inventory.resolved_domains():
        if domains and domain.name not in domains:
            continue
        own = {m.address_local_part: m.sequencers for m in domain.mailboxes}
        for person in personas(domain):
            uses = own.get(person.local_part)
            for use in domain.sequencers if uses is None else uses:
                out.append(
                    Wanted(f"{person.local_part}@{domain.name}", domain.name, use.name, wanted_settings(domain, use))
                )
    return out


@dataclass
class AccountRow:
    """One wanted account and what its sequencer holds: `present` or `missing` (`unknown`: not read)."""

    address: str
    sequencer: str
    state: str
    remote_id: str | None = None
    health: AccountHealth | None = None
    #: declared settings the platform holds otherwise (field → (theirs, ours))
    differs: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain data (never a credential: none is read)."""
        health = self.health
        return {
            "address": self.address,
            "sequencer": self.sequencer,
            "state": self.state,
            "remote_id": self.remote_id,
            "health": None
            if health is None
            else {
                "state": health.state,
                "detail": health.detail,
                "connected": health.connected,
                "warmup": health.warmup,
                "warmup_score": health.warmup_score,
                "sent_today": health.sent_today,
            },
            "differs": {k: {"platform": v[0], "desired": v[1]} for k, v in sorted(self.differs.items())},
        }


@dataclass
class SequencerSummary:
    """One sequencer: its accounts there, ours wanted, present, missing, unhealthy; why it could not be read."""

    name: str
    type: str
    can_create: bool
    accounts: int = 0
    wanted: int = 0
    present: int = 0
    missing: int = 0
    unhealthy: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return dict(self.__dict__)


@dataclass
class AccountsView:
    """Every sequencer's summary and every wanted account's row."""

    sequencers: list[SequencerSummary]
    rows: list[AccountRow]

    @property
    def failing(self) -> bool:
        """A sequencer unread, an account missing, or one its platform reports in error."""
        return any(s.error or s.missing or s.unhealthy for s in self.sequencers)


async def _listing(provider: SequencerProvider) -> dict[str, RemoteAccount]:
    return {account.email.lower(): account async for account in provider.accounts()}


async def accounts_view(
    app: App, *, sequencer: str | None = None, domains: Sequence[str] = (), builder: Build = build
) -> AccountsView:
    """Each sequencer's accounts against the desired state's (one listing per sequencer, nothing written)."""
    inventory = await stored_inventory(app, only=list(domains) or None)
    declared = inventory.providers.sequencers if inventory is not None else {}
    if sequencer is not None and sequencer not in declared:
        raise UserError(f"no sequencer {sequencer!r} in the desired state (declared: {', '.join(declared) or 'none'})")
    if inventory is not None and domains:
        missing = sorted(set(domains) - {d.name for d in inventory.domains})
        if missing:
            raise UserError(f"not in the desired state: {', '.join(missing)}")
    wanted = wanted_accounts(inventory, domains) if inventory is not None else []
    summaries: list[SequencerSummary] = []
    rows: list[AccountRow] = []
    for name, spec in sorted(declared.items()):
        if sequencer is not None and name != sequencer:
            continue
        mine = [w for w in wanted if w.sequencer == name]
        summary = SequencerSummary(name, spec.type, can_create=True, wanted=len(mine))
        summaries.append(summary)
        try:
            provider = builder(name, spec)
            summary.can_create = provider.can_create
            try:
                held = await _listing(provider)
            finally:
                await provider.aclose()
        except EmailInfraError as exc:
            summary.error = str(exc)
            rows.extend(AccountRow(w.address, name, "unknown") for w in mine)
            continue
        summary.accounts = len(held)
        for w in mine:
            account = held.get(w.address.lower())
            if account is None:
                summary.missing += 1
                rows.append(AccountRow(w.address, name, "missing"))
                continue
            summary.present += 1
            summary.unhealthy += account.health.state == "error"
            rows.append(
                AccountRow(
                    w.address, name, "present", account.remote_id, account.health, w.settings.differs(account.settings)
                )
            )
    return AccountsView(summaries, rows)


__all__ = [
    "AccountRow",
    "AccountsView",
    "SequencerSummary",
    "Wanted",
    "accounts_view",
    "build",
    "wanted_accounts",
    "wanted_settings",
]
