"""The dashboard with several workspaces (issue 23): a workspace key sees its own workspace on every page
and nothing of another (404, never 403; no switcher, no other workspace's name); an operator key switches
between them and sees every workspace's health. SQLite and PostgreSQL (the `database` fixture)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.scope import acting_in
from tests.dashboard.conftest import Seeded, finding, login, scripts_of
from tests.dmarc.reports import Row, aggregate
from tests.services.conftest import WriteInventory, two_domains

NORTH, SOUTH, EMPTY = "northwind", "southpole", "quiet-gamma"
#: each workspace's domains (the seeded quickstart's are in `default`)
DOMAINS = {
    "default": ("acme-mail.test", "acme-outreach.test"),
    NORTH: ("north-a.test", "north-b.test"),
    SOUTH: ("south-a.test", "south-b.test"),
}
#: every workspace page of a visitor acting in `ws` (the domain page of its first domain)
PAGES = ("/", "/dmarc", "/events", "/plan", "/jobs", "/servers", "/mailboxes", "/domains/{domain}")
#: the links of a page that belong to no workspace
GLOBAL = {"/static/style.css", "/switch", "/workspaces", "/logout"}


@dataclass
class Workspaces:
    """The seeded default workspace, two client workspaces with their domains, an empty one, and keys:
    `operator` (of every workspace), `north` (write, northwind's), `south` (read, southpole's)."""

    seeded: Seeded
    keys: dict[str, str] = field(default_factory=dict)


def _report(folder: Path, domain: str, failing_ip: str) -> Path:
    """One aggregate report of `domain`: 20 messages pass from the server, 5 fail from `failing_ip`."""
    folder.mkdir(parents=True)
    rows = [
        Row("127.0.0.10", 20, header_from=domain),
        Row(failing_ip, 5, dkim="fail", spf="fail", header_from=domain),
    ]
    (folder / "a.xml").write_bytes(aggregate(rows, domain=domain, report_id=f"r-{domain}"))
    return folder


@pytest.fixture
def spaces(seeded: Seeded, write_inventory: WriteInventory, tmp_path: Path) -> Workspaces:
    """Seed northwind and southpole through the services, each acting in its own workspace."""
    made = Workspaces(seeded)

    async def seed() -> None:
        app = App(seeded.settings)
        try:
            await workspaces.create(app, EMPTY)
            for ws, ip in ((NORTH, "198.51.100.7"), (SOUTH, "198.51.100.9")):
                first, second = DOMAINS[ws]
                with acting_in(ws):
                    await import_inventory(app, write_inventory(two_domains(first, second), name=f"{ws}.yaml"))
                    drift = f"_dmarc.{first} TXT differs from the desired value"
                    await record_results(
                        app,
                        [
                            (first, "drift", "error", finding("drift", "error", drift), drift),
                            (second, "drift", "ok", finding("drift", "ok", ""), "ok"),
                        ],
                    )
                    reports = _report(tmp_path / f"reports-{ws}", first, ip)
                    ingested = await ingest_paths(app, [reports], IngestOptions(resolve=False))
                    assert ingested.count("ingested") == 1, ingested.to_json()
            keys = ApiKeyService(app)
            made.keys["operator"] = (await keys.create("ops", "write", source="test")).key
            made.keys["north"] = (await keys.create("north-write", "write", source="test", workspace=NORTH)).key
            made.keys["south"] = (await keys.create("south-read", "read", source="test", workspace=SOUTH)).key
        finally:
            await app.close()

    asyncio.run(seed())
    return made


def domains_on(html: str) -> list[str]:
    """The overview's rows."""
    return re.findall(r'<tr data-domain="([^"]+)"', html)


def strays(base: str, html: str) -> list[str]:
    """The links and forms of a page of `base` that leave its workspace (but the few of no workspace)."""
    targets = re.findall(r'(?:href|action|hx-get)="(/[^"]*)"', html)
    assert targets, "a page without links"
    return [t for t in targets if not t.startswith(f"{base}/") and t not in GLOBAL]


def leaks(ws: str, html: str) -> list[str]:
    """What a workspace key's page of `ws` shows of the others: their domains or their names."""
    others = [n for w, found in DOMAINS.items() if w != ws for n in found]
    others += [w for w in (NORTH, SOUTH, EMPTY) if w != ws]
    found = [n for n in others if n in html]
    if ws != "default" and re.search(r"\bdefault\b", html):  # pages say "defaults" (the settings), never this
        found.append("default")
    return found


@pytest.mark.parametrize(("ws", "key", "ip", "other_ip"), [(NORTH, "north", ".7", ".9"), (SOUTH, "south", ".9", ".7")])
def test_a_workspace_key_sees_only_its_workspace_on_every_page(
    client: TestClient, spaces: Workspaces, ws: str, key: str, ip: str, other_ip: str
) -> None:
    login(client, spaces.keys[key])
    for base in ("", f"/workspaces/{ws}"):
        for page in PAGES:
            path = base + page.format(domain=DOMAINS[ws][0])
            response = client.get(path)
            assert response.status_code == 200, path
            html = response.text
            assert 'id="workspace-switcher"' not in html and 'href="/workspaces"' not in html, path
            assert f'<span class="workspace" title="the workspace your API key belongs to">{ws}</span>' in html
            assert leaks(ws, html) == [], path
            # every link of the page stays where the page is
            assert f'href="{base}/dmarc"' in html, path
    overview = client.get("/").text
    assert domains_on(overview) == list(DOMAINS[ws])
    assert "<strong>2</strong> domains" in overview and ">1 error<" in overview
    dmarc = client.get("/dmarc").text
    assert f"198.51.100{ip}" in dmarc and f"198.51.100{other_ip}" not in dmarc  # the other's failing source
    assert f'href="/domains/{DOMAINS[ws][0]}"' in dmarc


def test_a_workspace_key_gets_404_for_anything_of_another_workspace(client: TestClient, spaces: Workspaces) -> None:
    # the operator looks at the other workspaces first (same served App): nothing it caches reaches the key
    ops = login(client, spaces.keys["operator"])
    for path in ("/domains/acme-mail.test", f"/workspaces/{SOUTH}/domains/south-a.test", f"/workspaces/{SOUTH}/"):
        assert client.get(path).status_code == 200, path
    south_plan = client.post(f"/workspaces/{SOUTH}/plan", data={"csrf": ops}).headers["location"]
    assert south_plan.startswith(f"/workspaces/{SOUTH}/plans/")

    client.cookies.clear()
    token = login(client, spaces.keys["north"])
    for name in (*DOMAINS["default"], *DOMAINS[SOUTH]):
        for base in ("", f"/workspaces/{NORTH}"):
            page = client.get(f"{base}/domains/{name}")
            assert page.status_code == 404, name
            # the very words of a domain that exists nowhere: no answer tells that it exists elsewhere
            missing = client.get(f"{base}/domains/nowhere.test")
            assert page.text.replace(name, "nowhere.test") == missing.text
        assert client.post(f"/domains/{name}/check", data={"csrf": token}).status_code == 404, name
    plan_id = south_plan.rsplit("/", 1)[1]
    assert client.get(f"/plans/{plan_id}").status_code == 404
    assert client.post(f"/plans/{plan_id}/apply", data={"csrf": token}).status_code == 404
    unknown = client.get("/workspaces/no-such-place/")
    assert unknown.status_code == 404
    for ws in ("default", SOUTH, EMPTY):
        for page in PAGES:
            response = client.get(f"/workspaces/{ws}" + page.format(domain=DOMAINS.get(ws, ("x.test",))[0]))
            assert response.status_code == 404, (ws, page)
            assert response.text.replace(ws, "no-such-place") == unknown.text, (ws, page)
    # the operator's pages do not exist for a workspace key
    assert client.get("/workspaces").status_code == 404
    assert client.get("/switch", params={"workspace": SOUTH}).status_code == 404
    assert client.get("/switch", params={"workspace": NORTH}).status_code == 404
    # and its own pages, read after the operator's, show nothing of what the App read for the others
    for page in PAGES:
        html = client.get(page.format(domain=DOMAINS[NORTH][0])).text
        assert leaks(NORTH, html) == [], page
    assert domains_on(client.get("/").text) == list(DOMAINS[NORTH])


def test_a_workspace_key_plans_and_applies_its_own_workspace_only(client: TestClient, spaces: Workspaces) -> None:
    token = login(client, spaces.keys["north"])
    made = client.post("/plan", data={"csrf": token})
    assert made.status_code == 303
    plan_url = made.headers["location"]
    assert plan_url.startswith("/plans/")
    plan = client.get(plan_url).text
    assert f"dns.zone:{DOMAINS[NORTH][0]}" in plan and f"dns.zone:{DOMAINS[NORTH][1]}" in plan
    assert leaks(NORTH, plan) == []
    started = client.post(f"{plan_url}/apply", data={"csrf": token})
    assert started.status_code == 303
    job_url = started.headers["location"]
    status, fragment = "", ""
    for _ in range(600):  # a bounded wait for the in-process job, not a timing assertion
        fragment = client.get(f"{job_url}/progress").text
        status = re.findall(r'data-status="([^"]+)"', fragment)[0]
        if status in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert status == "succeeded", fragment
    assert f"dns.zone:{DOMAINS[NORTH][0]}" in fragment
    assert leaks(NORTH, fragment) == []
    job = client.get(job_url).text
    assert leaks(NORTH, job) == []
    records = client.get(f"/domains/{DOMAINS[NORTH][0]}").text
    assert "state-missing" not in records and "state-in-sync" in records

    # the job and the plan are northwind's: another workspace's key finds neither
    client.cookies.clear()
    login(client, spaces.keys["south"])
    for path in (job_url, f"{job_url}/progress", plan_url):
        assert client.get(path).status_code == 404, path
    assert "api.job." not in client.get("/events").text


def test_an_operator_switches_workspaces_and_each_page_shows_that_one(client: TestClient, spaces: Workspaces) -> None:
    token = login(client, spaces.keys["operator"])
    home = client.get("/").text
    switcher = home.split('id="workspace-switcher"')[1].split("</form>")[0]
    assert re.findall(r'<option value="([^"]+)"', switcher) == sorted(["default", NORTH, SOUTH, EMPTY])
    assert '<option value="default" selected>' in switcher
    assert domains_on(home) == sorted(DOMAINS["default"])

    for ws in (NORTH, SOUTH):
        base = f"/workspaces/{ws}"
        overview = client.get(f"{base}/").text
        assert domains_on(overview) == list(DOMAINS[ws])
        assert f'<option value="{ws}" selected>' in overview
        assert f'href="{base}/domains/{DOMAINS[ws][0]}"' in overview
        assert f'href="{base}/domains/{DOMAINS[ws][0]}"' in client.get(f"{base}/dmarc").text
        for page in PAGES:
            html = client.get(base + page.format(domain=DOMAINS[ws][0])).text
            assert strays(base, html) == [], page
            assert [n for w, found in DOMAINS.items() if w != ws for n in found if n in html] == [], (ws, page)
            assert f'<input type="hidden" name="section" value="{page.format(domain=DOMAINS[ws][0])}">' in html
        # a workspace's domain exists in it only
        assert client.get(f"/domains/{DOMAINS[ws][0]}").status_code == 404
        # a form posted from a workspace's page acts in that workspace and comes back to it
        made = client.post(f"{base}/plan", data={"csrf": token})
        assert made.status_code == 303 and made.headers["location"].startswith(f"{base}/plans/")
        plan = client.get(made.headers["location"]).text
        assert f"dns.zone:{DOMAINS[ws][0]}" in plan and "acme-mail.test" not in plan
        assert strays(base, plan) == [] and f'action="{base}/plans/' in plan
        checked = client.post(f"{base}/domains/{DOMAINS[ws][1]}/check", data={"csrf": token})
        assert checked.status_code == 303 and checked.headers["location"] == f"{base}/domains/{DOMAINS[ws][1]}"

    assert client.get("/workspaces/no-such-place/").status_code == 404
    assert client.get("/workspaces/Not_A_Name/dmarc").status_code == 404
    assert client.get(f"/workspaces/{EMPTY}/").status_code == 200
    assert domains_on(client.get(f"/workspaces/{EMPTY}/").text) == []


def test_the_switcher_goes_to_the_same_page_of_the_chosen_workspace(client: TestClient, spaces: Workspaces) -> None:
    login(client, spaces.keys["operator"])
    cases = {"/dmarc": "/dmarc", "/plan": "/plan", "/": "/", "/domains/acme-mail.test": "/", "//evil.test": "/"}
    for section, lands in cases.items():
        went = client.get("/switch", params={"workspace": NORTH, "section": section})
        assert went.status_code == 303 and went.headers["location"] == f"/workspaces/{NORTH}{lands}", section
    # the select's change, through htmx: it loads the page itself
    hx = client.get("/switch", params={"workspace": SOUTH, "section": "/events"}, headers={"HX-Request": "true"})
    assert hx.status_code == 204 and hx.headers["HX-Redirect"] == f"/workspaces/{SOUTH}/events"
    assert client.get("/switch", params={"workspace": "no-such-place"}).status_code == 404
    assert client.get("/switch", params={"workspace": "../admin"}).status_code == 404
    assert client.get("/switch").status_code == 422  # no workspace chosen: a clear error, nothing else


def test_the_operator_overview_shows_every_workspaces_health(client: TestClient, spaces: Workspaces) -> None:
    login(client, spaces.keys["operator"])
    response = client.get("/workspaces")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    rows = dict(re.findall(r'<tr data-workspace="([^"]+)" data-status="([^"]+)"', html))
    assert rows == {"default": "error", NORTH: "error", SOUTH: "error", EMPTY: "none"}

    def counts(ws: str) -> dict[str, str]:
        row = html.split(f'data-workspace="{ws}"')[1].split("</tr>")[0]
        return dict(re.findall(r'data-count="([a-z_]+)">(?:<a [^>]+>)?(\d+)', row))

    # failing: north-a.test's drift, and its DMARC pass rate (20 of 25) under the threshold
    assert counts(NORTH) == {"domains": "2", "mailboxes": "3", "servers": "1", "failing_checks": "2", "api_keys": "1"}
    assert counts(EMPTY) == {"domains": "0", "mailboxes": "0", "servers": "0", "failing_checks": "0", "api_keys": "0"}
    for ws in ("default", NORTH, SOUTH, EMPTY):
        assert f'<a href="/workspaces/{ws}/">{ws}</a>' in html  # each row leads to that workspace's overview
    assert f'href="/workspaces/{NORTH}/?status=error"' in html
    assert "<strong>4</strong> workspaces" in html and "<strong>6</strong> domains" in html
    # the switcher is there too (nothing chosen on a page of every workspace)
    assert 'id="workspace-switcher"' in html and 'href="/workspaces" aria-current="page"' in html


def test_workspace_pages_keep_the_csrf_and_csp_rules(client: TestClient, spaces: Workspaces) -> None:
    token = login(client, spaces.keys["operator"])
    base = f"/workspaces/{NORTH}"
    for path in (f"{base}/plan", f"{base}/domains/{DOMAINS[NORTH][0]}/check"):
        assert client.post(path, data={}).status_code == 403, path
        wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert client.post(path, data={"csrf": wrong}).status_code == 403, path
    for path in (f"{base}/", f"{base}/domains/{DOMAINS[NORTH][0]}", "/workspaces", "/workspaces/no-such-place/"):
        page = client.get(path)
        assert "script-src 'self'" in page.headers["content-security-policy"], path
        scripts_of(page.text)
    # a visitor without a session goes to the login form, and back to the workspace's page after it
    client.cookies.clear()
    response = client.get(f"{base}/dmarc")
    assert (
        response.status_code == 303 and response.headers["location"] == "/login?next=%2Fworkspaces%2Fnorthwind%2Fdmarc"
    )
    assert client.get("/workspaces").status_code == 303
