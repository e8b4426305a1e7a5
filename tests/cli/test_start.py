"""What starting the CLI costs: the entry point imports no database, model or HTTP library."""

from __future__ import annotations

import os
import subprocess
import sys

import typer

from email_infrastructure import __version__
from email_infrastructure.cli.commands import COMMANDS, build
from tests.cli.conftest import ROOT

#: what a command imports when it runs (asyncio: with ssl, ~15 % of the start); `--version` and `--help` must not pay
HEAVY = ("sqlalchemy", "pydantic", "httpx", "ruamel", "alembic", "fastapi", "cryptography", "asyncio")


def test_importing_the_entry_point_leaves_the_heavy_libraries_unloaded() -> None:
    code = (
        "import sys; import email_infrastructure.cli.app; "
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == []


def test_the_check_sees_a_heavy_import() -> None:
    # the test above can fail: importing a command's service module loads them
    code = "import sys; import email_infrastructure.services.records; print('sqlalchemy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "True"


def test_version_answers_before_typer_is_imported() -> None:
    code = (
        "import sys; sys.argv = ['email-infra', '--version']; from email_infrastructure.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    print(exc.code, 'typer' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.splitlines() == [f"email-infra {__version__}", "0 False"]


def _names(tree: typer.Typer) -> list[str]:
    commands = [c.name or "" for c in tree.registered_commands]
    return commands + [g.name or "" for g in tree.registered_groups]


def test_a_command_builds_only_its_own_part_of_the_tree() -> None:
    assert _names(build(["audit", "a.test"])) == ["audit"]
    assert _names(build(["--debug", "dmarc", "summary"])) == ["dmarc"]
    everything = sorted(COMMANDS)
    for argv in ([], ["--help"], ["adit"]):  # help and a typo's suggestion need every command
        assert sorted(_names(build(argv))) == everything


def test_a_command_imports_no_other_command_group() -> None:
    code = (
        "import sys; sys.argv = ['email-infra', 'audit', '--help']; from email_infrastructure.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('email_infrastructure.cli.'))), file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded = set(result.stderr.split())
    assert "email_infrastructure.cli.audit" in loaded
    assert not loaded & {f"email_infrastructure.cli.{m}" for m in ("dmarc", "serve", "worker", "mailbox", "dns")}
