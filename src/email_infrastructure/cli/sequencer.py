"""`email-infra sequencer list|show|sync`: what each sending platform holds of our mailboxes, and the push of
them alone (services/sequencer_accounts.py; `apply` pushes them too, after the mailboxes)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from email_infrastructure.cli.common import call, console, print_json

if TYPE_CHECKING:
    from email_infrastructure.services.sequencer_accounts import AccountsView

app = typer.Typer(help="Sequencer accounts (Instantly, Smartlead, EmailBison, ReachInbox) of our mailboxes.")


class Format(StrEnum):
    """Output formats of the sequencer commands."""

    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]
SequencerOption = Annotated[
    str | None, typer.Option("--sequencer", "-s", help="Only this sequencer (its name under providers.sequencers).")
]
DomainOption = Annotated[list[str] | None, typer.Option("--domain", "-d", help="Only this domain (repeatable).")]


def _view(sequencer: str | None, domains: list[str] | None) -> AccountsView:
    from email_infrastructure.services.sequencer_accounts import accounts_view

    return call(lambda a: accounts_view(a, sequencer=sequencer, domains=domains or ()))


@app.command("list")
def list_sequencers(sequencer: SequencerOption = None, output: FormatOption = Format.table) -> None:
    """Each sequencer: accounts on the platform, ours wanted, present, missing, in error (exit 1 if any)."""
    view = _view(sequencer, None)
    if output is Format.json:
        print_json({"sequencers": [s.to_json() for s in view.sequencers]})
    else:
        from rich.table import Table

        table = Table("sequencer", "type", "accounts there", "wanted", "present", "missing", "in error", "read")
        for s in view.sequencers:
            table.add_row(
                escape(s.name),
                s.type + ("" if s.can_create else " (read only)"),
                str(s.accounts),
                str(s.wanted),
                str(s.present),
                str(s.missing),
                str(s.unhealthy),
                "ok" if s.error is None else escape(s.error),
            )
        console.print(table)
    raise typer.Exit(1 if view.failing else 0)


@app.command("show")
def show(sequencer: SequencerOption = None, domain: DomainOption = None, output: FormatOption = Format.table) -> None:
    """Each wanted account: present or missing at its sequencer, its health, the settings that differ."""
    view = _view(sequencer, domain)
    if output is Format.json:
        print_json({"sequencers": [s.to_json() for s in view.sequencers], "accounts": [r.to_json() for r in view.rows]})
    else:
        from rich.table import Table

        table = Table("mailbox", "sequencer", "state", "health", "differs")
        for r in view.rows:
            health = "" if r.health is None else f"{r.health.state} {r.health.detail}".strip()
            differs = ", ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in sorted(r.differs.items()))
            table.add_row(escape(r.address), escape(r.sequencer), r.state, escape(health), escape(differs))
        console.print(table)
    raise typer.Exit(1 if view.failing else 0)


@app.command("sync")
def sync(
    sequencer: SequencerOption = None,
    domain: DomainOption = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete accounts we created whose mailbox is no longer wanted there.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Allow deleting over the guard (30 %).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only; change nothing.")] = False,
    output: FormatOption = Format.table,
) -> None:
    """Push mailboxes to their sequencers now: plan and apply the sequencer steps alone (mail, DNS, servers untouched).

    Accounts are created with the vault's passwords and the mail server's SMTP/IMAP, differing settings updated,
    a rotated password given to the platform. `apply` runs the same steps after the mailboxes.

    Exit 0 done or nothing to do; 1 a step failed or could not be planned; 2 refused (a deletion over the guard
    without --force, an unknown sequencer or domain).
    """
    from email_infrastructure.cli.dns import show_outcomes, show_plan
    from email_infrastructure.services.plans import ApplyResult
    from email_infrastructure.services.sequencer_accounts import sync as sync_service

    result = call(
        lambda a: sync_service(a, sequencer=sequencer, domains=domain or (), prune=prune, force=force, dry_run=dry_run)
    )
    if output is Format.json:
        print_json(result.to_json())
    elif isinstance(result, ApplyResult):
        show_outcomes(result)
    else:
        show_plan(result)
    plan = result.plan if isinstance(result, ApplyResult) else result
    raise typer.Exit(1 if result.failed or plan.failed else 0)
