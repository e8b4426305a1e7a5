"""Run the real `email-infra` CLI in a subprocess, in a scratch directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Call `email-infra ARGS...` with a clean environment; returns the completed process."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_")}
    base_env.pop("DATABASE_URL", None)
    base_env["EMAIL_INFRA_DATA_DIR"] = str(tmp_path / "data")
    base_env["COLUMNS"] = "200"

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "email_infrastructure", *args],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            env={**base_env, **(env or {})},
            timeout=timeout,
            check=False,
        )

    return run
