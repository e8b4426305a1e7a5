"""What each sequencer holds of our mailboxes against the desired state, and the sync that pushes them.

For every (mailbox, sequencer) the desired state pairs — a domain's `sequencers:` (or the defaults'),
a mailbox's own list where a file gave one — the platform's account is looked up in one listing per
sequencer: present (with its health and the declared settings it differs in) or missing. This is
what `email-infra sequencer list|show` print; `sync` runs the push step (reconcile/sequencer_step.py) alone.
`read_sequencers` is the pairing itself, shared with the `sequencer` monitoring family
(services/sequencer_health.py), which asks each platform for health instead of the listing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from email_infrastructure.core.errors import EmailInfraError, UserError
from email_infrastructure.core.inventory import Inventory, ProviderSpec
from email_infrastructure.reconcile.sequencer_wanted import Wanted, wanted_accounts
from email_infrastructure.sequencers.provider import AccountHealth, RemoteAccount, SequencerProvider
from email_infrastructure.sequencers.registry import from_spec
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import stored_inventory

if TYPE_CHECKING:
    from email_infrastructure.services.jobs import JobView
    from email_infrastructure.services.plans import ApplyResult, Plan, StoredPlan
    from email_infrastructure.services.queue import TaskQueue

#: how a sequencer is built from its declaration (tests give the fakes' base URLs through `api_url`)
Build = Callable[[str, ProviderSpec], SequencerProvider]
T = TypeVar("T")
#: what one sequencer is asked, given its wanted accounts: the answer by lower-cased address
Read = Callable[[SequencerProvider, list[Wanted]], Awaitable[dict[str, T]]]


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
    #: this platform's reading as the `sequencer` monitoring family last stored it (state, detail,
    #: checked_at); None: never checked
    last_check: dict[str, Any] | None = None

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
            "last_check": self.last_check,
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


@dataclass
class SequencerRead(Generic[T]):
    """One declared sequencer read once: the accounts wanted there and what the platform answered."""

    name: str
    type: str
    wanted: list[Wanted]
    can_create: bool = True
    #: the platform's answer by lower-cased address; None when it could not be read (`error` says why)
    held: dict[str, T] | None = None
    error: str | None = None


async def read_sequencers(
    inventory: Inventory | None,
    read: Read[T],
    *,
    sequencer: str | None = None,
    domains: Sequence[str] = (),
    builder: Build = from_spec,
    idle: bool = True,
    only: Collection[str] | None = None,
) -> list[SequencerRead[T]]:
    """Each declared sequencer (or only `sequencer`) with its wanted accounts, read by `read` once.

    The one place that pairs the desired state's accounts with a platform's answer: the accounts view
    reads listings, the `sequencer` monitoring family health. With `idle` False a sequencer none of
    the accounts goes to is not read at all; with `only` just those sequencers are. A platform that
    cannot be read (bad token, down) is an `error` on its entry, never an exception: the other
    sequencers are still read.
    """
    declared = inventory.providers.sequencers if inventory is not None else {}
    wanted = wanted_accounts(inventory, domains) if inventory is not None else []
    out: list[SequencerRead[T]] = []
    for name, spec in sorted(declared.items()):
        mine = [w for w in wanted if w.sequencer == name]
        if (sequencer is not None and name != sequencer) or (only is not None and name not in only):
            continue
        if not mine and not idle:
            continue
        entry: SequencerRead[T] = SequencerRead(name, spec.type, mine)
        out.append(entry)
        try:
            provider = builder(name, spec)
            entry.can_create = provider.can_create
            try:
                entry.held = await read(provider, mine)
            finally:
                await provider.aclose()
        except EmailInfraError as exc:
            entry.error = str(exc)
    return out


async def _listing(provider: SequencerProvider, wanted: list[Wanted]) -> dict[str, RemoteAccount]:
    return {account.email.lower(): account async for account in provider.accounts()}


async def accounts_view(
    app: App, *, sequencer: str | None = None, domains: Sequence[str] = (), builder: Build = from_spec
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
    summaries: list[SequencerSummary] = []
    rows: list[AccountRow] = []
    reads = await read_sequencers(inventory, _listing, sequencer=sequencer, domains=domains, builder=builder)
    for read in reads:
        summary = SequencerSummary(read.name, read.type, read.can_create, wanted=len(read.wanted), error=read.error)
        summaries.append(summary)
        if read.held is None:
            rows.extend(AccountRow(w.address, read.name, "unknown") for w in read.wanted)
            continue
        summary.accounts = len(read.held)
        for w in read.wanted:
            account = read.held.get(w.address.lower())
            if account is None:
                summary.missing += 1
                rows.append(AccountRow(w.address, read.name, "missing"))
                continue
            summary.present += 1
            summary.unhealthy += account.health.state == "error"
            rows.append(
                AccountRow(
                    w.address,
                    read.name,
                    "present",
                    account.remote_id,
                    account.health,
                    w.settings.differs(account.settings),
                )
            )
    await _last_checks(app, rows)
    return AccountsView(summaries, rows)


async def _last_checks(app: App, rows: list[AccountRow]) -> None:
    """Give each row its platform's reading from the `sequencer` family's latest stored result (one query)."""
    from email_infrastructure.storage.mailbox_repositories import SEQUENCER_CHECK, MailboxViews

    if not rows or not app.has_state():
        return
    async with app.uow() as uow:
        stored = await MailboxViews(uow.session).latest_results(SEQUENCER_CHECK, [r.address for r in rows])
    for row in rows:
        latest = stored.get(row.address)
        if latest is None:
            continue
        readings = latest.findings.get("sequencers") or []
        mine = next((r for r in readings if isinstance(r, dict) and r.get("sequencer") == row.sequencer), None)
        if mine is not None:
            when = latest.checked_at.replace(tzinfo=latest.checked_at.tzinfo or UTC).isoformat()
            row.last_check = {"state": mine.get("state"), "detail": mine.get("detail") or "", "checked_at": when}


def sync_kinds(declared: Sequence[str], sequencer: str | None) -> list[str]:
    """The step kinds of a sync: every sequencer's accounts, or one's (refused when it is not declared)."""
    if sequencer is None:
        return ["sequencer.accounts"]
    if sequencer not in declared:
        raise UserError(f"no sequencer {sequencer!r} in the desired state (declared: {', '.join(declared) or 'none'})")
    return [f"sequencer.accounts@{sequencer}"]


async def sync(
    app: App,
    *,
    sequencer: str | None = None,
    domains: Sequence[str] = (),
    prune: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> Plan | ApplyResult:
    """Plan and apply the sequencer steps only (mail, DNS and servers untouched): the plan alone with `dry_run`."""
    from email_infrastructure.services import plans

    kinds = await _sync_kinds(app, sequencer, domains)
    if dry_run:
        return await plans.plan(app, only=domains, prune=prune, kinds=kinds)
    return await plans.apply(app, only=domains, prune=prune, force=force, kinds=kinds)


async def _sync_kinds(app: App, sequencer: str | None, domains: Sequence[str]) -> list[str]:
    inventory = await stored_inventory(app, only=list(domains) or None)
    return sync_kinds(sorted(inventory.providers.sequencers) if inventory is not None else [], sequencer)


async def plan_sync(
    app: App,
    *,
    key_name: str,
    sequencer: str | None = None,
    domains: Sequence[str] = (),
    prune: bool = False,
    force: bool = False,
) -> StoredPlan:
    """The API's sync plan: the sequencer steps planned and kept, to apply by id (nothing written at a platform)."""
    from email_infrastructure.services import plans

    kinds = await _sync_kinds(app, sequencer, domains)
    planned = await plans.plan(app, only=domains, prune=prune, kinds=kinds)
    return await plans.store_plan(app, planned, key_name=key_name, only=domains, prune=prune, force=force, kinds=kinds)


async def submit_sync(
    app: App,
    queue: TaskQueue,
    *,
    key_name: str,
    sequencer: str | None = None,
    domains: Sequence[str] = (),
    prune: bool = False,
    force: bool = False,
) -> JobView:
    """The API's sync: its plan kept and applied as a job (poll it by id)."""
    from email_infrastructure.services import plans

    stored = await plan_sync(app, key_name=key_name, sequencer=sequencer, domains=domains, prune=prune, force=force)
    return await plans.submit_apply(app, queue, stored.id, key_name=key_name)


__all__ = [
    "AccountRow",
    "AccountsView",
    "Build",
    "Read",
    "SequencerRead",
    "SequencerSummary",
    "accounts_view",
    "plan_sync",
    "read_sequencers",
    "submit_sync",
    "sync",
    "sync_kinds",
]
