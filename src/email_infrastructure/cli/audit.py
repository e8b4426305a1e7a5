"""`email-infra audit` and `email-infra blacklist`: the live state of domains and IPs."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from email_infrastructure.cli.common import call, console, err_console, inventory, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from email_infrastructure.monitoring.audit import AuditReport, SubjectReport
    from email_infrastructure.monitoring.dnsbl import ListingResult, ZoneHealth
    from email_infrastructure.monitoring.findings import CheckResult

# Rich's table and the audit engine are imported when a command runs: `--help` and the shell's
# completion should not pay for them (see docs/benchmarks.md, start-up).

#: the monitoring-plugin convention (docs/audit-format.md): 2 is a usage error (cli/app.py)
EXIT_CODES = {"ok": 0, "warning": 0, "error": 1, "unknown": 3}
#: spaces after the commas: `--help` wraps between names, never cuts one (`--checks` takes them with or without)
CHECK_NAMES = (
    "spf, dkim, dmarc, mx, mta_sts, tls_rpt, bimi, ptr, dnsbl (alias blocklist), tls, drift, compliance, "
    "registration, expiry, delegation"
)
STATUS_STYLE = {
    "ok": "green",
    "warning": "yellow",
    "unknown": "cyan",
    "error": "red",
    "listed": "red",
    "clean": "green",
}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
_LABELLED = re.compile(r"^[a-z]+: ")


class Format(StrEnum):
    """Output formats of `blacklist` and `monitor`."""

    table = "table"
    json = "json"
    csv = "csv"


class AuditFormat(StrEnum):
    """Output formats of `audit`; jsonl streams one object per domain, IP and list."""

    table = "table"
    json = "json"
    csv = "csv"
    jsonl = "jsonl"


NameserverOption = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        help=(
            "Upstream DNS server IP[:PORT] (repeatable); default: the monitoring.nameservers of -f FILE,"
            " else of the stored desired state, else EMAIL_INFRA_NAMESERVERS, else the system's."
        ),
    ),
]
ZonesOption = Annotated[
    str | None,
    typer.Option("--zones", help="Comma-separated blocklist (DNSBL) zones (default: the inventory's, else curated)."),
]
FormatOption = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds one DNS query may take, retries included.", min=0.01)
]
DqsOption = Annotated[str | None, typer.Option(help="Variable holding a Spamhaus DQS key.")]


def exit_code(status: str) -> int:
    """0 ok or warnings, 1 an error, 3 nothing at error but something undetermined."""
    return EXIT_CODES[status]


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _cell(value: str, style: str = "") -> Any:
    """A table cell or a line that is never read as markup (`[...]` prints as written)."""
    from rich.text import Text

    return Text(value, style=style)


def wrapping_table(*columns: str, widths: Sequence[int] = ()) -> Any:
    """A table that wraps long cells instead of cutting them to `dom…`."""
    from rich.table import Table

    table = Table(*columns)
    for column, width in zip(table.columns, widths, strict=False):
        # a domain or a zone has no spaces to wrap at: give it its width, and fold only past it
        column.min_width = min(width, 48)
        column.overflow = "fold"
    for column in table.columns[len(widths) :]:
        column.overflow = "fold"
    return table


def _line(out: Console, *parts: tuple[str, str]) -> None:
    from rich.text import Text

    out.print(Text.assemble(*parts), soft_wrap=True)


def _finding_lines(out: Console, subject_results: Iterable[tuple[str, CheckResult]]) -> None:
    """Each finding as a line with what was seen and the fix; identical ones said once."""
    grouped: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = {}
    for subject, result in subject_results:
        for f in result.findings:
            if f.severity.value != "info" or result.unknown:
                grouped.setdefault((f.severity.value, f.id, f.message, f.evidence), []).append(subject)
    from email_infrastructure.monitoring.findings import hint

    for (severity, fid, message, evidence), subjects in grouped.items():
        who = subjects[0] if len(subjects) == 1 else f"{len(subjects)} subjects ({', '.join(subjects[:3])}, …)"
        label = "unknown" if severity == "info" else severity
        _line(out, (label, SEVERITY_STYLE[severity]), (f" {who} {fid}: {message}", ""))
        for item in evidence:
            # labelled evidence (want:/live:/reason:/delisting:) as is, the rest is what was seen
            _line(out, (f"    {item}" if _LABELLED.match(item) else f"    seen: {item}", "dim"))
        if hint(fid):
            _line(out, (f"    fix: {hint(fid)}", "dim"))


def _summary_table(reports: list[SubjectReport], label: str) -> Any:
    """Subject, status and the checks that are not ok: readable at 80 columns."""
    table = wrapping_table(label, "status", "not ok", widths=(max(len(r.subject) for r in reports), 7))
    for r in reports:
        bad = [(name, c.status.value) for name, c in r.checks.items() if c.status.value != "ok"]
        from rich.text import Text

        cell = Text()
        for i, (name, status) in enumerate(bad):
            cell.append(("  " if i else "") + f"{name}:")
            cell.append(status, style=STATUS_STYLE[status])
        table.add_row(_cell(r.subject), _cell(r.status.value, STATUS_STYLE[r.status.value]), cell)
    return table


def _print_audit(report: AuditReport, output: AuditFormat) -> None:
    if output is AuditFormat.json:
        print_json(report.to_json())
        return
    subjects = [*report.domains, *report.ips]
    if output is AuditFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["subject", "check", "status", "finding", "severity", "message"])
        for r in subjects:
            for name, result in r.checks.items():
                if not result.findings:
                    writer.writerow([r.subject, name, result.status.value, "", "", ""])
                for f in result.findings:
                    writer.writerow([r.subject, name, result.status.value, f.id, f.severity.value, f.message])
        return
    for reports, label in ((report.domains, "domain"), (report.ips, "ip")):
        if reports:
            console.print(_summary_table(reports, label))
    if report.resolver_silent:
        _silent_line(report.resolver_silent)  # every finding would say the same: said once
        return
    _zone_lines(err_console, report.zones)
    # findings of a broken list are said once above, per list
    _finding_lines(console, ((r.subject, c) for r in subjects for c in r.checks.values()))


def _silent_line(reason: str) -> None:
    """The one line for a resolver that answers nothing (stderr: stdout keeps the results)."""
    _line(err_console, ("unknown", "cyan"), (f" {reason}: nothing could be determined", ""))


def _zone_lines(out: Console, zones: list[ZoneHealth]) -> None:
    for z in zones:
        if not z.healthy:
            _line(out, ("blocklist ", "yellow"), (z.zone, "yellow"), (f" is broken (not asked): {z.reason}", ""))


def _stream_line(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def audit_command(
    domains: Annotated[
        list[str] | None,
        typer.Argument(help="Domains to audit (default: every domain of -f FILE, else of the stored desired state)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Inventory: audit its domains, selectors and IPs, and add drift."),
    ] = None,
    domains_file: Annotated[
        Path | None,
        typer.Option("--domains-file", help="More domains to audit, one per line ('-': standard input)."),
    ] = None,
    nameserver: NameserverOption = None,
    selector: Annotated[
        list[str] | None,
        typer.Option("--selector", help="DKIM selector (repeatable); default: common ones."),
    ] = None,
    output: Annotated[
        AuditFormat, typer.Option("--format", help="table, json, csv, or jsonl (one line per domain as it completes).")
    ] = AuditFormat.table,
    concurrency: Annotated[int, typer.Option(help="Domains audited at once.", min=1, max=5000)] = 200,
    checks: Annotated[str | None, typer.Option("--checks", help=f"Comma-separated subset of: {CHECK_NAMES}.")] = None,
    zones: ZonesOption = None,
    dqs_key_env: DqsOption = None,
    timeout: TimeoutOption = 2.0,
    deadline: Annotated[
        float, typer.Option("--deadline", help="Seconds one domain's checks may take in all.", min=0.1)
    ] = 30.0,
) -> None:
    """Audit SPF, DKIM, DMARC, MX, MTA-STS, TLS-RPT, BIMI, PTR, blocklists, TLS and drift.

    Exit 0: no error (warnings allowed); 1: an error finding; 2: usage; 3: no error, but something
    could not be determined. Writes nothing: no database, no vault key, no file.
    """
    from email_infrastructure.monitoring.dnsbl import zone_json
    from email_infrastructure.services.audit import AuditRequest, audit_domains, check_names, stream_audit

    names = list(domains or [])
    if domains_file is not None:
        text = sys.stdin.read() if str(domains_file) == "-" else domains_file.read_text()
        names += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    request = AuditRequest(
        domains=names,
        source=inventory(file, quiet=output is not AuditFormat.table) if file is not None else None,
        nameservers=list(nameserver or []),
        selectors=list(selector or []),
        checks=check_names(set(_split(checks))),
        zones=_split(zones),
        dqs_key_env=dqs_key_env,
        concurrency=concurrency,
        timeout=timeout,
        deadline=deadline,
    )
    if output is AuditFormat.jsonl:
        summary = call(lambda app: stream_audit(app, request, lambda r: _stream_line(r.to_json())))
        for z in summary.zones:
            _stream_line(zone_json(z))
        if summary.resolver_silent:
            _silent_line(summary.resolver_silent)
        raise typer.Exit(exit_code(summary.status.value))
    report = call(lambda app: audit_domains(app, request))
    _print_audit(report, output)
    raise typer.Exit(exit_code(report.status.value))


def _listing_json(r: ListingResult) -> dict[str, Any]:
    return {
        "target": r.target,
        "zone": r.zone,
        "status": r.status,
        "codes": r.codes,
        "meaning": r.meaning,
        "policy": r.policy,
        "reason": r.reason,
        "delisting": r.delisting,
    }


def blacklist_command(
    targets: Annotated[list[str] | None, typer.Argument(help="IP addresses and domains.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Inventory: its blocklists (monitoring.blacklists) and nameservers."),
    ] = None,
    nameserver: NameserverOption = None,
    zones: ZonesOption = None,
    output: FormatOption = Format.table,
    dqs_key_env: DqsOption = None,
    timeout: TimeoutOption = 2.0,
) -> None:
    """Check IPs and domains on DNS blocklists; answers are decoded per list, each list self-tested.

    Exit 0: not listed (a policy listing such as Spamhaus PBL is a warning); 1: listed; 2: usage;
    3: not listed where asked, but a list was broken or did not answer.
    """
    from email_infrastructure.monitoring.dnsbl import listing_result, zone_json
    from email_infrastructure.monitoring.findings import worst
    from email_infrastructure.services.audit import BlocklistRequest, blocklist_lookup

    request = BlocklistRequest(
        targets=list(targets or []),
        source=inventory(file, quiet=output is not Format.table) if file is not None else None,
        nameservers=list(nameserver or []),
        zones=_split(zones),
        dqs_key_env=dqs_key_env,
        timeout=timeout,
    )
    report = call(lambda app: blocklist_lookup(app, request))
    results, health = report.results, report.zones
    by_target: dict[str, list[ListingResult]] = {}
    for r in results:
        by_target.setdefault(r.target, []).append(r)
    status = worst(listing_result(t, items).status for t, items in by_target.items())
    if output is Format.json:
        data: dict[str, Any] = {
            "status": status.value,
            "results": [_listing_json(r) for r in results],
            "zones": [zone_json(z) for z in health],
        }
        if report.resolver_silent:
            data["resolver_silent"] = report.resolver_silent
        print_json(data)
    elif output is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["target", "zone", "status", "codes", "meaning", "reason", "delisting"])
        for r in results:
            writer.writerow([r.target, r.zone, r.status, " ".join(r.codes), r.meaning, r.reason, r.delisting])
    else:
        shown = [r for r in results if not r.broken]
        if shown:
            widths = (max(len(r.target) for r in shown), max(len(r.zone) for r in shown), 7)
            table = wrapping_table("target", "zone", "status", "meaning", widths=widths)
            for r in shown:
                meaning = " ".join(p for p in (r.meaning, f"({' '.join(r.codes)})" if r.codes else "") if p)
                table.add_row(_cell(r.target), _cell(r.zone), _cell(r.status, STATUS_STYLE[r.status]), _cell(meaning))
            console.print(table)
        for r in shown:
            if r.status == "listed":
                if r.reason:
                    _line(console, (f"{r.target} on {r.zone}: reason: {r.reason}", ""))
                if r.delisting:
                    _line(console, (f"{r.target} on {r.zone}: delisting: {r.delisting}", ""))
        # one line per broken list, however many targets were not asked there
        _zone_lines(err_console, health)
    if report.resolver_silent:
        _silent_line(report.resolver_silent)
    raise typer.Exit(exit_code(status.value))
