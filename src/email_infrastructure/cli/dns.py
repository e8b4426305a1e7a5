"""`email-infra records | plan | apply`: the DNS of sending domains as code."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from email_infrastructure.cli.common import (
    DEFAULT_INVENTORY,
    InventoryOption,
    JsonOption,
    console,
    err_console,
    inventory,
    print_json,
    run,
    settings,
)
from email_infrastructure.core.errors import UserError
from email_infrastructure.core.events import EventBus
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.dns.plan import Action, Plan

if TYPE_CHECKING:
    from email_infrastructure.dns.desired import DesiredZone
    from email_infrastructure.reconcile.dns import ApplyResult, DnsReconciler

_SIGN = {Action.CREATE: "[green]+[/]", Action.UPDATE: "[yellow]~[/]", Action.DELETE: "[red]-[/]"}


class RecordFormat(StrEnum):
    """Output formats of `records`."""

    table = "table"
    zone = "zone"
    json = "json"


@asynccontextmanager
async def reconciler(file: Path) -> AsyncIterator[DnsReconciler]:
    """A DnsReconciler on the configured database, its events going to the audit log."""
    # Storage and providers are imported on use: commands that need neither start faster.
    from email_infrastructure.reconcile.dns import DnsReconciler
    from email_infrastructure.storage.db import open_database
    from email_infrastructure.storage.repositories import EventLog

    loaded = inventory(file)
    cfg = settings()
    db = await open_database(cfg)
    bus = EventBus()
    EventLog(db.sessions).attach(bus)
    service = DnsReconciler(cfg, loaded.inventory, db, bus)
    try:
        yield service
    finally:
        await service.close()
        await db.close()


def _progress(total: int) -> Progress | None:
    if total < 2 or not err_console.is_terminal:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def records(
    domain: Annotated[str, typer.Argument(help="A domain of the inventory.")],
    file: InventoryOption = DEFAULT_INVENTORY,
    output: Annotated[RecordFormat, typer.Option("--format", help="table, zone or json.")] = RecordFormat.table,
) -> None:
    """Print the records DOMAIN needs (from the inventory, its server and its DKIM key)."""
    try:
        name = normalise_domain(domain)
    except ValueError as exc:
        raise UserError(str(exc)) from None

    async def go() -> DesiredZone:
        async with reconciler(file) as service:
            zones = await service.desired()
        if name not in zones:
            raise UserError(f"{name} is not a domain of {file}")
        if zones[name].error:
            raise UserError(zones[name].error or "")
        return zones[name]

    zone = run(go())
    if output is RecordFormat.json:
        print_json({"domain": name, "records": [r.to_json() for r in zone.records], "notes": zone.notes})
    elif output is RecordFormat.zone:
        for record in zone.records:
            for value in record.values:
                sys.stdout.write(f"{record.name}.\t{record.ttl}\tIN\t{record.type}\t{record.presentation(value)}\n")
    else:
        table = Table("name", "type", "ttl", "value", title=name)
        table.columns[-1].overflow = "fold"
        for record in zone.records:
            for value in record.values:
                table.add_row(record.relative_name(name), record.type, str(record.ttl), value)
        console.print(table)
        for note in zone.notes:
            console.print(f"[dim]note: {note}[/]")


def _show_plan(plan: Plan) -> None:
    for zone in sorted(plan.zones, key=lambda z: z.zone):
        counts = zone.counts()
        header = f"[bold]{zone.zone}[/] ({zone.provider})"
        if zone.error:
            console.print(f"{header}: [red]error:[/] {zone.error}", soft_wrap=True)
            continue
        if not zone.changes:
            console.print(f"{header}: no changes")
            continue
        console.print(
            f"{header}: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
        )
        for change in zone.changes:
            r = change.record
            if change.action is Action.UPDATE:
                assert change.old is not None and change.new is not None
                old = f"{change.old.ttl} {' | '.join(change.old.values)}"
                new = f"{change.new.ttl} {' | '.join(change.new.values)}"
                text = f"{old} → {new}"
            else:
                text = f"{r.ttl} {' | '.join(r.values)}"
            console.print(
                f"  {_SIGN[change.action]} {r.name} {r.type} {text}",
                soft_wrap=True,
                markup=True,
                highlight=False,
            )
        for note in zone.notes:
            console.print(f"  [dim]note: {note}[/]", soft_wrap=True)
    s = plan.summary()
    console.print(
        f"plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete; checksum {plan.checksum}"
    )


def plan(
    file: InventoryOption = DEFAULT_INVENTORY,
    as_json: JsonOption = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="Exit 0 without changes, 2 with changes, 1 on error."),
    ] = False,
) -> None:
    """Show what apply would change at each DNS provider; never writes to a provider."""

    async def go() -> Plan:
        async with reconciler(file) as service:
            progress = _progress(len(service.inventory.domains))
            if progress is None:
                return await service.plan()
            with progress:
                task = progress.add_task("planning", total=len(service.inventory.domains))
                return await service.plan(lambda _zone: progress.advance(task))

    result = run(go())
    if as_json:
        print_json(result.to_json())
    else:
        _show_plan(result)
    if result.failed:
        raise typer.Exit(1)
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)


def _summary(result: ApplyResult) -> None:
    table = Table("zone", "status", "create", "update", "delete", "error", title="apply")
    table.columns[-1].overflow = "fold"
    style = {"applied": "green", "unchanged": "dim", "failed": "red"}
    for outcome in sorted(result.outcomes, key=lambda o: o.zone):
        c = outcome.counts
        table.add_row(
            outcome.zone,
            f"[{style[outcome.status]}]{outcome.status}[/]",
            str(c.get("create", 0)),
            str(c.get("update", 0)),
            str(c.get("delete", 0)),
            outcome.error or "",
        )
    console.print(table)


def apply(
    file: InventoryOption = DEFAULT_INVENTORY,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Allow updating/deleting more than 30% of a zone's managed records."),
    ] = False,
    checksum: Annotated[
        str | None,
        typer.Option("--checksum", help="Apply only if the plan still has this checksum."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make every DNS provider match the inventory, reading back each write; exit 1 if a zone failed."""
    if not yes and checksum is None:
        if not sys.stdin.isatty():
            raise UserError("apply needs --yes (or --checksum from a reviewed plan) when not run interactively")

        async def preview() -> Plan:
            async with reconciler(file) as service:
                return await service.plan()

        shown = run(preview())
        _show_plan(shown)
        if shown.has_changes and not typer.confirm("apply these changes?", default=False):
            raise typer.Exit(1)
        checksum = shown.checksum  # apply exactly what was shown

    async def go() -> ApplyResult:
        async with reconciler(file) as service:
            progress = _progress(len(service.inventory.domains))
            managed_by = f"inventory:{file.resolve()}"
            if progress is None:
                return await service.apply(checksum=checksum, force=force, managed_by=managed_by)
            with progress:
                task = progress.add_task("applying", total=len(service.inventory.domains))
                return await service.apply(
                    checksum=checksum,
                    force=force,
                    managed_by=managed_by,
                    progress=lambda _zone: progress.advance(task),
                )

    result = run(go())
    if as_json:
        data = result.plan.to_json()
        data["outcomes"] = {o.zone: {"status": o.status, "error": o.error} for o in result.outcomes}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _summary(result)
    if result.failed:
        raise typer.Exit(1)
