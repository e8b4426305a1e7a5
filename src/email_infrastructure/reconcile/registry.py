"""What the components offer, gathered in one place for the faces."""

from __future__ import annotations

from pydantic import BaseModel

from email_infrastructure.dns.config import PROVIDER_SETTINGS as DNS_SETTINGS
from email_infrastructure.mailcow.config import PROVIDER_SETTINGS as MAIL_SETTINGS
from email_infrastructure.registrars.config import PROVIDER_SETTINGS as REGISTRAR_SETTINGS
from email_infrastructure.sequencers.config import PROVIDER_SETTINGS as SEQUENCER_SETTINGS
from email_infrastructure.vps.config import PROVIDER_SETTINGS as VPS_SETTINGS


def provider_schemas() -> dict[tuple[str, str], type[BaseModel]]:
    """(kind, type) → settings model, for validating `providers:` in an inventory."""
    schemas: dict[tuple[str, str], type[BaseModel]] = {}
    tables = (
        ("dns", DNS_SETTINGS),
        ("mail", MAIL_SETTINGS),
        ("vps", VPS_SETTINGS),
        ("sequencers", SEQUENCER_SETTINGS),
        ("registrars", REGISTRAR_SETTINGS),
    )
    for kind, table in tables:
        schemas.update({(kind, type_): model for type_, model in table.items()})
    return schemas
