"""`vault rotate-key` under a running `email-infra serve`: the server goes on, before and after a restart."""

from __future__ import annotations

import httpx

from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from tests.api.conftest import KNOWN_SECRETS, StartServer
from tests.conftest import Cli
from tests.dashboard.conftest import csrf_of


def _log_in(url: str, key: str) -> httpx.Client:
    """A browser's session on the dashboard (the login page makes the session secret if none exists)."""
    browser = httpx.Client(base_url=url, follow_redirects=False, timeout=10)
    page = browser.get("/login")
    assert page.status_code == 200, page.text
    answer = browser.post("/login", data={"csrf": csrf_of(page.text), "key": key, "next": "/"})
    assert answer.status_code == 303, answer.text
    assert browser.get("/").status_code == 200
    return browser


async def test_rotating_the_key_under_a_running_server_breaks_nothing(
    app: App, start_server: StartServer, cli: Cli
) -> None:
    key = (await ApiKeyService(app).create("rotation", "write", source="test")).key
    KNOWN_SECRETS.add(key)
    env = {"DATABASE_URL": str(app.settings.database_url)}  # the test's database, its data dir's key file
    server = start_server(env)
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server.url}/api/v1/domains", headers=bearer).status_code == 200

    rotated = cli("vault", "rotate-key", env=env)
    assert rotated.returncode == 0, rotated.stderr
    # the server's first session secret is written now, after the rotation, by a process that
    # loaded the old key at start
    browser = _log_in(server.url, key)
    assert httpx.get(f"{server.url}/api/v1/domains", headers=bearer).status_code == 200

    again = cli("vault", "rotate-key", env=env)  # every secret opens: the next rotation goes through
    assert again.returncode == 0, again.stderr
    checked = cli("vault", "check", env=env)
    assert checked.returncode == 0 and "cannot be decrypted" not in checked.stdout + checked.stderr
    assert browser.get("/").status_code == 200  # the session goes on
    browser.close()

    assert server.stop() == 0
    restarted = start_server(env)
    _log_in(restarted.url, key).close()
    assert httpx.get(f"{restarted.url}/api/v1/domains", headers=bearer).status_code == 200
    for text in (server.output(), restarted.output(), rotated.stdout, rotated.stderr, checked.stdout):
        assert key not in text
