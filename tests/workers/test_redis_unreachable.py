"""A worker or scheduler whose Redis does not answer: one line naming it (no password), bounded tries, exit 2.

Real processes, as deployed; nothing listens on the loopback port they are given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import free_port
from tests.workers.conftest import ROOT


@pytest.mark.parametrize("command", [["worker"], ["scheduler", "--once"], ["scheduler", "--tick", "0.1"]], ids=" ".join)
def test_an_unreachable_redis_ends_the_process_with_one_line(command: list[str], tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(
        EMAIL_INFRA_DATA_DIR=str(tmp_path / "data"),
        EMAIL_INFRA_CONFIG_DIR=str(tmp_path / "no-config"),
        REDIS_URL=f"redis://:hunter2-pw@127.0.0.1:{port}/0",
        EMAIL_INFRA_REDIS_CONNECT_ATTEMPTS="3",
        EMAIL_INFRA_REDIS_RETRY_DELAY="0.05",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),  # this checkout, installed or not
    )
    done = subprocess.run(
        [sys.executable, "-m", "email_infrastructure", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,  # a bound on a hang (the bug), not a timing assertion
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "hunter2-pw" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert f"Redis at redis://127.0.0.1:{port}/0 does not answer after 3 tries" in errors[0]
    assert "REDIS_URL" in errors[0]
