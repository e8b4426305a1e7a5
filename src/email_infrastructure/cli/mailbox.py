"""`email-infra mailbox check|send-test|verify`: log in, send a test message, verify one received."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from email_infrastructure.cli.common import call, console, err_console, print_json, run

if TYPE_CHECKING:
    from email_infrastructure.services.mailbox_check import MailboxCheck
    from email_infrastructure.services.mailbox_send import SendResult
    from email_infrastructure.services.message_auth import Verification

app = typer.Typer(help="Mailboxes on their servers: log in as a sending platform would.", no_args_is_help=True)
#: 0 every login passed, 1 one failed, 3 none failed but one could not be determined
EXIT_CODES = {"pass": 0, "fail": 1, "unknown": 3}
STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}
SubmissionPort = Annotated[int, typer.Option(min=1, max=65535, help="SMTP submission port (STARTTLS, then AUTH).")]
SmtpsPort = Annotated[int, typer.Option(min=1, max=65535, help="SMTP port with implicit TLS.")]
ImapsPort = Annotated[int, typer.Option(min=1, max=65535, help="IMAP port with implicit TLS.")]
Address = Annotated[
    str | None,
    typer.Option(help="Connect to this address instead of the server's host name (TLS still verifies the name)."),
]
CaFile = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="Trust this CA file instead of the system's.")
]
Nameservers = Annotated[
    list[str] | None, typer.Option("--nameserver", help="Ask this IP[:PORT] (repeatable; default: the system's).")
]
Timeout = Annotated[float, typer.Option(min=0.1, help="Seconds one connection may wait.")]


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
    address: Address = None,
    submission_port: SubmissionPort = 587,
    smtps_port: SmtpsPort = 465,
    imaps_port: ImapsPort = 993,
    ca_file: CaFile = None,
    timeout: Timeout = 15.0,
) -> None:
    """Log each mailbox with a confirmed password into SMTP (587 STARTTLS, 465 TLS) and IMAP (993).

    Exit 0: every login passed; 1: a login failed; 3: none failed, but a server could not be asked.
    """
    from email_infrastructure.services.mailbox_check import CheckOptions, check_mailboxes

    options = CheckOptions(address, submission_port, smtps_port, imaps_port, ca_file, timeout)
    result = call(lambda app: check_mailboxes(app, only=list(domain or []), options=options))
    _render(result, output)
    raise typer.Exit(EXIT_CODES[result.status.value])


def _render_send(result: SendResult, output: CheckFormat) -> None:
    if output is CheckFormat.json:
        print_json(result.to_json())
        return
    status = result.status.value
    console.print(f"[{STYLE[status]}]{status}[/]", end=" ")
    console.print(
        f"{result.from_address} -> {result.to} via {result.host}:{result.port}: {result.answer}", markup=False
    )
    console.print(f"message-id {result.message_id}", markup=False)
    signer = result.signed_with or "not signed here (left to the mail server)"
    console.print(f"dkim: {signer}", markup=False)
    if result.received:
        console.print(f"received: {result.received}", markup=False)
    if result.verification is not None:
        _render_verification(result.verification, output)


@app.command("send-test")
def send_test(
    from_address: Annotated[str, typer.Argument(metavar="FROM_ADDRESS", help="A mailbox of the desired state.")],
    to: Annotated[str, typer.Option("--to", help="Where the test message goes.")],
    output: Annotated[CheckFormat, typer.Option("--format", help="table or json.")] = CheckFormat.table,
    address: Address = None,
    submission_port: SubmissionPort = 587,
    ca_file: CaFile = None,
    timeout: Timeout = 15.0,
    verify: Annotated[
        bool,
        typer.Option(help="--to is a mailbox of the desired state: fetch the copy over IMAPS and check it."),
    ] = False,
    imaps_port: ImapsPort = 993,
    nameserver: Nameservers = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds the copy may take to arrive (with --verify).")] = 60.0,
) -> None:
    """Send a test message through a mailbox: submission (STARTTLS, AUTH with its vault password).

    A domain without a mail backend is DKIM-signed here with its vault key; Mailcow signs its own.
    With --verify, the recipient's copy (its INBOX, its vault password) gets SPF, DKIM and DMARC
    checked for the hop its Received field names.
    Exit 0: accepted (and with --verify, all three pass); 1: refused or a check failed;
    3: a server or DNS could not be asked, or the copy did not arrive.
    """
    from email_infrastructure.services.mailbox_check import CheckOptions
    from email_infrastructure.services.mailbox_send import VerifyOptions
    from email_infrastructure.services.mailbox_send import send_test as send

    options = CheckOptions(address, submission_port, imaps_port=imaps_port, ca_file=ca_file, timeout=timeout)
    checking = VerifyOptions(list(nameserver or []), wait) if verify else None
    result = call(lambda app: send(app, from_address, to, options=options, verify=checking))
    _render_send(result, output)
    raise typer.Exit(EXIT_CODES[result.outcome.value])


def _render_verification(result: Verification, output: CheckFormat) -> None:
    if output is CheckFormat.json:
        print_json(result.to_json())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("check", "result", "domain", "detail", title=f"authentication: {result.status.value}")
    rows = [("spf", result.spf), *(("dkim", d) for d in result.dkim), ("dmarc", result.dmarc)]
    for name, verdict in rows:
        style = "green" if verdict.result == "pass" else "yellow" if verdict.result == "temperror" else "red"
        table.add_row(name, f"[{style}]{verdict.result}[/]", escape(verdict.domain), escape(verdict.detail))
    if not result.dkim:
        table.add_row("dkim", "[red]none[/]", "", "no DKIM-Signature")
    console.print(table)


@app.command("verify")
def verify(
    message: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The received message (RFC 5322).")],
    ip: Annotated[str, typer.Option("--ip", help="The IP address the message came from.")],
    mail_from: Annotated[str, typer.Option("--mail-from", help="The envelope sender (MAIL FROM; '' for null).")],
    helo: Annotated[str, typer.Option("--helo", help="The name the sender gave in HELO/EHLO.")] = "",
    nameserver: Nameservers = None,
    output: Annotated[CheckFormat, typer.Option("--format", help="table or json.")] = CheckFormat.table,
) -> None:
    """Check SPF, DKIM and DMARC of a received message against the published DNS.

    Exit 0: all three pass; 1: one failed; 3: none failed but DNS could not be asked.
    """
    import ipaddress

    from email_infrastructure.core.settings import check_nameserver
    from email_infrastructure.services.message_auth import verify_received

    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise typer.BadParameter(f"{ip!r} is not an IP address", param_hint="--ip") from None
    for server in nameserver or []:
        try:
            check_nameserver(server)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--nameserver") from None
    raw = message.read_bytes()

    async def go() -> Verification:
        return await verify_received(raw, ip=ip, mail_from=mail_from, helo=helo, nameservers=list(nameserver or []))

    result = run(go())
    _render_verification(result, output)
    raise typer.Exit(EXIT_CODES[result.status.value])
