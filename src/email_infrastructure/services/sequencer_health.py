"""The `sequencer` monitoring family: what each sending platform thinks of our mailboxes.

Each declared sequencer that a watched mailbox goes to is asked once per run for the health of those
accounts (`SequencerProvider.health`: its listing, plus Instantly's daily analytics per 200 accounts;
never a call per mailbox), through the same pairing as the accounts view (`read_sequencers`). Each
mailbox address gets one `sequencer` result with one finding per platform that has something to say:

- `sequencer.disconnected` (error): the platform reports the account in error (Instantly `status` < 0,
  Smartlead SMTP or IMAP login failed, EmailBison not "Connected", ReachInbox disconnected);
- `sequencer.missing` (warning): the platform has no such account (the push step may not have run);
- `sequencer.paused` (warning): the account is paused or suspended there, not in error;
- `sequencer.warmup` (warning): warmup banned, blocked or suspended; warmup off although the inventory
  turns it on; or a warmup score below `WARMUP_SCORE_FLOOR` while it warms;
- `sequencer.unreachable` / `sequencer.unknown` (unknown, never ok): the platform could not be read, or
  does not say whether the account connects.

Each platform's reading (state, connected, warmup state and score, sends today) rides along in the
stored result (`sequencers`), so the history keeps it and the dashboard shows it without a live call.
Nothing of a platform's body but these normalised fields is kept: Smartlead's passwords are dropped in
its provider before any value type sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from email_infrastructure.core.component import Health, HealthStatus
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.monitoring.audit import AuditReport, SubjectReport
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.reconcile.sequencer_wanted import Wanted
from email_infrastructure.sequencers.provider import AccountHealth, AccountSettings, SequencerProvider
from email_infrastructure.sequencers.registry import from_spec
from email_infrastructure.services.app import App
from email_infrastructure.services.sequencer_accounts import Build, SequencerRead, read_sequencers

if TYPE_CHECKING:
    from email_infrastructure.services.monitoring import ServerChecks

#: the check (and family) name; results are stored per mailbox address
CHECK = "sequencer"
#: a warmup score (0-100, Instantly `stat_warmup_score`, Smartlead `warmup_reputation`, ReachInbox
#: `warmupHealthScore`) below this while warmup runs is a warning: the platforms' guides treat the
#: 90s as healthy and the low 80s as the point to slow down, so 80 warns before sending suffers
WARMUP_SCORE_FLOOR = 80.0
#: warmup states that are trouble whatever the inventory asks (Instantly's negative `warmup_status`)
BAD_WARMUP = frozenset({"banned", "spam folder unknown", "permanent suspension", "blocked"})
#: warmup states that mean "not warming": a warning only where the inventory turns warmup on
OFF_WARMUP = frozenset({"paused", "inactive", "disabled"})
#: how the platforms are named in findings
LABELS = {"instantly": "Instantly", "smartlead": "Smartlead", "emailbison": "EmailBison", "reachinbox": "ReachInbox"}


@dataclass
class SequencerResult(CheckResult):
    """A `sequencer` result: its findings, and each platform's reading (kept in the stored history)."""

    readings: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The check result's JSON with `sequencers`: one reading per platform."""
        return {**super().to_json(), "sequencers": self.readings}


def reading(name: str, type_: str, state: str, health: AccountHealth | None = None, detail: str = "") -> dict[str, Any]:
    """One platform's view of one mailbox, as stored (`state` adds `missing` to the health states)."""
    return {
        "sequencer": name,
        "type": type_,
        "state": state,
        "detail": health.detail if health is not None else detail,
        "connected": health.connected if health is not None else None,
        "warmup": health.warmup if health is not None else None,
        "warmup_score": health.warmup_score if health is not None else None,
        "sent_today": health.sent_today if health is not None else None,
    }


def warmup_problem(health: AccountHealth, settings: AccountSettings) -> str:
    """What is wrong with the account's warmup ('' when nothing), in a few words."""
    if health.warmup in BAD_WARMUP:
        return str(health.warmup)
    # providers word warmup trouble they rank as a warning "warmup …" (Smartlead's blocked warmup)
    if health.state == "warning" and health.detail.startswith("warmup"):
        return health.detail.removeprefix("warmup").strip()
    if settings.warmup and health.warmup in OFF_WARMUP:
        return f"{health.warmup} although the inventory turns it on"
    score = health.warmup_score
    if score is not None and score < WARMUP_SCORE_FLOOR and health.warmup not in OFF_WARMUP:
        return f"score {score:g} below {WARMUP_SCORE_FLOOR:g}"
    return ""


def judge(result: SequencerResult, read: SequencerRead[AccountHealth], wanted: Wanted) -> None:
    """Add one platform's finding (if any) and reading about one mailbox to its result."""
    label = f"{LABELS.get(read.type, read.type)} ({read.name})"
    if read.held is None:
        result.cannot_tell("sequencer.unreachable", f"{label} could not be read: {read.error}")
        result.readings.append(reading(read.name, read.type, "unknown", detail=read.error or ""))
        return
    health = read.held.get(wanted.address.lower())
    if health is None:
        result.warn("sequencer.missing", f"mailbox not in {label} (not pushed yet, or removed there)")
        result.readings.append(reading(read.name, read.type, "missing"))
        return
    result.readings.append(reading(read.name, read.type, health.state, health))
    if health.state == "error":
        result.error("sequencer.disconnected", f"mailbox disconnected in {label}" + _words(health.detail))
        return
    if health.state == "unknown":
        result.cannot_tell("sequencer.unknown", f"{label} does not say whether the mailbox connects")
        return
    problem = warmup_problem(health, wanted.settings)
    if health.state == "warning" and not (problem and health.detail.startswith("warmup")):
        result.warn("sequencer.paused", f"mailbox {health.detail or 'paused'} in {label}")
    if problem:
        result.warn("sequencer.warmup", f"warmup {problem} in {label}")


def _words(detail: str) -> str:
    return f": {detail}" if detail else ""


async def _health(provider: SequencerProvider, wanted: list[Wanted]) -> dict[str, AccountHealth]:
    found = await provider.health(sorted({w.address for w in wanted}))
    return {email.lower(): health for email, health in found.items()}


def results(reads: list[SequencerRead[AccountHealth]]) -> dict[str, SequencerResult]:
    """One result per mailbox address, with a finding per platform (in the sequencers' name order)."""
    out: dict[str, SequencerResult] = {}
    for read in reads:
        for wanted in read.wanted:
            judge(out.setdefault(wanted.address, SequencerResult(CHECK)), read, wanted)
    return out


async def status_line(app: App, inventory: Inventory | None) -> Health:
    """`email-infra status`'s `sequencers` line, from the stored states (no platform is called)."""
    from sqlalchemy import func, select

    from email_infrastructure.storage.models import CheckState

    declared = sorted(inventory.providers.sequencers) if inventory is not None else []
    if not declared:
        return Health(HealthStatus.UNCONFIGURED, "no sequencers")
    names = ", ".join(declared)
    never = f"{names}: never checked (`email-infra monitor --once --family sequencer`)"
    if not app.has_state():
        return Health(HealthStatus.UNKNOWN, never)
    async with app.uow() as uow:
        counted = await uow.session.execute(
            select(CheckState.status, func.count()).where(CheckState.check == CHECK).group_by(CheckState.status)
        )
        counts = {str(state): int(n) for state, n in counted.all()}
        failing = list(
            await uow.session.scalars(
                select(CheckState.subject)
                .where(CheckState.check == CHECK, CheckState.status == "error")
                .order_by(CheckState.subject)
                .limit(5)
            )
        )
    if not counts:
        return Health(HealthStatus.UNKNOWN, never)
    states = ", ".join(f"{counts[s]} {s}" for s in ("error", "warning", "unknown", "ok") if counts.get(s))
    detail = f"{names}: {sum(counts.values())} mailbox(es): {states}"
    if counts.get("error"):
        more = counts["error"] - len(failing)
        shown = ", ".join(failing) + (f" and {more} more" if more > 0 else "")
        return Health(HealthStatus.DEGRADED, f"{detail} (disconnected: {shown})")
    return Health(HealthStatus.OK, detail)


async def health_report(
    inventory: Inventory | None,
    *,
    builder: Build | None = None,
    app: App | None = None,
    window: ServerChecks | None = None,
) -> AuditReport:
    """The `sequencer` results of every mailbox of `inventory` that goes to a sequencer (one read each).

    With `window` (a scheduled batch, one of many over the fleet) each sequencer is read once per interval
    for the whole workspace: the first batch of the window claims it (`sequencer:<name>`) and reports
    every mailbox of `app`'s desired state that goes to it; the other batches leave it out. Otherwise a
    batch of 50 domains would list the whole platform again, a fleet's worth of pages per interval per
    batch: far past Smartlead's 60 calls a minute.
    """
    only: set[str] | None = None
    if window is not None and app is not None and inventory is not None:
        names = {f"{CHECK}:{name}": name for name in inventory.providers.sequencers}
        only = {names[key] for key in await window.gate(sorted(names))}
        if not only:
            return AuditReport([], [])
        from email_infrastructure.services.desired import desired_inventory

        inventory = await desired_inventory(app)
    reads = await read_sequencers(inventory, _health, builder=builder or from_spec, idle=False, only=only)
    return AuditReport([SubjectReport(a, {CHECK: r}) for a, r in sorted(results(reads).items())], [])


__all__ = [
    "BAD_WARMUP",
    "CHECK",
    "LABELS",
    "OFF_WARMUP",
    "WARMUP_SCORE_FLOOR",
    "SequencerResult",
    "health_report",
    "judge",
    "reading",
    "results",
    "status_line",
    "warmup_problem",
]
