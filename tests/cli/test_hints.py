"""Every fix hint that names an `email-infra` command names a real one, with options it accepts."""

from __future__ import annotations

import re
import shlex

import pytest
import typer.core
import typer.main

from email_infrastructure.cli.app import app
from email_infrastructure.monitoring import findings
from email_infrastructure.monitoring.findings import HINTS, hint

#: a command in a hint, written in backticks
COMMAND = re.compile(r"`email-infra(?P<args>(?: [^`]*)?)`")


def all_hints() -> dict[str, str]:
    """Every hint text the findings can carry, keyed by the id (or generic suffix) that gives it."""
    texts = dict(HINTS)
    for suffix in findings._GENERIC_HINTS:
        texts[f"<check>.{suffix}"] = hint(f"any.{suffix}")
    return texts


def resolve(words: list[str]) -> typer.core.TyperCommand | typer.core.TyperGroup:
    """Walk `words` down the real CLI (group by group, with get_command), then parse the rest as
    the command's own arguments and options; AssertionError when any of it is not the CLI's."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="email-infra")
    command = root
    rest = list(words)
    while isinstance(command, typer.core.TyperGroup):
        assert rest, f"`{ctx.command_path}` needs a subcommand"
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"`{ctx.command_path}` has no command {name!r}"
        assert not sub.hidden, f"`{ctx.command_path} {name}` is a hidden alias: name the command itself"
        command = sub
        ctx = typer.Context(sub, info_name=name, parent=ctx)
    try:  # click's parser: an option the command does not have, a missing argument, too many arguments
        command.make_context(ctx.info_name, rest, parent=ctx.parent)
    except Exception as exc:  # typer vendors click: its UsageError is not click.UsageError
        raise AssertionError(f"`{' '.join([ctx.command_path, *rest])}`: {exc}") from exc
    return command


def commands_in(text: str) -> list[list[str]]:
    """The argument lists of every `email-infra …` command in `text`; a bare mention fails."""
    found = [shlex.split(m["args"]) for m in COMMAND.finditer(text)]
    assert text.count("email-infra") == len(found), f"write the command in backticks: {text!r}"
    return found


def check(text: str) -> None:
    """Every command in `text` is a real one."""
    for words in commands_in(text):
        resolve(words)


@pytest.mark.parametrize(("finding", "text"), sorted(all_hints().items()))
def test_every_command_a_hint_names_exists(finding: str, text: str) -> None:
    check(text)


def test_hints_name_commands() -> None:
    named = [words for text in all_hints().values() for words in commands_in(text)]
    assert ["apply", "DOMAIN"] in named  # drift and mismatches point at apply


@pytest.mark.parametrize(
    "text",
    [
        "`email-infra dns apply`",
        "`email-infra apply --no-such-option`",
        "`email-infra vault`",
        "`email-infra blacklist 1.2.3.4`",
        "run email-infra apply",
    ],
)
def test_a_bad_command_fails_the_check(text: str) -> None:
    with pytest.raises(AssertionError):
        check(text)
