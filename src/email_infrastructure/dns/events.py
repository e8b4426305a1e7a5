"""Topics the DNS component publishes, with their payload types."""

from __future__ import annotations

from typing import Any, TypedDict

from email_infrastructure.core.events import Topic


class RecordChangePayload(TypedDict):
    """One RRset change (the plan's change JSON plus the zone)."""

    zone: str
    action: str
    name: str
    type: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


class ZoneFailedPayload(TypedDict):
    """A zone that could not be applied."""

    zone: str
    error: str


class ExtraChangePayload(TypedDict):
    """A provider extra (a redirect rule) that changed."""

    zone: str
    old: str | None
    new: str | None


class DkimKeyPayload(TypedDict):
    """A DKIM key that was generated (never the key itself)."""

    domain: str
    selector: str
    bits: int


class DkimKeysImportedPayload(TypedDict):
    """DKIM private keys restored from an export file (the domains only)."""

    domains: list[str]


RECORD_CREATED: Topic[RecordChangePayload] = Topic("dns.record.created", RecordChangePayload)
RECORD_UPDATED: Topic[RecordChangePayload] = Topic("dns.record.updated", RecordChangePayload)
RECORD_DELETED: Topic[RecordChangePayload] = Topic("dns.record.deleted", RecordChangePayload)
ZONE_FAILED: Topic[ZoneFailedPayload] = Topic("dns.zone.failed", ZoneFailedPayload)
REDIRECT_UPDATED: Topic[ExtraChangePayload] = Topic("dns.redirect.updated", ExtraChangePayload)
#: topic of each extra-change kind
EXTRA_TOPICS: dict[str, Topic[ExtraChangePayload]] = {"redirect": REDIRECT_UPDATED}
DKIM_KEY_CREATED: Topic[DkimKeyPayload] = Topic("dkim.key.created", DkimKeyPayload)
DKIM_KEYS_IMPORTED: Topic[DkimKeysImportedPayload] = Topic("dkim.key.imported", DkimKeysImportedPayload)
