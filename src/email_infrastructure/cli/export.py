"""`email-infra export`: mailbox credentials as a sending platform's CSV (the file holds secrets)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from email_infrastructure.cli.common import call, err_console

_FORMATS = "smartlead, instantly, instantly-extended, reachinbox, emailbison, generic"


def export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"One of {_FORMATS}. Headers as in the reference: reachinbox is confirmed from the vendor's sample; "
            "smartlead, instantly and instantly-extended are reconstructed (unconfirmed); emailbison's order and "
            "booleans are unconfirmed; check them against the vendor's template before a large import.",
        ),
    ],
    domain: Annotated[list[str] | None, typer.Option("--domain", help="Only this domain (repeatable).")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here (mode 0600, never overwritten); else stdout.")
    ] = None,
    smtp_port: Annotated[int, typer.Option(help="587 (STARTTLS) or 465 (implicit TLS); IMAP is 993.")] = 587,
) -> None:
    """Export the mailboxes that exist on their server, with their passwords (the output holds secrets)."""
    from email_infrastructure.services.export import export_credentials

    result = call(lambda app: export_credentials(app, fmt, output, only=list(domain or []), smtp_port=smtp_port))
    if output is None:
        sys.stdout.write(result.text)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False, style="yellow")
    for what, why in sorted(result.skipped.items()):
        err_console.print(f"skipped {what}: {why}", markup=False)
    if result.reason is not None:
        err_console.print(f"error: {result.reason}", markup=False, style="red")
        raise typer.Exit(2)
    where = f"to {output} (mode 0600)" if output else "to stdout"
    err_console.print(
        f"exported {result.rows} mailbox(es) as {fmt} {where}: it holds passwords; keep it private", markup=False
    )
