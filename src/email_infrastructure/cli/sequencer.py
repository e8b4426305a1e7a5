"""`email-infra sequencer list|show`: what each sending platform holds of our mailboxes (read only;
services/sequencer_accounts.py). The push by `apply` comes with the rest of issue 25."""

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
