"""`email-infra init`: write a commented starter inventory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from email_infrastructure.cli.common import console
from email_infrastructure.core.errors import UserError


def init(
    directory: Annotated[Path, typer.Argument(help="Where to write inventory.yaml.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter inventory.yaml into DIRECTORY."""
    target = directory / "inventory.yaml"
    if target.exists() and not force:
        raise UserError(f"{target} already exists (use --force to overwrite)")
    template = files("email_infrastructure.cli").joinpath("templates/inventory.yaml").read_text()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(template, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror}") from None
    console.print(f"wrote {target}; next: email-infra validate -f {target}")
