"""Request bodies copied from ../shared/reference/sequencer-apis.md and a client that authenticates per vendor."""

from __future__ import annotations

import httpx

from tests.fakes.sequencer_base import FakeSequencer
from tests.fakes.smartlead import FakeSmartlead

INSTANTLY_ACCOUNT = {
    "email": "jon@a.example",
    "first_name": "Jon",
    "last_name": "Doe",
    "provider_code": 1,
    "imap_username": "jon@a.example",
    "imap_password": "imap-secret-1",
    "imap_host": "mail.a.example",
    "imap_port": 993,
    "smtp_username": "jon@a.example",
    "smtp_password": "smtp-secret-1",
    "smtp_host": "mail.a.example",
    "smtp_port": 587,
}
SMARTLEAD_ACCOUNT = {
    "from_name": "Jon Doe",
    "from_email": "jon@a.example",
    "user_name": "jon@a.example",
    "password": "smtp-secret-1",
    "smtp_host": "mail.a.example",
    "smtp_port": 465,
    "imap_host": "mail.a.example",
    "imap_port": 993,
    "warmup_enabled": True,
    "max_email_per_day": 40,
}
EMAILBISON_ACCOUNT = {
    "name": "Jon Doe",
    "email": "jon@a.example",
    "password": "smtp-secret-1",
    "imap_server": "mail.a.example",
    "imap_port": 993,
    "smtp_server": "mail.a.example",
    "smtp_port": 587,
}


def client(fake: FakeSequencer, key: str | None = None) -> httpx.Client:
    """An httpx client that authenticates as the vendor documents (Smartlead: `?api_key=`)."""
    if isinstance(fake, FakeSmartlead):
        return httpx.Client(base_url=fake.url, params={"api_key": key or fake.token})
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {key or fake.token}"})
