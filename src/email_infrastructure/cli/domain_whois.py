"""`email-infra domain whois NAME`: a domain's registration through RDAP (any domain, read only)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from email_infrastructure.cli.common import call, console, print_json

if TYPE_CHECKING:
    from email_infrastructure.registrars.rdap_model import Lookup

#: 0 found, 1 the registry has no such domain, 3 no answer to read (the audit's "undetermined")
EXIT_CODES = {"found": 0, "not_found": 1, "unknown": 3}


class WhoisFormat(StrEnum):
    """Output formats of `domain whois`."""

    table = "table"
    json = "json"


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    days = (moment - now).days
    relative = f"in {days} days" if days >= 0 else f"{-days} days ago"
    return f"{moment:%Y-%m-%d} ({relative})"


def _table(lookup: Lookup) -> None:
    from rich.table import Table
    from rich.text import Text

    from email_infrastructure.monitoring.checks.registration import MIN_AGE_DAYS

    now = datetime.now(UTC)
    table = Table("field", "value", title=f"{lookup.name}: {lookup.status.value}")
    table.columns[-1].overflow = "fold"
    reg = lookup.registration
    rows: list[tuple[str, str]] = []
    if reg is None:
        rows.append(("reason", lookup.reason))
    else:
        age = reg.age_days(now)
        shown_age = "-" if age is None else f"{age} days (recommended minimum before cold sending: {MIN_AGE_DAYS})"
        rows += [
            ("registrar", reg.registrar or "-"),
            ("registered", _when(reg.registered, now)),
            ("age", shown_age),
            ("expires", _when(reg.expires, now)),
            ("registrar's expiry", _when(reg.registrar_expires, now)),
            ("last changed", _when(reg.last_changed, now)),
            ("status", ", ".join(reg.statuses) or "-"),
            ("nameservers", " ".join(reg.nameservers) or "-"),
        ]
    rows += [("RDAP server", lookup.server or "-"), *(("note", n) for n in lookup.notes)]
    for field, value in rows:
        table.add_row(field, Text(value))  # registry text is shown as written, never as markup
    console.print(table)


def whois(
    name: Annotated[str, typer.Argument(help="Any domain name (IDN names are looked up as punycode).")],
    output: Annotated[WhoisFormat, typer.Option("--format", help="table or json.")] = WhoisFormat.table,
) -> None:
    """A domain's registration from RDAP: dates, age, status, registrar, nameservers (read only).

    Exit codes: 0 found, 1 not registered (the registry answered 404), 3 no answer to read
    (rate limited, a server error, a timeout, no RDAP service for the TLD).
    """
    from email_infrastructure.services.whois import whois as lookup_domain

    lookup = call(lambda app: lookup_domain(app, name))
    if output is WhoisFormat.json:
        print_json(lookup.to_json())
    else:
        _table(lookup)
    raise typer.Exit(EXIT_CODES[lookup.status.value])
