"""`plan` exit codes: with --detailed-exitcode 2 means "changes pending" and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, Cli

QUICKSTART = ROOT / "examples" / "quickstart.yaml"


@pytest.fixture
def second_file(cli: Cli, tmp_path: Path) -> Path:
    """The quickstart applied from one file, and a copy at another path: a second owner of the same domains."""
    applied = cli("apply", "-f", str(QUICKSTART), "--yes")
    assert applied.returncode == 0, applied.stderr
    copy = tmp_path / "other" / "inventory.yaml"
    copy.parent.mkdir()
    shutil.copy(QUICKSTART, copy)
    return copy


def test_a_refusal_exits_1_with_detailed_exitcode(cli: Cli, second_file: Path) -> None:
    result = cli("plan", "-f", str(second_file), "--detailed-exitcode")
    assert "refusing to import" in result.stderr, result.stderr
    assert "is owned by" in result.stderr
    assert result.returncode == 1
    # the same with --json, and the flag before the file
    assert cli("plan", "--detailed-exitcode", "--json", "-f", str(second_file)).returncode == 1


def test_a_refusal_keeps_exit_2_without_detailed_exitcode(cli: Cli, second_file: Path) -> None:
    result = cli("plan", "-f", str(second_file))
    assert "refusing to import" in result.stderr
    assert result.returncode == 2  # a user error, as everywhere (README, `email-infra --help`)


def test_input_and_usage_errors_exit_1_with_detailed_exitcode(cli: Cli, tmp_path: Path) -> None:
    missing = cli("plan", "-f", str(tmp_path / "nope.yaml"), "--detailed-exitcode")
    assert missing.returncode == 1, missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndomains: [{name: 'not a domain'}]\n")
    invalid = cli("plan", "-f", str(bad), "--detailed-exitcode")
    assert invalid.returncode == 1, invalid.stderr
    assert invalid.stderr.strip()
    option = cli("plan", "--detailed-exitcode", "--no-such-option")
    assert option.returncode == 1, option.stderr
    assert "No such option" in option.stderr
    # without the flag these stay usage errors
    assert cli("plan", "-f", str(bad)).returncode == 2
    assert cli("plan", "--no-such-option").returncode == 2


def test_changes_still_exit_2_and_no_changes_0(cli: Cli, second_file: Path) -> None:
    assert cli("plan", "-f", str(QUICKSTART), "--detailed-exitcode").returncode == 0
    fresh = cli(
        "plan",
        "-f",
        str(QUICKSTART),
        "--detailed-exitcode",
        env={"EMAIL_INFRA_DATA_DIR": str(second_file.parent / "data")},
    )
    assert fresh.returncode == 2, fresh.stderr


def test_the_help_says_so(cli: Cli) -> None:
    text = " ".join(w for w in cli("plan", "--help").stdout.split() if w.strip("│─╭╮╰╯"))
    assert "0 no changes, 2 changes, 1 any error, refusals included" in text
    assert "1 on error (a refusal, an invalid file or option too)" in text
