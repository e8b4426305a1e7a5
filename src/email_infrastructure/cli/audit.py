"""`email-infra audit` and `email-infra blacklist`: the live state of domains and IPs."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from email_infrastructure.cli.common import call, console, err_console, inventory, print_json
from email_infrastructure.monitoring.audit import ALL_CHECKS, AuditReport
from email_infrastructure.monitoring.findings import Severity


class Format(StrEnum):
    """Output formats."""

    table = "table"
    json = "json"
    csv = "csv"


NameserverOption = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        help="Upstream DNS server IP[:PORT] (repeatable); default: the inventory's, else the system's.",
    ),
]
ZonesOption = Annotated[
    str | None,
    typer.Option("--zones", help="Comma-separated DNSBL zones (default: the curated list)."),
]
FormatOption = Annotated[Format, typer.Option("--format", help="table, json or csv.")]


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _print_audit(report: AuditReport, output: Format) -> None:
    if output is Format.json:
        print_json(report.to_json())
        return
    rows = [(r.subject, name, c) for r in [*report.domains, *report.ips] for name, c in r.checks.items()]
    if output is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["subject", "check", "status", "finding", "severity", "message"])
        for subject, name, result in rows:
            if not result.findings:
                writer.writerow([subject, name, result.status.value, "", "", ""])
            for f in result.findings:
                writer.writerow([subject, name, result.status.value, f.id, f.severity.value, f.message])
        return
    style = {"ok": "green", "warning": "yellow", "unknown": "cyan", "error": "red"}
    for reports, label in ((report.domains, "domain"), (report.ips, "ip")):
        if not reports:
            continue
        names = [c for c in ALL_CHECKS if any(c in r.checks for r in reports)]
        table = Table(label, "status", *names)
        for r in reports:
            cells = [
                f"[{style[r.checks[c].status.value]}]{r.checks[c].status.value}[/]" if c in r.checks else ""
                for c in names
            ]
            table.add_row(r.subject, f"[{style[r.status.value]}]{r.status.value}[/]", *cells)
        console.print(table)
    for subject, _name, result in rows:
        for f in result.findings:
            if f.severity is not Severity.INFO or result.unknown:
                color = {"error": "red", "warning": "yellow", "info": "cyan"}[f.severity.value]
                console.print(
                    f"[{color}]{f.severity.value}[/] {subject} {f.id}: {f.message}",
                    soft_wrap=True,
                    markup=True,
                )


def audit_command(
    domains: Annotated[
        list[str] | None,
        typer.Argument(help="Domains to audit (default: every domain of -f FILE, else of the stored desired state)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Inventory: audit its domains, selectors and IPs, and add drift."),
    ] = None,
    nameserver: NameserverOption = None,
    selector: Annotated[
        list[str] | None,
        typer.Option("--selector", help="DKIM selector (repeatable); default: common ones."),
    ] = None,
    output: FormatOption = Format.table,
    concurrency: Annotated[int, typer.Option(help="Domains audited at once.", min=1, max=5000)] = 200,
    checks: Annotated[
        str | None,
        typer.Option("--checks", help=f"Comma-separated subset of: {','.join(ALL_CHECKS)}."),
    ] = None,
    zones: ZonesOption = None,
    dqs_key_env: Annotated[str | None, typer.Option(help="Variable holding a Spamhaus DQS key.")] = None,
) -> None:
    """Audit SPF, DKIM, DMARC, MX, MTA-STS, TLS-RPT, BIMI, PTR, blocklists, TLS and drift; exit 1 on any error.

    Writes nothing: no database, no vault key, no file.
    """
    from email_infrastructure.services.audit import AuditRequest, audit_domains, check_names

    request = AuditRequest(
        domains=list(domains or []),
        source=inventory(file) if file is not None else None,
        desired=file is None and not domains,
        nameservers=list(nameserver or []),
        selectors=list(selector or []),
        checks=check_names(set(_split(checks))),
        zones=_split(zones),
        dqs_key_env=dqs_key_env,
        concurrency=concurrency,
    )
    report = call(lambda app: audit_domains(app, request))
    _print_audit(report, output)
    if report.status.value == "error":
        raise typer.Exit(1)


def blacklist_command(
    targets: Annotated[list[str], typer.Argument(help="IP addresses and domains.")],
    nameserver: NameserverOption = None,
    zones: ZonesOption = None,
    output: FormatOption = Format.table,
    dqs_key_env: Annotated[str | None, typer.Option(help="Variable holding a Spamhaus DQS key.")] = None,
) -> None:
    """Check IPs and domains on DNS blocklists; answers are decoded per list; exit 1 when listed."""
    from email_infrastructure.services.audit import blocklist_lookup

    results, health = call(
        lambda app: blocklist_lookup(
            app, targets, nameservers=list(nameserver or []), zones=_split(zones), dqs_key_env=dqs_key_env
        )
    )
    if output is Format.json:
        print_json(
            {
                "results": [
                    {
                        "target": r.target,
                        "zone": r.zone,
                        "status": r.status,
                        "codes": r.codes,
                        "meaning": r.meaning,
                    }
                    for r in results
                ],
                "zones": [{"zone": z.zone, "healthy": z.healthy, "reason": z.reason} for z in health],
            }
        )
    elif output is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["target", "zone", "status", "codes", "meaning"])
        for r in results:
            writer.writerow([r.target, r.zone, r.status, " ".join(r.codes), r.meaning])
    else:
        table = Table("target", "zone", "status", "codes", "meaning")
        for r in results:
            color = {"listed": "red", "clean": "green", "unknown": "cyan"}[r.status]
            table.add_row(r.target, r.zone, f"[{color}]{r.status}[/]", " ".join(r.codes), r.meaning)
        console.print(table)
        for z in health:
            if not z.healthy:
                err_console.print(f"[yellow]zone {z.zone} is broken:[/] {z.reason}", soft_wrap=True)
    if any(r.status == "listed" for r in results):
        raise typer.Exit(1)
