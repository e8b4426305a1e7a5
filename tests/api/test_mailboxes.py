"""Mailbox credentials: admin scope only, one domain at a time, never in a list; the read is audited."""

from __future__ import annotations

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory

INVENTORY = """
version: 1
providers:
  dns:
    local: {type: zonefile, directory: zones, nameservers: [ns1.quickstart.test., ns2.quickstart.test.]}
  mail:
    mc: {type: mailcow, url: "http://127.0.0.1:9", api_key: env:MAILCOW_TEST_KEY, mailbox_quota_mib: 1024, timeout: 2}
servers:
  - {name: mx1, hostname: mail.acme-outreach.test, ipv4: 127.0.0.10, mail_backend: mc}
defaults:
  dns_provider: local
  server: mx1
  dmarc: {policy: none, rua: ["mailto:dmarc@acme-outreach.test"]}
domains:
  - name: acme-outreach.test
    mailboxes:
      - {first_name: Ann, last_name: Lee}
      - {first_name: Bob, last_name: Stone}
"""
PASSWORD = "Vault-Stored-Pw-7f3a9c"


async def test_credentials_need_admin_and_never_show_in_lists(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory(INVENTORY))
    async with api.app.uow() as uow:
        await uow.secrets().put(*password_key("ann.lee@acme-outreach.test"), PASSWORD)
        await uow.commit()
    path = "/api/v1/domains/acme-outreach.test/mailboxes/credentials"
    for scope in ("read", "write"):
        refused = await api.client.get(path, headers=api.auth(scope))
        assert refused.status_code == 403 and PASSWORD not in refused.text
    shown = await api.client.get(path, headers=api.auth("admin"))
    assert shown.status_code == 200, shown.text
    by_address = {c["address"]: c for c in shown.json()["data"]}
    assert by_address["ann.lee@acme-outreach.test"]["password"] == PASSWORD
    assert by_address["bob.stone@acme-outreach.test"]["password"] is None  # not confirmed yet
    assert by_address["ann.lee@acme-outreach.test"]["host"] == "mail.acme-outreach.test"
    listing = await api.client.get("/api/v1/domains", headers=api.auth("admin"))
    single = await api.client.get("/api/v1/domains/acme-outreach.test", headers=api.auth("admin"))
    assert PASSWORD not in listing.text and PASSWORD not in single.text
    events = (await api.client.get("/api/v1/events?topic=api.credentials", headers=api.auth())).json()["data"]
    assert [(e["source"], e["payload"]) for e in events["items"]] == [
        ("api:test-admin-0", {"domain": "acme-outreach.test", "mailboxes": 2})
    ]
    assert (
        await api.client.get("/api/v1/domains/absent.test/mailboxes/credentials", headers=api.auth("admin"))
    ).status_code == 404
