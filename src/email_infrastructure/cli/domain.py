"""`email-infra domain add|list|show|remove`: edit the desired state without a file; `domain check`:
availability and price at a registrar (buys nothing: buying is `apply --buy`)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import (
    AllWorkspacesOption,
    JsonOption,
    SourceOption,
    call,
    call_each,
    console,
    print_json,
    print_key_table,
    source,
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


def _targets(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _forwarding(forwards: list[str], catch_all: str | None) -> dict[str, Any]:
    """`--forward local=a@x,b@y` and `--catch-all a@x` as a `forwarding` block (the service checks it)."""
    addresses: dict[str, list[str]] = {}
    for text in forwards:
        local, _, targets = text.partition("=")
        if not local.strip() or not _targets(targets):
            raise typer.BadParameter(f"{text!r}: give a forward as local=address[,address]", param_hint="--forward")
        addresses[local.strip()] = _targets(targets)
    return {"addresses": addresses, "catch_all": _targets(catch_all) if catch_all else None}


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The domain (IDN names are stored as punycode).")],
    dns_provider: Annotated[str | None, typer.Option(help="DNS provider (default: the stored defaults').")] = None,
    server: Annotated[str | None, typer.Option(help="Mail server (default: the stored defaults').")] = None,
    dmarc_policy: Annotated[str | None, typer.Option(help="none, quarantine or reject.")] = None,
    redirect: Annotated[str | None, typer.Option(help="Where the apex and www redirect (https://…).")] = None,
    dkim_selector: Annotated[str | None, typer.Option(help="DKIM selector.")] = None,
    mailbox: Annotated[list[str] | None, typer.Option("--mailbox", help="A persona 'First Last' (repeatable).")] = None,
    forward: Annotated[
        list[str] | None,
        typer.Option("--forward", help="Forward a local part: sales=a@x.test[,b@y.test] (repeatable)."),
    ] = None,
    catch_all: Annotated[
        str | None, typer.Option("--catch-all", help="Where mail to any other address goes: a@x.test[,b@y.test].")
    ] = None,
    sequencer: Annotated[
        list[str] | None,
        typer.Option("--sequencer", help="A sequencer its mailboxes go to (repeatable; replaces the defaults')."),
    ] = None,
    registrar: Annotated[
        str | None, typer.Option("--registrar", help="The registrar account it is registered at (delegation, watch).")
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Add a domain with the stored defaults (server, DNS provider, policies); options override them
    (--forward or --catch-all replace the defaults' forwarding, --sequencer the defaults' sequencers)."""
    from email_infrastructure.services.domains import add_domain

    options: dict[str, Any] = {}
    for key, value in (("dns_provider", dns_provider), ("server", server), ("redirect", redirect)):
        if value is not None:
            options[key] = value
    if dkim_selector is not None:
        options["dkim_selector"] = dkim_selector
    if forward or catch_all:
        options["forwarding"] = _forwarding(forward or [], catch_all)
    if sequencer:
        options["sequencers"] = list(sequencer)
    if registrar is not None:
        options["registrar"] = registrar
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


class Format(StrEnum):
    """Output formats of `domain check`."""

    table = "table"
    json = "json"


@app.command("check")
def check(
    names: Annotated[list[str], typer.Argument(help="Domains to price (at most 50).")],
    registrar: Annotated[
        str | None, typer.Option("--registrar", "-r", help="Its name under providers.registrars (default: defaults')")
    ] = None,
    file: SourceOption = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Availability and price of each name for a year; buys nothing (buying is `apply --buy`).

    Premium names are shown with their price but are never bought automatically.
    """
    from email_infrastructure.services.registrar_quotes import check_domains

    loaded = source(file, quiet=output is Format.json)
    inventory = loaded.inventory if loaded is not None else None
    view = call(lambda app: check_domains(app, names, registrar=registrar, inventory=inventory))
    if output is Format.json:
        print_json(view.to_json())
        return
    table = Table("domain", "available", "price", "term", "renewal", "note", title=f"{view.registrar} ({view.type})")
    table.columns[-1].overflow = "fold"
    for q in view.quotes:
        note = "premium: never bought automatically" if q.premium else q.note
        table.add_row(
            q.domain,
            "[green]yes[/]" if q.available else "[red]no[/]",
            f"{q.price} {q.currency}" if q.price is not None else "-",
            f"{q.years} y",
            f"{q.renewal} {q.currency}" if q.renewal is not None else "-",
            escape(note),
        )
    console.print(table)


def _register_whois() -> None:
    # its own module (cli/domain_whois.py): RDAP is not the desired state's, and the group's other files merge apart
    from email_infrastructure.cli.domain_whois import whois

    app.command("whois")(whois)


_register_whois()
