"""One CLI convention: global flags anywhere, clear one-line user errors, exit codes scripts rely on."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import ROOT, Cli

QUICKSTART = str(ROOT / "examples" / "quickstart.yaml")


def test_debug_and_no_color_work_after_the_command_name(cli_process: Cli) -> None:
    cli = cli_process  # colour is decided from the environment when the process starts
    result = cli("validate", "-f", QUICKSTART, "--debug", "--no-color", env={"FORCE_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    coloured = cli("validate", "-f", QUICKSTART, env={"FORCE_COLOR": "1"})
    assert "\x1b[" in coloured.stdout  # the test can fail: colour is there without the flag


def test_short_version_flag(cli: Cli) -> None:
    result = cli("-V")
    assert result.returncode == 0 and result.stdout.startswith("email-infra ")


def test_user_mistakes_are_one_line_exit_2(cli: Cli, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = [
        (("validate", "-f", QUICKSTART), {"EMAIL_INFRA_LOG_LEVEL": "LOUD"}, "not a log level"),
        (("audit", "x.test"), {"EMAIL_INFRA_NAMESERVERS": "127.0.0.1:dns"}, "port must be a number"),
        (("audit", "x.test"), {"EMAIL_INFRA_NAMESERVERS": "[broken"}, "JSON list"),
        (("apply", "-f", QUICKSTART, "--yes"), {"EMAIL_INFRA_DATA_DIR": str(a_file)}, "a-file"),
        (("validate",), {}, "email-infra init"),
    ]
    for args, env, words in cases:
        result = cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line and not line.startswith("state:")]
        assert len(lines) <= 2, (args, result.stderr)  # the error, and for validate its count
        assert words in result.stderr, (args, result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_validate_speaks_our_words_and_prints_values_as_written(cli: Cli, tmp_path: Path) -> None:
    text = Path(QUICKSTART).read_text()
    text = text.replace('rua: ["mailto:dmarc@acme-outreach.test"]', 'rua: ["dmarc@acme-outreach.test"]')
    text = text.replace("  - name: acme-mail.test\n", '  - name: acme-mail.test\n    dkim_selector: "Bad_[x]"\n')
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = cli("validate", "-f", str(bad))
    assert result.returncode == 2
    assert "a report address is mailto:user@domain" in result.stderr
    assert "'Bad_[x]'" in result.stderr  # brackets survive (no markup eats them)
    assert "String should match pattern" not in result.stderr
    as_json = json.loads(cli("validate", "-f", str(bad), "--json").stdout)
    problems = as_json["problems"]
    assert {tuple(sorted(p)) for p in problems} == {("column", "file", "hint", "line", "message")}
    assert {p["line"] for p in problems} == {
        n + 1 for n, line in enumerate(text.splitlines()) if "dmarc@acme-outreach.test" in line or "Bad_" in line
    }


def test_a_typo_in_a_key_gives_one_problem_with_a_hint(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(Path(QUICKSTART).read_text().replace("  dns_provider: local\n", "  dns_provider: lcal\n"))
    result = cli("validate", "-f", str(bad), "--json")
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 1, problems
    assert problems[0]["hint"] == "did you mean 'local'?"


def test_answering_no_at_the_apply_prompt_exits_2_and_applies_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_")}
    env["EMAIL_INFRA_DATA_DIR"] = str(tmp_path / "data")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "email_infrastructure", "apply", "-f", QUICKSTART],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    os.close(follower)
    assert process.stdout is not None
    shown = b""
    deadline = time.monotonic() + 60
    while b"apply these changes?" not in shown and time.monotonic() < deadline:  # the prompt, then the answer
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(process.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            break
        shown += chunk
    assert b"apply these changes?" in shown, shown
    os.write(leader, b"n\n")
    _out, err = process.communicate(timeout=30)
    os.close(leader)
    assert process.returncode == 2, err
    assert b"refused" in err
    assert not (tmp_path / "data" / "zones").exists()


def test_blocklist_is_the_command_and_blacklist_its_alias(cli: Cli) -> None:
    for name in ("blocklist", "blacklist"):
        result = cli(name, "--help")
        assert result.returncode == 0 and "blocklist" in result.stdout.lower()
