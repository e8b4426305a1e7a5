"""Workspace isolation over every OpenAPI operation: a key of workspace B never reads, lists, counts, changes,
deletes or exports workspace A's resources (404, or absent from lists), and an operator key reaches both
through `/api/v1/workspaces/{workspace}/…`.

One world per backend (SQLite, PostgreSQL), built once for the module: workspaces `amber` (A) and `birch`
(B), each with two domains, a stored plan applied as a job, events, a failing check state and DMARC
reports. Each operation is a test case; a case that leaks names the operation and the leaked marker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from email_infrastructure.api.app import create_app
from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.core.settings import Settings
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.scope import Scope, acting_in
from tests.api.conftest import KNOWN_SECRETS, SEEN_BODIES, MakeApi
from tests.dmarc.reports import Row, aggregate
from tests.fixtures.databases import PostgresDatabases, SqliteTemplate
from tests.services.conftest import two_domains

A, B = "amber", "birch"
DOMAINS = {A: ("one-client.test", "two-client.test"), B: ("three-client.test", "four-client.test")}
#: what the requests use instead of A's identifiers, for the body a resource that never existed gets
FAKE = {"name": "never-held.test", "plan_id": "0" * 32, "job_id": "f" * 32, "workspace": "zz-unknown"}
#: left out: live DNS to the internet (the audit reads no stored state of another workspace: its drift
#: comparison reads the desired state through the request's unit of work, like every other route)
LIVE = {("POST", "/api/v1/audit"), ("POST", "/api/v1/workspaces/{workspace}/audit")}
#: and RDAP lookups of any domain (no stored state at all: a name is no workspace's resource there)
LIVE |= {("GET", "/api/v1/whois/{name}"), ("GET", "/api/v1/workspaces/{workspace}/whois/{name}")}
#: and price quotes: they ask a registrar account of the key's own workspace (none here), never a stored domain
LIVE |= {("GET", "/api/v1/registrars/quote"), ("GET", "/api/v1/workspaces/{workspace}/registrars/quote")}
#: the bodies of the operations that take one, by (method, path without the workspace prefix)
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/domains"): lambda ids: {"json": {"name": ids["name"]}},
    ("PUT", "/api/v1/domains/{name}"): lambda ids: {"json": {"options": {}, "mailboxes": []}},
    ("POST", "/api/v1/monitoring/results"): lambda ids: {"json": {"domain": ids["name"], "family": "dns"}},
    ("POST", "/api/v1/workspaces"): lambda ids: {"json": {"name": "cedar"}},
    ("POST", "/api/v1/changes/preview"): lambda ids: {
        "json": {"action": "update", "domain": ids["name"], "dmarc_policy": "reject"}
    },
    # a sync of the key's own workspace (B has no sequencer: an empty plan, an empty job)
    ("POST", "/api/v1/sequencers/sync/plan"): lambda ids: {"json": {}},
    ("POST", "/api/v1/sequencers/sync"): lambda ids: {"json": {}},
    ("POST", "/api/v1/changes"): lambda ids: {
        "json": {"action": "remove", "domain": ids["name"], "stamp": "sha256:0", "confirmed": ids["name"]}
    },
}
#: a B key creating a domain named like one of A's: refused as taken (a name lives in one workspace), without
#: saying by whom
TAKEN = {("POST", "/api/v1/domains")}


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation of the API that reads or writes state, as its OpenAPI lists them
    (`/health` and `/ready` read none)."""
    settings = Settings(data_dir=Path("/nonexistent/openapi-only"), _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file
    spec = create_app(App(settings)).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if path.startswith("/api/") or path == "/metrics"
    )


OPERATIONS = [op for op in _operations() if op not in LIVE]
WORKSPACE_PREFIX = "/api/v1/workspaces/{workspace}"


def _unprefixed(path: str) -> str:
    return "/api/v1" + path.removeprefix(WORKSPACE_PREFIX) if path.startswith(WORKSPACE_PREFIX + "/") else path


@dataclass
class World:
    """The API on one database with two populated workspaces."""

    app: App
    client: httpx.AsyncClient
    started: datetime
    keys: dict[str, str] = field(default_factory=dict)
    #: A's and B's resource ids by path parameter
    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: int = 0

    def auth(self, key: str) -> dict[str, str]:
        """The Authorization header of a named key."""
        return {"Authorization": f"Bearer {self.keys[key]}"}

    def markers(self, workspace: str) -> set[str]:
        """Strings only `workspace`'s resources contain: its name, domains, plan, job and key names."""
        ids = self.ids[workspace]
        return {workspace, *DOMAINS[workspace], ids["plan_id"], ids["job_id"]}


async def _record(response: httpx.Response) -> None:
    await response.aread()
    SEEN_BODIES.append(response.text)


async def _populate(world: World, workspace: str, tmp: Path) -> None:
    app = world.app
    await workspaces.create(app, workspace)
    for scope in ("read", "write", "admin"):
        created = await ApiKeyService(app).create(f"{workspace}-{scope}", scope, source="test", workspace=workspace)
        KNOWN_SECRETS.add(created.key)
        world.keys[f"{workspace}-{scope}"] = created.key
    path = tmp / f"{workspace}.yaml"
    path.write_text(two_domains(*DOMAINS[workspace]), encoding="utf-8")
    first = DOMAINS[workspace][0]
    with acting_in(Scope(workspace)):
        await import_inventory(app, load_inventory(path, provider_schemas()))
        await record_results(app, [(first, "spf", "error", {"why": "broken"}, "spf broken")])
    client, auth = world.client, world.auth
    for n in range(4):  # B's upload case sends A's report ids again: each is stored in B, not a duplicate
        report = aggregate([Row("127.0.0.10", 30)], domain=first, report_id=f"rep-{n}")
        stored = await client.post(
            "/api/v1/dmarc/reports",
            content=report,
            params={"filename": "r.xml", "resolve": "false"},
            headers=auth(f"{workspace}-write"),
        )
        assert stored.status_code == 200 and stored.json()["data"]["ingested"] == 1, stored.text
    plan = await client.post("/api/v1/plans", headers=auth(f"{workspace}-read"))
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["data"]["id"]
    job = await client.post(f"/api/v1/plans/{plan_id}/apply", headers=auth(f"{workspace}-write"))
    assert job.status_code == 202, job.text
    job_id = job.json()["data"]["id"]
    for _ in range(600):
        polled = await client.get(f"/api/v1/jobs/{job_id}", headers=auth(f"{workspace}-read"))
        if polled.json()["data"]["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.05)
    assert polled.json()["data"]["status"] == "succeeded", polled.text
    world.ids[workspace] = {"name": first, "plan_id": plan_id, "job_id": job_id, "workspace": workspace}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate
) -> AsyncIterator[World]:
    """Workspaces amber and birch, populated through the API, and operator keys; once per backend."""
    tmp = tmp_path_factory.mktemp(f"isolation-{request.param}")
    databases: PostgresDatabases | None = None
    if request.param == "sqlite":
        url = sqlite_template.copy(tmp / "test.db")
    else:
        databases = request.getfixturevalue("postgres_databases")
        name = databases.migrated()
        url = databases.url(name)
    settings = Settings(data_dir=tmp / "data", database_url=url, _env_file=None)  # type: ignore[call-arg]  # as above
    settings = settings.model_copy(
        update={"api_rate_limit_read": "100000/minute", "api_rate_limit_write": "100000/minute"}
    )
    app = App(settings)
    api = create_app(app)
    lifespan = api.router.lifespan_context(api)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://testserver", event_hooks={"response": [_record]}
    )
    world = World(app, client, datetime.now(UTC))
    try:
        for scope in ("read", "admin"):
            created = await ApiKeyService(app).create(f"operator-{scope}", scope, source="test")
            KNOWN_SECRETS.add(created.key)
            world.keys[f"operator-{scope}"] = created.key
        for workspace in (A, B):  # A first: its events are the oldest, which a leaking stream would send first
            await _populate(world, workspace, tmp)
        yield world
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
        await app.close()
        if databases is not None:
            databases.give_back(name)


def _request(world: World, method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    """The request of an operation aimed at the resources `ids` names (path, query and body)."""
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    params: dict[str, Any] = {}
    bare = _unprefixed(path)
    if "/dmarc/" in bare and method == "GET":
        params = {"domain": ids["name"], "since": "all"}
    elif bare == "/api/v1/monitoring/results":
        params = {"subject": ids["name"]} if method == "GET" else {}
    elif bare == "/api/v1/monitoring/results/history":
        params = {"subject": ids["name"], "check": "spf"}
    elif bare == "/api/v1/events/stream":
        params = {"since": world.started.isoformat(), "limit": 3}
    kwargs: dict[str, Any] = {"params": params}
    if (method, bare) == ("POST", "/api/v1/dmarc/reports"):
        # a report of the key's own domain (the same report in both workspaces: test_a_report_is_stored_per_workspace)
        world.uploads += 1
        own = DOMAINS[B][0] if ids["workspace"] in (A, B) else ids["name"]
        kwargs["content"] = aggregate([Row("127.0.0.10", 3)], domain=own, report_id=f"late-{world.uploads}")
        kwargs["params"] = {"filename": "r.xml", "resolve": "false"}
    elif (method, bare) in BODIES:
        kwargs.update(BODIES[(method, bare)](ids))
    return {"method": method, "url": url, **kwargs}


def _plain(text: str, ids: dict[str, str]) -> str:
    """A response body with the requested identifiers (which a 404 message repeats) replaced."""
    for key, value in ids.items():
        text = text.replace(value, f"<{key}>")
    return text


def _counts_what_it_lists(response: httpx.Response) -> None:
    """A page's total counts what the key may list: all of it fits one page here, so total = items."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    data = response.json().get("data")
    if isinstance(data, dict) and "total" in data and "items" in data and data["total"] <= data.get("limit", 0):
        assert data["total"] == len(data["items"]), data


async def _a_is_intact(world: World) -> None:
    """A's domains, plan, job and reports are all there, as an operator sees them."""
    ids, auth, client = world.ids[A], world.auth("operator-read"), world.client
    listed = (await client.get(f"/api/v1/workspaces/{A}/domains", headers=auth)).json()["data"]
    assert sorted(i["name"] for i in listed["items"]) == sorted(DOMAINS[A]), listed
    for path in (f"plans/{ids['plan_id']}", f"jobs/{ids['job_id']}", f"domains/{ids['name']}"):
        assert (await client.get(f"/api/v1/workspaces/{A}/{path}", headers=auth)).status_code == 200, path
    reports = (await client.get(f"/api/v1/workspaces/{A}/dmarc/reports", headers=auth)).json()["data"]
    assert reports["total"] == 4, reports


def test_every_operation_is_covered() -> None:
    # the workspace routes are the same operations again; audit alone is left out (live DNS)
    prefixed = {(m, _unprefixed(p)) for m, p in OPERATIONS if p.startswith(WORKSPACE_PREFIX + "/")}
    plain = {(m, p) for m, p in OPERATIONS if p.startswith("/api/v1/") and not p.startswith(WORKSPACE_PREFIX + "/")}
    assert prefixed == plain - {("GET", "/api/v1/workspaces"), ("POST", "/api/v1/workspaces"),
                                ("GET", "/api/v1/workspaces/{workspace}")}  # fmt: skip
    assert len(plain) >= 25 and ("GET", "/metrics") in OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_a_key_of_b_never_reaches_a(world: World, method: str, path: str) -> None:
    key = f"{B}-admin"
    variants = [B, A] if "{workspace}" in path else [None]
    for workspace in variants:
        aimed = {**world.ids[A], "workspace": workspace or B}
        response = await world.client.request(**_request(world, method, path, aimed), headers=world.auth(key))
        if workspace == A:
            # another workspace answers exactly as one that does not exist
            unknown = {**aimed, "workspace": FAKE["workspace"]}
            other = await world.client.request(**_request(world, method, path, unknown), headers=world.auth(key))
            assert response.status_code == other.status_code == 404, (response.text, other.text)
            assert _plain(response.text, aimed) == _plain(other.text, unknown)
            continue
        bare = _unprefixed(path)
        if (method, bare) == ("POST", "/api/v1/workspaces"):
            assert response.status_code == 403, response.text  # an operator's route
            continue
        fake = {**FAKE, "workspace": aimed["workspace"]}
        if response.status_code == 404 or (method == "GET" and response.status_code == 200):
            # A's resource answers exactly as one that never existed: a read of A's domain (a filter, a
            # path) tells nothing A's data would (its echo of the asked-for name aside)
            other = await world.client.request(**_request(world, method, path, fake), headers=world.auth(key))
            assert other.status_code == response.status_code, other.text
            assert _plain(response.text, aimed) == _plain(other.text, fake)
            assert not {m for m in world.markers(A) - set(aimed.values()) if m in response.text}
            _counts_what_it_lists(response)
        elif (method, bare) in TAKEN:
            assert response.status_code == 409 and "another workspace" in response.text, response.text
            assert A not in response.text
        else:
            assert response.status_code in (200, 201, 202), response.text
            leaked = {m for m in world.markers(A) if m in response.text}
            assert not leaked, f"{method} {path} shows {leaked}: {response.text[:500]}"
        if (method, bare) == ("POST", "/api/v1/dmarc/reports"):
            assert response.json()["data"]["items"][0]["status"] == "ingested"  # A's copy is not B's duplicate
    await _a_is_intact(world)


#: the read operations that list something of the workspace: an operator sees its markers there
LISTS = {
    "/api/v1/workspaces/{workspace}/domains": "name",
    "/api/v1/workspaces/{workspace}/events": "plan_id",
    "/api/v1/workspaces/{workspace}/monitoring/results": "name",
    "/api/v1/workspaces/{workspace}/dmarc/reports": "name",
    "/api/v1/workspaces/{workspace}/dmarc/summary": "name",
    "/api/v1/workspaces/{workspace}/dmarc/pass-rates": "name",
}
READS = [p for m, p in OPERATIONS if m == "GET" and p.startswith(WORKSPACE_PREFIX + "/") and "stream" not in p]


@pytest.mark.parametrize("path", READS)
async def test_an_operator_key_reaches_both_workspaces_through_the_prefix(world: World, path: str) -> None:
    auth = world.auth("operator-admin")  # the credentials route needs the admin scope
    for mine, other in ((A, B), (B, A)):
        ids = world.ids[mine]
        request = _request(world, "GET", path, ids)
        if path in LISTS:
            request["params"] = {}  # the whole list
        response = await world.client.request(**request, headers=auth)
        # the quickstart's server has no mail backend: no credentials to read (a clear 400)
        assert response.status_code == (400 if path.endswith("/credentials") else 200), response.text
        if path in LISTS:
            assert ids[LISTS[path]] in response.text, (path, response.text[:300])
        leaked = {m for m in world.markers(other) if m in response.text}
        assert not leaked, f"{path} in {mine} shows {leaked}"
        if re.search(r"\{(name|plan_id|job_id)\}", path):
            # the other workspace's resource, asked for in this one: not there
            crossed = {**world.ids[other], "workspace": mine}
            elsewhere = await world.client.request(**_request(world, "GET", path, crossed), headers=auth)
            fake = {**FAKE, "workspace": mine}
            never = await world.client.request(**_request(world, "GET", path, fake), headers=auth)
            assert elsewhere.status_code == never.status_code != 200, elsewhere.text
            assert _plain(elsewhere.text, crossed) == _plain(never.text, fake)


async def test_a_report_is_stored_per_workspace(make_api: MakeApi) -> None:
    """The same report (organisation, id, domain) sent to two workspaces is stored in each: neither
    answers `duplicate`, which would tell that another workspace holds it."""
    api = await make_api()
    report = aggregate([Row("127.0.0.10", 30)], domain="shared-report.test", report_id="same-id")
    for workspace in (A, B):
        await workspaces.create(api.app, workspace)
        key = await api.key(f"{workspace}-uploader", "write", workspace=workspace)
        stored = await api.client.post(
            "/api/v1/dmarc/reports",
            content=report,
            params={"filename": "r.xml", "resolve": "false"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["data"]["items"][0]["status"] == "ingested"


async def test_counts_of_b_count_only_b(world: World) -> None:
    """Totals and summaries of B's key are B's alone (a count is a leak too, even with the rows filtered)."""
    auth, client = world.auth(f"{B}-read"), world.client
    for prefix in ("/api/v1", f"/api/v1/workspaces/{B}"):
        domains = (await client.get(f"{prefix}/domains", headers=auth)).json()["data"]
        assert domains["total"] == 2 and sorted(i["name"] for i in domains["items"]) == sorted(DOMAINS[B])
        assert (await client.get(f"{prefix}/domains", params={"status": "error"}, headers=auth)).json()["data"][
            "total"
        ] == 1  # B's failing check, not A's too
        states = (await client.get(f"{prefix}/monitoring/results", headers=auth)).json()["data"]
        assert states["total"] == len(states["items"]) > 0
        assert {i["subject"] for i in states["items"]} <= set(DOMAINS[B])
        reports = (await client.get(f"{prefix}/dmarc/reports", params={"limit": 500}, headers=auth)).json()["data"]
        assert reports["total"] == len(reports["items"]) and {i["domain"] for i in reports["items"]} == {DOMAINS[B][0]}
        summary = (await client.get(f"{prefix}/dmarc/summary", params={"since": "all"}, headers=auth)).json()["data"]
        assert summary["reports"] == reports["total"]
        assert {d["key"] for d in summary["domains"]} == {DOMAINS[B][0]}
        listed = (await client.get("/api/v1/workspaces", headers=auth)).json()["data"]["items"]
        assert [(w["name"], w["domains"]) for w in listed] == [(B, 2)]
    every = (await client.get("/api/v1/workspaces", headers=world.auth("operator-read"))).json()["data"]["items"]
    assert {w["name"]: w["domains"] for w in every} == {"default": 0, A: 2, B: 2}
