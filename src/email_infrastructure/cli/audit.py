"""`email-infra audit` and `email-infra blacklist`: the live state of domains and IPs."""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from email_infrastructure.cli.common import (
    console,
    err_console,
    inventory,
    print_json,
    run,
    settings,
)
from email_infrastructure.core.errors import UserError
from email_infrastructure.core.logging import register_secret
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.monitoring.audit import ALL_CHECKS, DEFAULT_CHECKS, AuditReport, audit
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.dnsbl import (
    ListingResult,
    ZoneHealth,
    check_blocklists,
    resolve_zones,
)
from email_infrastructure.monitoring.findings import Severity
from email_infrastructure.monitoring.resolver import Resolver


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


def _resolver(nameservers: list[str] | None, fallback: list[str]) -> Resolver:
    """--nameserver, else the inventory's, else EMAIL_INFRA_NAMESERVERS, else the system's."""
    return Resolver.from_strings(nameservers or fallback or settings().nameservers)


def _dqs_key(env_name: str | None) -> str | None:
    if not env_name:
        return None
    key = os.environ.get(env_name, "")
    if not key:
        raise UserError(f"environment variable {env_name} is not set")
    register_secret(key)
    return key


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


@dataclass
class InventoryAudit:
    """What an inventory says about auditing its domains."""

    targets: list[DomainTarget]
    nameservers: list[str]
    zones: list[str]
    dqs_key: str | None


async def _from_inventory(file: Path, only: list[str]) -> InventoryAudit:
    """Targets with their selectors, IPs, DKIM keys and desired records; the monitoring settings."""
    # Imported here: auditing a plain domain needs no database, and starts faster without it.
    from email_infrastructure.core.events import EventBus
    from email_infrastructure.core.inventory.loader import resolve_secret
    from email_infrastructure.dns.desired import desired_zones
    from email_infrastructure.monitoring.targets import inventory_targets, plain_target
    from email_infrastructure.reconcile.dns import DnsReconciler
    from email_infrastructure.storage.db import open_database

    inv = inventory(file).inventory
    cfg = settings()
    db = await open_database(cfg)
    service = DnsReconciler(cfg, inv, db, EventBus(), providers={})
    try:
        keys = await service.dkim_keys()
    finally:
        await db.close()
    targets = inventory_targets(inv, desired_zones(inv, keys), keys)
    if only:
        known = {t.name for t in targets}
        missing = [d for d in only if d not in known]
        targets = [t for t in targets if t.name in only] + [plain_target(d, None) for d in missing]
    spec = inv.monitoring
    dqs_key = resolve_secret(spec.spamhaus_dqs_key) if spec.spamhaus_dqs_key else None
    return InventoryAudit(targets, spec.nameservers, [str(z) for z in spec.blacklists or []], dqs_key)


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
        typer.Argument(help="Domains to audit (default with -f: every inventory domain)."),
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
    """Audit SPF, DKIM, DMARC, MX, MTA-STS, TLS-RPT, BIMI, PTR, blacklists, TLS and drift; exit 1 on any error."""
    selected = set(_split(checks)) or set(DEFAULT_CHECKS)
    unknown_checks = selected - set(ALL_CHECKS)
    if unknown_checks:
        raise UserError(f"unknown checks: {', '.join(sorted(unknown_checks))} (known: {', '.join(ALL_CHECKS)})")
    try:
        names = [normalise_domain(d) for d in domains or []]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if file is None and not names:
        raise UserError("name at least one domain, or give an inventory with -f")

    async def go() -> AuditReport:
        from email_infrastructure.monitoring.targets import plain_target

        fallback: list[str] = []
        zone_names = _split(zones)
        dqs_key = _dqs_key(dqs_key_env)
        if file is not None:
            found = await _from_inventory(file, names)
            targets, fallback = found.targets, found.nameservers
            zone_names = zone_names or found.zones
            dqs_key = dqs_key or found.dqs_key
        else:
            targets = [plain_target(d, selector) for d in names]
        if selector and file is not None:
            for t in targets:
                t.selectors, t.selectors_declared = list(selector), True
        resolver = _resolver(nameserver, fallback)
        try:
            ctx = AuditContext(resolver)
            bl = resolve_zones(zone_names, dqs_key=dqs_key)
            return await audit(targets, ctx, selected, bl, concurrency=concurrency)
        finally:
            await resolver.close()

    report = run(go())
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
    subjects = []
    for target in targets:
        try:
            import ipaddress

            subjects.append(str(ipaddress.ip_address(target)))
        except ValueError:
            try:
                subjects.append(normalise_domain(target))
            except ValueError as exc:
                raise UserError(f"{target!r} is neither an IP address nor a domain: {exc}") from None

    async def go() -> tuple[list[ListingResult], list[ZoneHealth]]:
        resolver = _resolver(nameserver, [])
        try:
            return await check_blocklists(
                resolver, subjects, resolve_zones(_split(zones), dqs_key=_dqs_key(dqs_key_env))
            )
        finally:
            await resolver.close()

    results, health = run(go())
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
