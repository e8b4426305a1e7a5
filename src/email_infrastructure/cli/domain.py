"""`email-infra domain add|list|show|remove`: edit the desired state without a file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import (
    AllWorkspacesOption,
    JsonOption,
    call,
    call_each,
    console,
    print_json,
    print_key_table,
)

if TYPE_CHECKING:
    from email_infrastructure.services.domains import DomainView

app = typer.Typer(
    help="Domains of the desired state (stored in the database; the next plan/apply acts on them).",
    no_args_is_help=True,
)
ForceOption = Annotated[bool, typer.Option("--force", help="Act on a domain another owner (a file) holds.")]


def _show(view: DomainView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_json())
        return
    table = Table("setting", "value", title=f"{view.name} (owner: {view.owner})")
    table.columns[-1].overflow = "fold"
    for key, value in sorted(view.spec.items()):
        table.add_row(key, escape(str(value)))
    table.add_row("mailboxes", escape(", ".join(view.mailboxes) or "none"))
    console.print(table)


def _mailbox(text: str) -> dict[str, str]:
    first, _, last = text.partition(" ")
    if not first or not last.strip():
        raise typer.BadParameter(f"{text!r}: give a mailbox as 'First Last'")
    return {"first_name": first, "last_name": last.strip()}


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The domain (IDN names are stored as punycode).")],
    dns_provider: Annotated[str | None, typer.Option(help="DNS provider (default: the stored defaults').")] = None,
    server: Annotated[str | None, typer.Option(help="Mail server (default: the stored defaults').")] = None,
    dmarc_policy: Annotated[str | None, typer.Option(help="none, quarantine or reject.")] = None,
    redirect: Annotated[str | None, typer.Option(help="Where the apex and www redirect (https://…).")] = None,
    dkim_selector: Annotated[str | None, typer.Option(help="DKIM selector.")] = None,
    mailbox: Annotated[list[str] | None, typer.Option("--mailbox", help="A persona 'First Last' (repeatable).")] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Add a domain with the stored defaults (server, DNS provider, policies); options override them."""
    from email_infrastructure.services.domains import add_domain

    options: dict[str, Any] = {}
    for key, value in (("dns_provider", dns_provider), ("server", server), ("redirect", redirect)):
        if value is not None:
            options[key] = value
    if dkim_selector is not None:
        options["dkim_selector"] = dkim_selector
    mailboxes = [_mailbox(m) for m in mailbox or []]

    async def go(app: Any) -> DomainView:
        return await add_domain(app, name, options, mailboxes, force=force, dmarc_policy=dmarc_policy)

    _show(call(go), as_json)


@app.command("list")
def list_(all_workspaces: AllWorkspacesOption = False, as_json: JsonOption = False) -> None:
    """Every domain of the desired state, with its owner (and its workspace, --all-workspaces)."""
    from email_infrastructure.services.domains import list_domains

    found = call_each(list_domains) if all_workspaces else [("", call(list_domains))]
    if as_json:
        print_json(
            {"domains": [{**v.to_json(), **({"workspace": w} if w else {})} for w, views in found for v in views]}
        )
        return
    rows = [
        (
            *((escape(w),) if all_workspaces else ()),
            v.name,
            escape(v.owner),
            escape(str(v.spec.get("dns_provider"))),
            escape(str(v.spec.get("server"))),
            str(len(v.mailboxes)),
        )
        for w, views in found
        for v in views
    ]
    columns = ("domain", "owner", "dns provider", "server", "mailboxes")
    if all_workspaces:
        print_key_table(("workspace", *columns), rows, keys=(0, 1, 2))
    else:
        print_key_table(columns, rows, keys=(0, 1))


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="The domain.")], as_json: JsonOption = False) -> None:
    """One domain with every default applied."""
    from email_infrastructure.services.domains import show_domain

    _show(call(lambda app: show_domain(app, name)), as_json)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The domain.")], force: ForceOption = False, as_json: JsonOption = False
) -> None:
    """Drop a domain from the desired state; the next apply deletes the records we made for it."""
    from email_infrastructure.services.domains import remove_domain

    view = call(lambda app: remove_domain(app, name, force=force))
    if as_json:
        print_json({"removed": view.to_json()})
    else:
        console.print(f"removed {view.name} from the desired state; `email-infra plan` shows what apply deletes")


def _register_whois() -> None:
    # its own module (cli/domain_whois.py): RDAP is not the desired state's, and the group's other files merge apart
    from email_infrastructure.cli.domain_whois import whois

    app.command("whois")(whois)


_register_whois()
