"""The foundation commands end to end: exit codes, messages, nothing written on errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import ROOT, Cli

QUICKSTART = ROOT / "examples" / "quickstart.yaml"


def test_help_lists_command_groups(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for name in ("validate", "init", "status", "db", "vault"):
        assert name in result.stdout


def test_validate_quickstart_exits_0(cli: Cli) -> None:
    result = cli("validate", "-f", str(QUICKSTART))
    assert result.returncode == 0, result.stderr
    assert "2 domain(s)" in result.stdout


def test_validate_bad_copy_names_every_problem(cli: Cli, tmp_path: Path) -> None:
    text = QUICKSTART.read_text()
    text = text.replace("  server: mx1\n", "  server: mx1\n  dmarc_polcy: reject\n", 1)
    text = text.replace("name: acme-mail.test", "name: -acme-.test")
    text = text.replace(
        "      - {first_name: Bob, last_name: Stone}\n",
        "      - {first_name: Bob, last_name: Stone}\n      - {first_name: Zed, last_name: X, local_part: bob.stone}\n",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = cli("validate", "-f", str(bad))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 3, result.stderr
    assert f"{bad}:" in lines[0] and "unknown key 'dmarc_polcy'" in lines[0]
    assert "duplicate mailbox bob.stone@acme-outreach.test" in lines[1]
    assert "invalid domain name '-acme-.test'" in lines[2]
    assert "Traceback" not in result.stderr
    json_result = cli("validate", "-f", str(bad), "--json")
    assert json_result.returncode == 2
    assert len(json.loads(json_result.stdout)["problems"]) == 3


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "site").returncode == 0
    starter = tmp_path / "site" / "inventory.yaml"
    assert "version: 1" in starter.read_text()
    assert cli("validate", "-f", str(starter)).returncode == 0
    again = cli("init", "site")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_db_upgrade_creates_the_sqlite_database(cli: Cli, tmp_path: Path) -> None:
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "email-infra.db").exists()
    assert "head: " in cli("db", "current").stdout


def test_unreachable_database_is_one_line_exit_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("db", "upgrade", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot migrate the database")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_settings_are_user_errors(cli: Cli) -> None:
    result = cli("db", "upgrade", env={"EMAIL_INFRA_ENV": "production"})
    assert result.returncode == 2
    assert "EMAIL_INFRA_SECRET_KEY must be set" in result.stderr
    result = cli("db", "upgrade", env={"DATABASE_URL": "mysql://x@127.0.0.1/db"})
    assert result.returncode == 2 and "DATABASE_URL must start with" in result.stderr


def test_debug_shows_the_traceback(cli: Cli) -> None:
    result = cli("--debug", "db", "upgrade", env={"DATABASE_URL": "mysql://x@127.0.0.1/db"})
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_invalid_vault_key_is_refused_and_nothing_is_written(cli: Cli, tmp_path: Path) -> None:
    result = cli("vault", "rotate-key", env={"EMAIL_INFRA_SECRET_KEY": "short"})
    assert result.returncode == 2
    assert "not a valid vault key" in result.stderr
    assert not (tmp_path / "data" / "email-infra.db").exists()


def test_vault_rotate_key_with_key_file(cli: Cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade").returncode == 0
    first = cli("vault", "rotate-key")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "data" / "secret.key"
    old = key_file.read_text()
    assert cli("vault", "rotate-key").returncode == 0
    assert key_file.read_text() != old
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_status_reports_components_as_json(cli: Cli) -> None:
    result = cli("status", "-f", str(QUICKSTART), "--json")
    assert result.returncode == 0, result.stderr
    components = json.loads(result.stdout)["components"]
    assert set(components) == {
        "storage",
        "dns",
        "mailcow",
        "vps",
        "servers",
        "monitoring",
        "sequencers",
        "registration",
    }
    assert components["registration"]["status"] == "unknown" and "never checked" in components["registration"]["detail"]
    assert components["storage"]["status"] == "ok"
    assert components["mailcow"]["status"] == "unconfigured"
    assert components["servers"]["status"] == "unknown"  # the quickstart's server: port 25 never recorded


def test_status_shows_port25_of_a_server_created_by_a_provider(cli: Cli) -> None:
    result = cli("status", "-f", str(ROOT / "examples" / "full.yaml"), "--json")
    servers = json.loads(result.stdout)["components"]["servers"]
    # Hetzner blocks outbound 25 on new accounts: degraded until recorded or declared open
    assert servers["status"] == "degraded"
    assert "mx1: port 25 blocked (provider-default)" in servers["detail"]


def test_status_table_and_missing_credentials_exit_1(cli: Cli) -> None:
    result = cli("status", "-f", str(ROOT / "examples" / "full.yaml"))
    assert result.returncode == 1
    assert "MAILCOW_API_KEY is not set" in result.stdout
