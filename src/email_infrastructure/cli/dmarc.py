"""`email-infra dmarc ingest|summary`: DMARC aggregate/failure and TLS reports in, pass rates out."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from email_infrastructure.cli.common import call, console, err_console, print_json, print_key_table

if TYPE_CHECKING:
    from email_infrastructure.services.dmarc import IngestSummary
    from email_infrastructure.services.dmarc_views import DmarcSummary, Totals

app = typer.Typer(help="DMARC aggregate and failure reports, SMTP TLS reports.", no_args_is_help=True)
STYLE = {"ingested": "green", "duplicate": "dim", "skipped": "yellow"}


class IngestFormat(StrEnum):
    """Output formats of `dmarc ingest`."""

    table = "table"
    json = "json"


class SummaryFormat(StrEnum):
    """Output formats of `dmarc summary`."""

    table = "table"
    json = "json"
    csv = "csv"


def _render_ingest(result: IngestSummary, output: IngestFormat) -> None:
    if output is IngestFormat.json:
        print_json(result.to_json())
        return
    from rich.markup import escape

    columns = ("source", "status", "kind", "domain", "org", "report id", "records", "messages", "reason")
    rows = [
        [
            escape(item.origin),
            f"[{STYLE[item.status]}]{item.status}[/]",
            item.kind,
            escape(item.domain),
            escape(item.org),
            escape(item.report_id),
            str(item.records),
            str(item.messages),
            escape(" ".join([item.reason, *(f"[{n}]" for n in item.notes)]).strip()),
        ]
        for item in result.items
    ]
    # the file (or message) is what a user looks for: whole, first; the domain is a key too
    print_key_table(columns, rows, keys=(0, 3))
    line = (
        f"{result.count('ingested')} ingested, {result.count('duplicate')} duplicate, {result.count('skipped')} skipped"
    )
    data = result.to_json()
    if data["unmanaged"]:
        line += f"; {data['unmanaged']} of domains not in the desired state (kept, marked unmanaged)"
    if data["noted"]:
        line += f"; {data['noted']} with notes"
    if result.resolved:
        line += f"; {result.resolved} source(s) named by reverse DNS"
    if result.mailbox:
        m = result.mailbox
        line += f"; mailbox: {m['messages']} message(s), {m['moved']} moved, {m['reconnects']} reconnect(s)"
    console.print(line, markup=False)
    for alert in result.alerts:
        err_console.print(f"alert {alert['status']}: {alert['subject']}: {alert['summary']}", markup=False)


@app.command("ingest")
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders: XML, JSON, gzip, zip, .eml, mbox.")
    ] = None,
    imap: Annotated[str | None, typer.Option("--imap", help="imaps://user@host[:port]/FOLDER to read.")] = None,
    password: Annotated[str | None, typer.Option("--password", help="The IMAP password as env:NAME.")] = None,
    move_to: Annotated[str | None, typer.Option("--move-to", help="Move processed messages to this folder.")] = None,
    ca_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Trust this CA file instead of the system's.")
    ] = None,
    connect_to: Annotated[
        str | None, typer.Option("--connect-to", help="Connect to this address (TLS still verifies the host name).")
    ] = None,
    nameserver: Annotated[
        list[str] | None, typer.Option("--nameserver", help="Reverse DNS via this IP[:PORT] (repeatable).")
    ] = None,
    no_resolve: Annotated[bool, typer.Option("--no-resolve", help="Do not look up the sources' names.")] = False,
    output: Annotated[IngestFormat, typer.Option("--format", help="table or json.")] = IngestFormat.table,
) -> None:
    """Store reports once each (org + report id + domain); skip what cannot be stored, saying why.

    Exit 0: nothing skipped; 1: something was skipped (see the reasons); 2: bad input or options.
    """
    from email_infrastructure.core.errors import UserError
    from email_infrastructure.services.dmarc import ImapRequest, IngestOptions, ingest_imap, ingest_paths

    if bool(paths) == bool(imap):
        raise UserError("give PATH... or --imap URL (one of them)")
    options = IngestOptions(nameservers=list(nameserver or []), resolve=not no_resolve)
    if imap:
        if not password:
            raise UserError("--imap needs --password env:NAME")
        request = ImapRequest(imap, password, move_to=move_to, ca_file=ca_file, address=connect_to)
        result = call(lambda app: ingest_imap(app, request, options))
    else:
        result = call(lambda app: ingest_paths(app, list(paths or []), options))
    _render_ingest(result, output)
    raise typer.Exit(1 if result.count("skipped") else 0)


def _pct(totals: Totals, passed: int) -> str:
    return f"{totals.rate(passed):.1%}"


def _render_summary(result: DmarcSummary, output: SummaryFormat) -> None:
    if output is SummaryFormat.json:
        print_json(result.to_json())
        return
    sections = [("domain", result.domains), ("source", result.sources), ("organisation", result.organisations)]
    if output is SummaryFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["section", "key", "messages", "dmarc_pass_rate", "spf_aligned_rate", "dkim_aligned_rate",
                         "failing", "reverse_dns", "ours"])  # fmt: skip
        for name, rows in sections:
            for t in rows:
                j = t.to_json()
                writer.writerow([name, t.key, t.messages, j["dmarc_pass_rate"], j["spf_aligned_rate"],
                                 j["dkim_aligned_rate"], t.failing, t.reverse_dns, t.ours])  # fmt: skip
        for kind, count in result.tls_failures:
            writer.writerow(["tls_failure", kind, count, "", "", "", count, "", ""])
        return
    from rich.markup import escape

    scope = result.domain or "every domain"
    since = f"since {result.since}" if result.since else "all time"
    console.print(f"{scope}, {since}: {result.reports} aggregate report(s), {result.failure_reports} failure report(s)")
    for name, rows in sections:
        columns = [name, "messages", "DMARC pass", "SPF aligned", "DKIM aligned", "failing"]
        if name == "source":
            columns += ["reverse DNS", "ours"]
        cells = []
        for t in rows:
            row = [escape(t.key), f"{t.messages:,}", _pct(t, t.dmarc_pass), _pct(t, t.spf_aligned)]
            row += [_pct(t, t.dkim_aligned), f"{t.failing:,}"]
            if name == "source":
                row += [escape(t.reverse_dns), "yes" if t.ours else ""]
            if not t.managed:
                row[0] += " (unmanaged)"
            cells.append(row)
        # a source IP (an IPv6 address is 39 characters) or a domain is never cut to `2001:db8:…`
        print_key_table(columns, cells, keys=(0,), title=f"per {name}")
    unknown = ", ".join(t.key for t in result.unknown_senders) or "none"
    failing = ", ".join(t.key for t in result.our_failing) or "none"
    console.print(f"unknown senders failing DMARC: {unknown}", markup=False)
    console.print(f"our servers failing DMARC: {failing}", markup=False)
    ok, bad = result.tls_sessions
    kinds = ", ".join(f"{k} {n:,}" for k, n in result.tls_failures) or "none"
    console.print(f"TLS-RPT: {ok:,} successful, {bad:,} failed sessions; failures by type: {kinds}", markup=False)


@app.command("summary")
def summary(
    domain: Annotated[str | None, typer.Option("--domain", help="Only this domain.")] = None,
    since: Annotated[str, typer.Option("--since", help="Days (30d) or weeks (2w) back, or all.")] = "30d",
    output: Annotated[SummaryFormat, typer.Option("--format", help="table, json or csv.")] = SummaryFormat.table,
) -> None:
    """Volume and pass rates per domain, sending source and reporting org; unknown senders; TLS failures."""
    from email_infrastructure.services.dmarc_views import dmarc_summary, parse_since

    first_day = parse_since(since)
    result = call(lambda app: dmarc_summary(app, domain, first_day))
    _render_summary(result, output)
