"""`email-infra records | plan | apply`: renderers of the plan and apply services."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from email_infrastructure.cli.common import (
    JsonOption,
    SourceOption,
    application,
    bulk_allocation,
    console,
    err_console,
    note_state,
    print_json,
    run,
    source,
    write_chunks,
)
from email_infrastructure.core.errors import UserError
from email_infrastructure.core.pending import mask_pending

if TYPE_CHECKING:
    from rich.progress import Progress

    from email_infrastructure.dns.desired import DesiredZone
    from email_infrastructure.dns.plan import ZonePlan
    from email_infrastructure.services.plans import ApplyResult, Plan

_SIGN = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}
DomainsArgument = Annotated[
    list[str] | None, typer.Argument(help="Only these domains (default: every domain of the desired state).")
]
DeadlineOption = Annotated[
    float | None,
    typer.Option(
        "--deadline", help="Seconds for the whole run; what is not done by then fails (default: none).", min=0
    ),
]
PruneOption = Annotated[
    bool,
    typer.Option("--prune", help="Also remove from the mail server what the desired state no longer has."),
]
BuyOption = Annotated[
    bool,
    typer.Option(
        "--buy",
        help="Buy the domains the plan would buy (all of them, or none when one is over its max_price or the "
        "total over the budget). Without it nothing is ever bought.",
    ),
]


def _money(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not an amount (e.g. 50 or 49.99)") from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]  # finite: an int exponent
        raise typer.BadParameter(f"{value!r}: a budget is a positive amount with at most 2 decimals")
    return amount


BudgetOption = Annotated[
    str | None,
    typer.Option(
        "--budget",
        help="The most this run may spend on domain purchases, in USD (default: defaults.register_budget).",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Allow what is refused by default: changing >30% of a zone's managed records, deleting >30% of a "
        "domain's managed mailboxes, replacing a published DKIM key we do not hold, taking over another owner's "
        "domains.",
    ),
]


class RecordFormat(StrEnum):
    """Output formats of `records`."""

    table = "table"
    zone = "zone"
    json = "json"


def _progress(total: int) -> Progress | None:
    if total < 2 or not err_console.is_terminal:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def records(
    domain: Annotated[str, typer.Argument(help="A domain of the desired state (or of -f FILE).")],
    file: SourceOption = None,
    output: Annotated[RecordFormat, typer.Option("--format", help="table, zone or json.")] = RecordFormat.table,
) -> None:
    """Print the records DOMAIN needs (its DKIM key as the vault holds it); writes nothing."""
    from email_infrastructure.services.records import desired_records

    loaded = source(file)

    async def go() -> DesiredZone:
        async with application() as app:
            return await desired_records(app, domain, loaded)

    zone = run(go())
    if output is RecordFormat.json:
        print_json({"domain": zone.zone, "records": [r.to_json() for r in zone.records], "notes": zone.notes})
    elif output is RecordFormat.zone:
        for record in zone.records:
            for value in record.values:
                sys.stdout.write(f"{record.name}.\t{record.ttl}\tIN\t{record.type}\t{record.presentation(value)}\n")
    else:
        from rich.table import Table

        table = Table("name", "type", "ttl", "value", title=zone.zone)
        table.columns[-1].overflow = "fold"
        for record in zone.records:
            for value in record.values:
                table.add_row(record.relative_name(zone.zone), record.type, str(record.ttl), escape(value))
        console.print(table)
        for note in zone.notes:
            console.print(f"[dim]note: {escape(note)}[/]")


class _Lines:
    """Markup lines for stdout, printed by Rich a batch at a time.

    Rich's fixed cost per `print` (console state, markup, render pipeline) dominated a plan of
    10,000 domains (170,000 lines); one call per batch prints the same text about 5x faster.
    """

    BATCH = 1000

    def __init__(self) -> None:
        self.pending: list[str] = []

    def __call__(self, text: str) -> None:
        self.pending.append(text)
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            console.print("\n".join(self.pending), soft_wrap=True, highlight=False)
            self.pending.clear()


_RANK = {"registrars": -1, "vps": 0, "dkim": 1, "mail": 2}


def _import_notes(result: Plan, line: Callable[[str], None]) -> None:
    """What the import kept as it was (another file's defaults, a server still used), one line each."""
    for note in result.imported.notes if result.imported is not None else []:
        line(f"[dim]note: {escape(note)}[/]")


def _zone_lines(zone: ZonePlan, line: Callable[[str], None]) -> None:
    header = f"[bold]{escape(zone.zone)}[/] ({escape(zone.provider)})"
    if zone.error:
        line(f"{header}: [red]error:[/] {escape(zone.error)}")
        return
    if not zone.has_changes:
        line(f"{header}: no changes")
        return
    counts = zone.counts()
    line(f"{header}: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete")
    for change in zone.changes:
        r = change.record
        if change.old is not None and change.new is not None:
            old, new = change.old, change.new
            text = f"{old.ttl} {' | '.join(old.values)} → {new.ttl} {' | '.join(new.values)}"
        else:
            text = f"{r.ttl} {' | '.join(r.values)}"
        text = mask_pending(text)
        line(f"  {_SIGN[change.action.value]} {escape(r.name)} {r.type} {escape(text)}")
    for extra in zone.extra:
        line(f"  [yellow]~[/] {extra.kind}: {escape(str(extra.old))} → {escape(str(extra.new))}")
    for note in zone.notes:
        line(f"  [dim]note: {escape(note)}[/]")


def show_plan(result: Plan) -> None:
    """The plan for people: steps other than DNS by key, then zones with their record changes."""
    line = _Lines()
    if result.imported is not None and result.imported.changed:
        i = result.imported
        line(f"[bold]desired state[/]: {len(i.added)} added, {len(i.updated)} updated, {len(i.removed)} removed")
        for what, sign in ((i.added, "+"), (i.updated, "~"), (i.removed, "-")):
            for item in what:
                line(f"  {sign} {escape(item)}")
    _import_notes(result, line)
    # servers first (their addresses feed the rest), then keys and mail, then the zones
    for step in sorted(result.graph.ordered, key=lambda s: _RANK.get(s.component, 3)):
        if step.component == "dns":
            continue
        if step.error:
            line(f"[bold]{escape(step.key)}[/]: [red]error:[/] {escape(step.error)}")
        for step_change in step.changes:
            resource = escape(step_change.resource)
            later = "" if step_change.action == "delete" or step.component == "registrars" else " (known after apply)"
            line(f"[bold]{escape(step.key)}[/]: {_SIGN[step_change.action]} {resource}{later}")
        for note in step.notes:
            line(f"[bold]{escape(step.key)}[/]: [dim]note: {escape(note)}[/]")
    for zone in sorted(result.zones, key=lambda z: z.zone):
        _zone_lines(zone, line)
    for reason in result.unsafe:
        line(f"[yellow]needs --force:[/] {escape(reason)}")
    s = result.summary()
    line(f"plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete")
    bought = result.purchases
    if bought is not None and bought.purchases:
        cap = f" (budget {bought.budget} USD)" if bought.budget is not None else ""
        verdict = "within every cap" if bought.allowed else bought.reason
        line(f"purchases: {len(bought.purchases)} domain(s), total {bought.total} USD{cap}: {escape(verdict)}")
    line.flush()
    # On its own line, never wrapped: scripts and people copy it into `apply --checksum`.
    sys.stdout.flush()
    console.file.flush()
    sys.stdout.write(f"checksum: {result.checksum}\n")


def plan(
    domains: DomainsArgument = None,
    file: SourceOption = None,
    as_json: JsonOption = False,
    force: Annotated[bool, typer.Option("--force", help="Preview taking over another owner's domains.")] = False,
    prune: PruneOption = False,
    budget: BudgetOption = None,
    deadline: DeadlineOption = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0 without changes, 2 with changes, 1 on error (a refusal, an invalid file or option too).",
        ),
    ] = False,
) -> None:
    """Show what apply would change; writes nothing (no provider, no database, no key).

    Without -f the desired state stored in the database is planned; with -f FILE, what importing it would do.

    Exit codes: 0; 1 a step could not be planned; 2 a usage or input error (a refusal such as another
    owner's domains without --force, an invalid file). With --detailed-exitcode: 0 no changes, 2 changes,
    1 any error, refusals included.
    """
    from email_infrastructure.services.plans import plan as plan_service

    cap = _money(budget)
    with bulk_allocation():  # the plan's objects all live until printed
        loaded = source(file, quiet=as_json)

        async def go() -> Plan:
            async with application() as app:
                note_state(app)
                progress = _progress(2)
                if progress is None:
                    return await plan_service(
                        app,
                        source=loaded,
                        only=domains or (),
                        force=force,
                        deadline=deadline,
                        prune=prune,
                        budget=cap,
                    )
                with progress:
                    task = progress.add_task("planning", total=None)
                    return await plan_service(
                        app,
                        source=loaded,
                        only=domains or (),
                        force=force,
                        deadline=deadline,
                        prune=prune,
                        budget=cap,
                        progress=lambda _k: progress.advance(task),
                    )

        result = run(go())
        if as_json:
            write_chunks(result.iter_json())  # streamed: a large plan never exists whole as JSON
        else:
            show_plan(result)
    if result.failed:
        raise typer.Exit(1)
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)


def show_outcomes(result: ApplyResult) -> None:
    """Each step's outcome, as a table."""
    from rich.table import Table

    table = Table("step", "status", "create", "update", "delete", "error", title="apply")
    table.columns[-1].overflow = "fold"
    style = {"applied": "green", "unchanged": "dim", "failed": "red", "skipped": "yellow"}
    for outcome in sorted(result.outcomes, key=lambda o: o.key):
        c = outcome.counts
        table.add_row(
            escape(outcome.key),
            f"[{style[outcome.status]}]{outcome.status}[/]",
            str(c.get("create", 0)),
            str(c.get("update", 0)),
            str(c.get("delete", 0)),
            escape(outcome.error or ""),
        )
    console.print(table)


def apply(
    domains: DomainsArgument = None,
    file: SourceOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: ForceOption = False,
    prune: PruneOption = False,
    buy: BuyOption = False,
    budget: BudgetOption = None,
    checksum: Annotated[
        str | None,
        typer.Option("--checksum", help="Apply only if the plan still has this checksum (with or without sha256:)."),
    ] = None,
    lock_timeout: Annotated[
        float, typer.Option("--lock-timeout", help="Seconds to wait for another apply of this database.", min=0)
    ] = 30.0,
    deadline: DeadlineOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import -f FILE (if given), then make every provider match the desired state.

    Every write is read back. One apply per database at a time: a second one waits --lock-timeout seconds.

    Exit 1 if a step failed; 2 if refused (a stale checksum, a refusal without --force, the lock, answering no).
    """
    from email_infrastructure.services.plans import apply as apply_service
    from email_infrastructure.services.plans import plan as plan_service

    cap = _money(budget)
    loaded = source(file, quiet=as_json)
    only = domains or ()
    if not yes and checksum is None:
        if not sys.stdin.isatty():
            raise UserError("apply needs --yes (or --checksum from a reviewed plan) when not run interactively")

        async def preview() -> Plan:
            async with application() as app:
                note_state(app)
                return await plan_service(app, source=loaded, only=only, force=force, prune=prune, budget=cap, buy=buy)

        shown = run(preview())
        show_plan(shown)
        if shown.has_changes and not typer.confirm("apply these changes?", default=False):
            raise UserError("refused: nothing was applied")
        checksum = shown.checksum  # apply exactly what was shown

    async def go() -> ApplyResult:
        async with application() as app:
            if yes:
                note_state(app)
            progress = _progress(2)

            async def call(advance: Callable[[str], None] | None) -> ApplyResult:
                return await apply_service(
                    app,
                    source=loaded,
                    checksum=checksum,
                    force=force,
                    only=only,
                    lock_timeout=lock_timeout,
                    deadline=deadline,
                    prune=prune,
                    buy=buy,
                    budget=cap,
                    progress=advance,
                )

            if progress is None:
                return await call(None)
            with progress:
                task = progress.add_task("applying", total=None)
                return await call(lambda _key: progress.advance(task))

    result = run(go())
    if as_json:
        print_json(result.to_json())
    else:
        show_outcomes(result)
        lines = _Lines()
        _import_notes(result.plan, lines)
        lines.flush()
    if result.failed:
        raise typer.Exit(1)
