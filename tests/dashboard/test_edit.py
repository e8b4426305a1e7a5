"""Create and edit from the dashboard (issue 24 item 4): every change shows its plan first and writes nothing
until confirmed; write scope and CSRF on every POST; a file's domain is offered no change; hostile values
escaped; bad input and another workspace's domain refused with nothing written."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import load_snapshot
from email_infrastructure.services.domains import add_domain, update_domain
from email_infrastructure.services.scope import acting_in
from tests.dashboard.conftest import SCRIPT, Seeded, csrf_of, login
from tests.dashboard.test_workspaces import NORTH, Workspaces, spaces

__all__ = ["spaces"]  # the workspaces fixture
NEW = {"name": "new-brand.test", "dmarc_policy": "quarantine", "mailboxes": "Ann Park\nBen Ruiz"}


def _state(settings: Settings, workspace: str | None = None) -> dict[str, tuple[dict[str, Any], str]]:
    """Every domain of the desired state with its spec and owner."""

    async def read() -> dict[str, tuple[dict[str, Any], str]]:
        app = App(settings)
        try:
            if workspace is None:
                snap = await load_snapshot(app)
            else:
                with acting_in(workspace):
                    snap = await load_snapshot(app)
            return {name: (item.value, item.owner) for name, item in snap.domains.items()}
        finally:
            await app.close()

    return asyncio.run(read())


def _api_domain(settings: Settings, name: str = "own-brand.test") -> None:
    """A domain the API added (owner `api`): one the dashboard may change."""

    async def add() -> None:
        app = App(settings)
        try:
            await add_domain(app, name, mailboxes=[{"first_name": "Eve", "last_name": "Ng"}])
        finally:
            await app.close()

    asyncio.run(add())


def _hidden(html: str) -> dict[str, str]:
    """The preview's Confirm form fields."""
    form = html.split('id="confirm"', 1)[0].rsplit("<form", 1)[1]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_the_new_domain_form_starts_from_the_stored_defaults(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["write"])
    html = client.get("/domains/new").text
    assert '<option value="local" selected>local</option>' in html
    assert '<option value="none" selected>none</option>' in html
    assert 'value="https://www.acme.test"' in html and 'value="instantly"' in html
    assert 'href="/domains/new"' in client.get("/").text  # the way there, for a write key


def test_a_preview_shows_the_plan_and_confirm_writes_it_and_starts_the_job(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, seeded.keys["write"])
    before = _state(seeded.settings)
    response = client.post("/domains/new/preview", data={"csrf": csrf, **NEW})
    assert response.status_code == 200, response.text
    html = response.text
    assert 'data-step="dns.zone:new-brand.test"' in html and 'data-step="dkim.key:new-brand.test"' in html
    assert "acme-mail.test" not in html.split("<main", 1)[1]  # planned alone
    assert "ann.park@new-brand.test" in html and "quarantine" in html
    assert _state(seeded.settings) == before  # a preview writes nothing
    fields = _hidden(html)
    assert fields["stamp"].startswith("sha256:") and fields["checksum"].startswith("sha256:")
    confirmed = client.post("/domains/new/confirm", data=fields)
    assert confirmed.status_code == 303 and confirmed.headers["location"].startswith("/jobs/")
    after = _state(seeded.settings)
    value, owner = after["new-brand.test"]
    assert owner == "api" and value["dmarc"]["policy"] == "quarantine"
    assert sorted(value["mailboxes"]) == ["ann.park", "ben.ruiz"]
    job_page = client.get(confirmed.headers["location"]).text
    plan_path = re.search(r'href="(/plans/[0-9a-f]+)"', job_page)
    assert plan_path is not None  # the job's plan: the one previewed, kept limited to the domain
    plan_page = client.get(plan_path[1]).text
    assert "Limited to new-brand.test." in plan_page and fields["checksum"] in plan_page


def test_read_keys_see_no_change_and_are_refused_every_post(client: TestClient, seeded: Seeded) -> None:
    _api_domain(seeded.settings)
    csrf = login(client, seeded.keys["read"])
    assert 'href="/domains/new"' not in client.get("/").text
    page = client.get("/domains/own-brand.test").text
    assert "/change/" not in page and "needs a write key" in page
    assert client.get("/domains/new").status_code == 403
    before = _state(seeded.settings)
    for path, data in (
        ("/domains/new/preview", NEW),
        ("/domains/new/confirm", NEW),
        ("/domains/own-brand.test/change/dmarc/preview", {"dmarc_policy": "reject"}),
        ("/domains/own-brand.test/change/remove/confirm", {"confirm_name": "own-brand.test"}),
    ):
        assert client.post(path, data={"csrf": csrf, **data}).status_code == 403, path
    assert _state(seeded.settings) == before


def test_every_post_needs_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    _api_domain(seeded.settings)
    csrf = login(client, seeded.keys["write"])
    before = _state(seeded.settings)
    for data in ({}, {"csrf": "forged"}):
        assert client.post("/domains/new/preview", data={**data, **NEW}).status_code == 403
        assert client.post("/domains/own-brand.test/change/remove/preview", data=data).status_code == 403
    shown = client.post("/domains/own-brand.test/change/dmarc/preview", data={"csrf": csrf, "dmarc_policy": "reject"})
    fields = _hidden(shown.text)
    assert client.post("/domains/own-brand.test/change/dmarc/confirm", data={**fields, "csrf": "x"}).status_code == 403
    assert _state(seeded.settings) == before


def test_a_files_domain_says_so_and_is_offered_no_change(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, seeded.keys["write"])
    page = client.get("/domains/acme-mail.test").text
    assert re.search(r"Managed by <span class=\"mono\">/[^<]+inventory\.yaml</span>", page)
    assert "/change/" not in page
    before = _state(seeded.settings)
    response = client.post(
        "/domains/acme-mail.test/change/dmarc/preview", data={"csrf": csrf, "dmarc_policy": "reject"}
    )
    assert response.status_code == 400 and "owned by file:" in response.text
    response = client.post("/domains/new/preview", data={"csrf": csrf, "name": "acme-mail.test"})
    assert response.status_code == 400 and "owned by file:" in response.text
    assert _state(seeded.settings) == before


def test_an_api_domain_offers_each_change_and_each_shows_its_plan(client: TestClient, seeded: Seeded) -> None:
    _api_domain(seeded.settings)
    csrf = login(client, seeded.keys["write"])
    page = client.get("/domains/own-brand.test").text
    for action in ("mailboxes", "unmailbox", "dmarc", "redirect", "remove"):
        assert f'action="/domains/own-brand.test/change/{action}/preview"' in page
    before = _state(seeded.settings)
    for action, data in (
        ("mailboxes", {"count": "2", "pattern": "{f}{last}"}),
        ("unmailbox", {"address": "eve.ng@own-brand.test"}),
        ("dmarc", {"dmarc_policy": "reject"}),
        ("redirect", {"redirect": "https://www.own-brand.test"}),
        ("remove", {}),
    ):
        response = client.post(f"/domains/own-brand.test/change/{action}/preview", data={"csrf": csrf, **data})
        assert response.status_code == 200, (action, response.text)
        assert 'id="confirm"' in response.text
    assert _state(seeded.settings) == before
    removal = client.post("/domains/own-brand.test/change/remove/preview", data={"csrf": csrf}).text
    assert 'id="confirm_name"' in removal and 'Type <span class="mono">own-brand.test</span>' in removal
    refused = client.post(
        "/domains/own-brand.test/change/remove/confirm", data={**_hidden(removal), "confirm_name": "x"}
    )
    assert refused.status_code == 400 and "type own-brand.test to confirm" in refused.text
    done = client.post(
        "/domains/own-brand.test/change/remove/confirm", data={**_hidden(removal), "confirm_name": "own-brand.test"}
    )
    assert done.status_code == 200 and 'id="done"' in done.text  # never applied: nothing to delete, no job
    assert "own-brand.test" not in _state(seeded.settings)


def test_hostile_values_are_escaped_in_the_plan(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, seeded.keys["write"])
    hostile = f"https://x.test/{SCRIPT}"
    response = client.post(
        "/domains/new/preview",
        data={"csrf": csrf, "name": "new-brand.test", "redirect": hostile, "mailboxes": f'{SCRIPT} "Lee'},
    )
    assert response.status_code == 200, response.text
    assert SCRIPT not in response.text and "&lt;script&gt;" in response.text
    failing = client.post("/domains/new/preview", data={"csrf": csrf, "name": "x.test", "tracking": SCRIPT})
    assert failing.status_code == 200 and 'id="cannot-confirm"' in failing.text and 'id="confirm"' not in failing.text
    assert SCRIPT not in failing.text and "&lt;script&gt;" in failing.text  # the step's error quotes it
    bad = client.post("/domains/new/preview", data={"csrf": csrf, "name": SCRIPT})
    assert bad.status_code == 400 and SCRIPT not in bad.text and "&lt;script&gt;" in bad.text


def test_bad_input_shows_what_was_wrong_and_writes_nothing(client: TestClient, seeded: Seeded) -> None:
    _api_domain(seeded.settings)
    csrf = login(client, seeded.keys["write"])
    before = _state(seeded.settings)
    bad = client.post("/domains/new/preview", data={"csrf": csrf, "name": "not a domain", "mailboxes": "Ann"})
    assert bad.status_code == 400 and 'id="edit-error"' in bad.text and 'value="not a domain"' in bad.text
    duplicate = client.post(
        "/domains/own-brand.test/change/mailboxes/preview", data={"csrf": csrf, "mailboxes": "Eve Ng"}
    )
    assert duplicate.status_code == 400 and "eve.ng@own-brand.test exists already" in duplicate.text
    for data in ({"count": "99"}, {"count": "x"}, {}):
        response = client.post("/domains/own-brand.test/change/mailboxes/preview", data={"csrf": csrf, **data})
        assert response.status_code == 400, data
    assert client.post("/domains/own-brand.test/change/bogus/preview", data={"csrf": csrf}).status_code == 404
    assert client.post("/domains/absent.test/change/remove/preview", data={"csrf": csrf}).status_code == 404
    assert _state(seeded.settings) == before


def test_a_preview_gone_stale_is_refused_and_nothing_is_written(client: TestClient, seeded: Seeded) -> None:
    _api_domain(seeded.settings)
    csrf = login(client, seeded.keys["write"])
    shown = client.post("/domains/own-brand.test/change/dmarc/preview", data={"csrf": csrf, "dmarc_policy": "reject"})

    async def meanwhile() -> None:
        app = App(seeded.settings)
        try:
            await update_domain(app, "own-brand.test", {"redirect": "https://elsewhere.test"})
        finally:
            await app.close()

    asyncio.run(meanwhile())
    before = _state(seeded.settings)
    response = client.post("/domains/own-brand.test/change/dmarc/confirm", data=_hidden(shown.text))
    assert response.status_code == 400 and "changed since this change was previewed" in response.text
    assert _state(seeded.settings) == before


@pytest.mark.usefixtures("spaces")
def test_a_workspace_adds_into_its_own_and_never_takes_anothers_domain(client: TestClient, spaces: Workspaces) -> None:
    csrf = login(client, spaces.keys["north"])
    settings = spaces.seeded.settings
    before = (_state(settings), _state(settings, NORTH))
    taken = client.post("/domains/new/preview", data={"csrf": csrf, "name": "acme-mail.test"})
    assert taken.status_code == 400 and "held by another workspace" in taken.text
    assert client.post("/domains/south-a.test/change/remove/preview", data={"csrf": csrf}).status_code == 404
    assert (
        client.post(f"/workspaces/{NORTH}/domains/south-a.test/change/remove/preview", data={"csrf": csrf}).status_code
        == 404
    )
    assert (_state(settings), _state(settings, NORTH)) == before
    shown = client.post(f"/workspaces/{NORTH}/domains/new/preview", data={"csrf": csrf, **NEW})
    assert shown.status_code == 200 and f'action="/workspaces/{NORTH}/domains/new/confirm"' in shown.text
    done = client.post(f"/workspaces/{NORTH}/domains/new/confirm", data=_hidden(shown.text))
    assert done.status_code == 303 and done.headers["location"].startswith(f"/workspaces/{NORTH}/jobs/")
    assert "new-brand.test" in _state(settings, NORTH) and "new-brand.test" not in _state(settings)
    assert csrf_of(client.get(f"/workspaces/{NORTH}/domains/new").text) == csrf
