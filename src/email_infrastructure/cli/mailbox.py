"""`email-infra mailbox check`: log every mailbox into SMTP and IMAP on its server."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from email_infrastructure.cli.common import call, console, err_console, print_json

if TYPE_CHECKING:
    from email_infrastructure.services.mailbox_check import MailboxCheck

app = typer.Typer(help="Mailboxes on their servers: log in as a sending platform would.", no_args_is_help=True)
#: 0 every login passed, 1 one failed, 3 none failed but one could not be determined
EXIT_CODES = {"pass": 0, "fail": 1, "unknown": 3}
STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}
SubmissionPort = Annotated[int, typer.Option(min=1, max=65535, help="SMTP submission port (STARTTLS, then AUTH).")]
SmtpsPort = Annotated[int, typer.Option(min=1, max=65535, help="SMTP port with implicit TLS.")]
ImapsPort = Annotated[int, typer.Option(min=1, max=65535, help="IMAP port with implicit TLS.")]


class CheckFormat(StrEnum):
    """Output formats of `mailbox check`."""

    table = "table"
    json = "json"


def _render(result: MailboxCheck, output: CheckFormat) -> None:
    if output is CheckFormat.json:
        print_json(result.to_json())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("mailbox", "host", "protocol", "port", "status", "server's answer", title="mailbox logins")
    for box in result.mailboxes:
        for login in box.logins:
            status = login.status.value
            table.add_row(
                escape(box.address),
                escape(box.host),
                login.protocol,
                str(login.port),
                f"[{STYLE[status]}]{status}[/]",
                escape(login.answer),
            )
    console.print(table)
    for address, why in sorted(result.skipped.items()):
        err_console.print(f"skipped {address}: {why}", markup=False)
    if not result.mailboxes:
        err_console.print("no mailbox with a confirmed password to check", markup=False)


@app.command("check")
def check(
    domain: Annotated[list[str] | None, typer.Option("--domain", help="Only this domain (repeatable).")] = None,
    output: Annotated[CheckFormat, typer.Option("--format", help="table or json.")] = CheckFormat.table,
    address: Annotated[
        str | None,
        typer.Option(help="Connect to this address instead of the server's host name (TLS still verifies the name)."),
    ] = None,
    submission_port: SubmissionPort = 587,
    smtps_port: SmtpsPort = 465,
    imaps_port: ImapsPort = 993,
    ca_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Trust this CA file instead of the system's.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds one connection may wait.")] = 15.0,
) -> None:
    """Log each mailbox with a confirmed password into SMTP (587 STARTTLS, 465 TLS) and IMAP (993).

    Exit 0: every login passed; 1: a login failed; 3: none failed, but a server could not be asked.
    """
    from email_infrastructure.services.mailbox_check import CheckOptions, check_mailboxes

    options = CheckOptions(address, submission_port, smtps_port, imaps_port, ca_file, timeout)
    result = call(lambda app: check_mailboxes(app, only=list(domain or []), options=options))
    _render(result, output)
    raise typer.Exit(EXIT_CODES[result.status.value])
