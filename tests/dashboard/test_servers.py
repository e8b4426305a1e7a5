"""The server pages (issue 24 item 2): a server's addresses, reverse DNS, blocklists per list with the
list's reason and delisting link, port 25, TLS, domains, mailboxes and last events; one row per cause;
a workspace sees only its own servers; every stored value escaped."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.scope import acting_in
from email_infrastructure.services.vps import record_port25
from tests.dashboard.conftest import SCRIPT, Seeded, login
from tests.services.conftest import WriteInventory, two_domains

IP = "127.0.0.10"


def listed(zone: str, meaning: str, reason: str, delisting: str) -> dict[str, Any]:
    """A `dnsbl.listed` finding as monitoring.dnsbl.listing_result writes it."""
    return {
        "id": "dnsbl.listed",
        "severity": "error",
        "message": f"{IP} is listed on {zone}: {meaning}",
        "evidence": [f"{zone}: 127.0.0.2", f"reason: {reason}", f"delisting: {delisting}"],
    }


def result(*findings: dict[str, Any], status: str = "error") -> dict[str, Any]:
    """A stored check result."""
    return {"status": status, "findings": list(findings)}


@pytest.fixture
def listed_server(seeded: Seeded) -> Seeded:
    """mx1's address on two lists (one reason carries a script, one delisting link is a script URL),
    its PTR not resolving back, and its mail host's certificate expiring (reported by both domains)."""

    async def seed() -> None:
        app = App(seeded.settings)
        try:
            dnsbl = result(
                listed("zen.spamhaus.org", "SBL: spam source", f"see {SCRIPT}", "https://check.spamhaus.org/"),
                listed("bl.spamcop.net", "listed", "spam trap hits", "javascript:alert(1)"),
            )
            ptr = result(
                {
                    "id": "ptr.mismatch",
                    "severity": "error",
                    "message": f"the PTR of {IP} (mail.example.test) does not resolve back to it",
                    "evidence": ["mail.example.test"],
                }
            )
            expiring = "mail.acme-outreach.test:25: the certificate expires in 3 days"
            tls = result({"id": "tls.expiring", "severity": "error", "message": expiring, "evidence": []})
            await record_results(
                app,
                [
                    (IP, "dnsbl", "error", dnsbl, f"{IP} is listed on zen.spamhaus.org: SBL: spam source"),
                    (IP, "ptr", "error", ptr, "the PTR does not resolve back"),
                    ("acme-mail.test", "tls", "error", tls, expiring),
                    ("acme-outreach.test", "tls", "error", tls, expiring),
                    ("ann.lee@acme-outreach.test", "mailbox", "ok", result(status="ok"), "ok"),
                ],
            )
        finally:
            await app.close()

    asyncio.run(seed())
    return seeded


def test_the_server_list_shows_each_server_once_with_its_listings_and_counts(
    client: TestClient, listed_server: Seeded
) -> None:
    login(client, listed_server.keys["read"])
    html = client.get("/servers").text
    rows = re.findall(r'<tr data-server="([^"]+)" data-status="([^"]+)"', html)
    assert rows == [("mx1", "error")]
    assert 'data-listed="2"' in html and "listed on 2 lists" in html
    assert IP in html
    row = html.split('data-server="mx1"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>(\d+)</td>", row)
    assert cells == ["2", "3"]  # two domains, three mailboxes
    assert 'href="/servers/mx1"' in html


def test_a_server_page_shows_each_list_with_its_reason_and_delisting_link(
    client: TestClient, listed_server: Seeded
) -> None:
    login(client, listed_server.keys["read"])
    response = client.get("/servers/mx1")
    assert response.status_code == 200
    html = response.text
    listing_rows = re.findall(r'<tr data-zone="([^"]+)" data-state="([^"]+)">', html)
    assert ("zen.spamhaus.org", "listed") in listing_rows and ("bl.spamcop.net", "listed") in listing_rows
    assert "SBL: spam source" in html and "spam trap hits" in html
    assert 'href="https://check.spamhaus.org/"' in html
    assert "javascript:" not in html  # a delisting that is no web address is not linked
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert "the PTR does not resolve back to the address" in html
    assert "How to fix:" in html.split('id="addresses"', 1)[1].split("</section>", 1)[0]
    # the lists that name nothing are one line, not a red or green row each
    assert re.search(r"<summary>not listed on \d+ other lists</summary>", html)
    # the certificate is one cause, reported by both domains: one row
    assert html.count("the certificate expires in 3 days") == 2  # the row and its finding
    assert "reported by 2 domains" in html
    for domain in ("acme-mail.test", "acme-outreach.test"):
        assert f'href="/domains/{domain}"' in html
    assert "ann.lee@acme-outreach.test" in html and "cara.diaz@acme-mail.test" in html
    assert "monitoring.check.failed" in html  # the IP's checks turning red are its events


def test_a_server_never_checked_says_so(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    html = client.get("/servers/mx1").text
    assert "not checked" in html
    assert "No TLS check stored" in html


def test_an_unknown_server_is_a_404(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    assert client.get("/servers/nope").status_code == 404


def test_the_domain_page_links_its_server(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    assert 'href="/servers/mx1"' in client.get("/domains/acme-mail.test").text


def test_a_workspace_key_sees_only_its_own_servers(
    client: TestClient, seeded: Seeded, write_inventory: WriteInventory
) -> None:
    async def seed() -> str:
        app = App(seeded.settings)
        try:
            await workspaces.create(app, "northwind")
            text = two_domains("north-a.test", "north-b.test").replace("mx1", "mx9").replace(IP, "198.51.100.7")
            with acting_in("northwind"):
                await import_inventory(app, write_inventory(text, name="north.yaml"))
            return (await ApiKeyService(app).create("north", "read", source="test", workspace="northwind")).key
        finally:
            await app.close()

    north = asyncio.run(seed())
    login(client, north)
    html = client.get("/servers").text
    assert re.findall(r'<tr data-server="([^"]+)"', html) == ["mx9"]
    assert "mx1" not in html and IP not in html
    assert client.get("/servers/mx9").status_code == 200
    assert client.get("/servers/mx1").status_code == 404
    assert client.get("/workspaces/default/servers/mx1").status_code == 404
    client.cookies.clear()
    login(client, seeded.keys["read"])
    assert client.get("/servers/mx9").status_code == 404


def test_a_server_we_created_shows_its_reverse_dns_port25_and_events(client: TestClient, seeded: Seeded) -> None:
    async def seed() -> None:
        app = App(seeded.settings)
        try:
            async with app.uow() as uow:
                await uow.vps.record(
                    "vps-old",
                    "hetzner",
                    provider_id="42",
                    provider_name="mail.old.test",
                    status="running",
                    ipv4="192.0.2.44",
                    ipv6="2001:db8::44",
                    ptr={"192.0.2.44": "mail.old.test"},
                )
                await uow.commit()
            await record_port25(app, "vps-old", "open")
        finally:
            await app.close()

    asyncio.run(seed())
    login(client, seeded.keys["read"])
    assert re.findall(r'<tr data-server="([^"]+)"', client.get("/servers").text) == ["mx1", "vps-old"]
    html = client.get("/servers/vps-old").text
    assert "2001:db8::44" in html and "IPv6" in html
    assert "mail.old.test" in html  # the PTR we set
    assert "port25-open" in html and "recorded" in html
    assert "vps.port25.recorded" in html
    assert "No domain on this server." in html


def test_a_server_page_lists_a_screenful_failing_first_and_links_the_rest(
    client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from email_infrastructure.services import server_detail

    monkeypatch.setattr(server_detail, "SHOWN", 1)
    login(client, seeded.keys["read"])
    html = client.get("/servers/mx1").text
    domains = html[html.index('id="domains"') : html.index('id="mailboxes"')]
    # acme-mail.test fails its drift check: it comes first although acme-outreach.test sorts before it
    assert re.findall(r'href="/domains/([^"]+)"', domains) == ["acme-mail.test"]
    assert "Domains (2)" in domains and 'href="/?server=mx1"' in domains
    boxes = html[html.index('id="mailboxes"') : html.index('id="events"')]
    assert "Mailboxes (3)" in boxes and 'href="/mailboxes?server=mx1"' in boxes
    assert len(re.findall(r'<span class="mono">', boxes)) == 1
