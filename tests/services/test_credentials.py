"""services/credentials.py: a credential read records who read it, in the same unit of work."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import NotFoundError
from email_infrastructure.core.events import Event
from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services.app import App
from email_infrastructure.services.credentials import Credential, read_credentials
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.events import CREDENTIALS_READ
from email_infrastructure.services.history import events_page
from tests.api.test_mailboxes import INVENTORY, PASSWORD
from tests.services.conftest import WriteInventory


async def test_a_read_writes_its_event_and_an_absent_domain_none(
    app: App, events: list[Event], write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory(INVENTORY))
    async with app.uow() as uow:
        await uow.secrets().put(*password_key("ann.lee@acme-outreach.test"), PASSWORD)
        await uow.commit()
    found = await read_credentials(app, "ACME-outreach.test.", "api:auditor")
    assert found == [
        Credential("ann.lee@acme-outreach.test", PASSWORD, "mail.acme-outreach.test"),
        Credential("bob.stone@acme-outreach.test", None, "mail.acme-outreach.test"),
    ]
    stored = await events_page(app, topic_prefix=CREDENTIALS_READ.name)
    assert [(e["source"], e["payload"]) for e in stored] == [
        ("api:auditor", {"domain": "acme-outreach.test", "mailboxes": 2})
    ]
    for absent in ("absent.test", "not a domain"):
        with pytest.raises(NotFoundError):
            await read_credentials(app, absent, "api:auditor")
    assert len(await events_page(app, topic_prefix=CREDENTIALS_READ.name)) == 1
    assert [e.topic for e in events if e.topic == CREDENTIALS_READ.name] == [CREDENTIALS_READ.name]
