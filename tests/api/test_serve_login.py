"""`email-infra serve --login-key NAME`: the README's main command ends by serving, with a key to log in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import KNOWN_SECRETS, free_port, wait_healthy


def _serve(tmp_path: Path, port: int) -> tuple[subprocess.Popen[str], Path, Path]:
    out, err = tmp_path / f"out-{port}.txt", tmp_path / f"err-{port}.txt"
    base = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    base["EMAIL_INFRA_DATA_DIR"] = str(tmp_path / "data")
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "email_infrastructure", "serve", "--port", str(port), "--login-key", "quickstart"],
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=tmp_path,
            env=base,
        )
    return process, out, err


def _key(out: Path) -> str:
    until = time.monotonic() + 30
    while time.monotonic() < until and not out.read_text().strip():
        time.sleep(0.05)
    key = out.read_text().strip()
    KNOWN_SECRETS.add(key)
    return key


def test_login_key_is_shown_once_logs_in_and_a_second_serve_replaces_it(tmp_path: Path) -> None:
    keys = []
    for _ in range(2):
        port = free_port()
        process, out, err = _serve(tmp_path, port)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", process, err)
            key = _key(out)
            keys.append(key)
            assert "log in at http://127.0.0.1:" in err.read_text() and key not in err.read_text()
            page = httpx.get(f"http://127.0.0.1:{port}/api/v1/domains", headers={"Authorization": f"Bearer {key}"})
            assert page.status_code == 200, page.text
            if len(keys) == 2:  # the first key was revoked when the second was made
                old = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/domains", headers={"Authorization": f"Bearer {keys[0]}"}
                )
                assert old.status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0, err.read_text()
    assert keys[0] != keys[1]
