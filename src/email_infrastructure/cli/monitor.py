"""`email-infra monitor` and `email-infra metrics`: renderers of the monitoring services."""

from __future__ import annotations

import csv
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from email_infrastructure.cli.audit import Format, NameserverOption, exit_code
from email_infrastructure.cli.common import (
    JsonOption,
    SourceOption,
    application,
    call,
    console,
    err_console,
    print_json,
    run,
    source,
)

if TYPE_CHECKING:
    from email_infrastructure.monitoring.monitor import RunSummary


def _run_line(s: RunSummary) -> str:
    """`dns: error, 2 changes (nothing.test spf: none→error, …)`."""
    changes = ", ".join(f"{t.subject} {t.check}: {t.old or 'none'}→{t.new}" for t in s.transitions[:5])
    more = ", …" if len(s.transitions) > 5 else ""
    count = f"{len(s.transitions)} change{'s' if len(s.transitions) != 1 else ''}"
    return f"{s.family}: {s.report.status.value}, {count}" + (f" ({changes}{more})" if changes else "")


def monitor(
    file: SourceOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run every check family once, then exit.")] = False,
    family: Annotated[
        list[str] | None,
        typer.Option(
            "--family",
            help="With --once: only this family (dns, blacklist alias blocklist, ptr, tls, mailbox, registration, "
            "delegation).",
        ),
    ] = None,
    nameserver: NameserverOption = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT while running.")
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="table, json or csv (with --once).")] = Format.table,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per run.")] = False,
) -> None:
    """Run checks at the intervals of the desired state (or -f FILE), store every result, alert on
    changes of state. SIGINT/SIGTERM stop it (a run in progress is cancelled).

    With --once, exit 0: no error; 1: an error; 3: no error, but something undetermined.
    """
    from email_infrastructure.services.monitoring import MonitorRequest, MonitorService

    if as_json:
        output = Format.json
    request = MonitorRequest(source=source(file, quiet=output is not Format.table), nameservers=list(nameserver or []))
    # a line per run goes where it cannot corrupt machine-readable output
    lines = console if output is Format.table else err_console
    signals: list[int] = []

    def on_run(s: RunSummary) -> None:
        if not quiet:
            lines.print(_run_line(s), markup=False, soft_wrap=True)

    import asyncio  # here, not at the top: every command's start would pay for it

    async def go() -> list[RunSummary]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal(sig: int) -> None:
            signals.append(sig)
            stop.set()
            if once and main is not None:
                main.cancel()  # --once has no loop to stop: cancel what runs, audit included

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            async with application() as app:
                service = await MonitorService.create(app, request, on_run)
                try:
                    if once:
                        return await service.run_once(family)
                    await service.run_forever(stop, metrics_port=metrics_port)
                    return []
                finally:
                    await service.close()
        except asyncio.CancelledError:
            if signals:
                return []
            raise

    summaries = run(go())
    if signals and once:
        raise typer.Exit(128 + signals[0])  # interrupted: nothing was determined
    if not once:
        return
    if output is Format.json:
        print_json(
            {
                "runs": [
                    {
                        "family": s.family,
                        "status": s.report.status.value,
                        "changes": [
                            {"subject": t.subject, "check": t.check, "from": t.old, "to": t.new} for t in s.transitions
                        ],
                    }
                    for s in summaries
                ],
                "report": _merged(summaries),
            }
        )
    elif output is Format.csv:
        _print_csv(summaries)
    else:
        from email_infrastructure.cli.audit import wrapping_table
        from email_infrastructure.monitoring.monitor import FAMILIES

        table = wrapping_table("family", "checks", "status", "state changes")
        for s in summaries:
            table.add_row(
                s.family, ",".join(sorted(FAMILIES[s.family])), s.report.status.value, str(len(s.transitions))
            )
        console.print(table)
    from email_infrastructure.monitoring.findings import worst

    raise typer.Exit(exit_code(worst(s.report.status for s in summaries).value))


def _print_csv(summaries: list[RunSummary]) -> None:
    """One row per result: family, subject, check, status, summary, the previous state if it changed."""
    from email_infrastructure.monitoring.monitor import FAMILIES, rows

    writer = csv.writer(sys.stdout)
    writer.writerow(["family", "subject", "check", "status", "summary", "previous"])
    for s in summaries:
        changed = {(t.subject, t.check): t.old or "none" for t in s.transitions}
        for subject, check, status, _findings, summary in rows(s.report, set(FAMILIES[s.family])):
            writer.writerow([s.family, subject, check, status, summary, changed.get((subject, check), "")])


def _merged(summaries: list[RunSummary]) -> dict[str, list[dict[str, Any]]]:
    """One audit-shaped report from the families of a run."""
    merged: dict[str, dict[str, dict[str, Any]]] = {"domains": {}, "ips": {}}
    for s in summaries:
        data = s.report.to_json()
        for kind, key in (("domains", "domain"), ("ips", "ip")):
            for item in data[kind]:
                entry = merged[kind].setdefault(item[key], {key: item[key], "checks": {}})
                entry["checks"].update(item["checks"])
    return {kind: list(entries.values()) for kind, entries in merged.items()}


def metrics() -> None:
    """Print the current check states in the Prometheus text format (for a textfile collector)."""
    from email_infrastructure.services.monitoring import metrics_text

    sys.stdout.write(call(metrics_text).decode())
