"""RDAP domain answers (RFC 9083) read into typed values, refusing nothing but trusting no field's type.

A registry's answer is JSON from the network: every field may be missing, of the wrong type or huge.
`parse_domain` reads what it can and raises `RdapShapeError` (one sentence) only when the answer is
not a domain object at all; a malformed event or entity is skipped, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

#: what is kept of one list in an answer (a hostile answer may hold a million entries)
MAX_ITEMS = 100
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


class RdapShapeError(ValueError):
    """The answer is not an RFC 9083 domain object."""


class LookupStatus(StrEnum):
    """How an RDAP lookup ended."""

    FOUND = "found"
    #: the registry answered 404: no such registration (or not in its database)
    NOT_FOUND = "not_found"
    #: no answer to read: rate limited, a server error, a timeout, a hostile body, no RDAP service
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Registration:
    """What a registry (and, when linked, the registrar) says of one domain."""

    name: str
    registered: datetime | None = None
    expires: datetime | None = None
    last_changed: datetime | None = None
    #: RDAP status values, lower-case with spaces ("server hold"); EPP camelCase is converted
    statuses: tuple[str, ...] = ()
    registrar: str | None = None
    registrar_iana_id: str | None = None
    #: lower-case host names without the trailing dot
    nameservers: tuple[str, ...] = ()
    #: the registrar's own expiry (its RDAP's "registrar expiration" or "expiration"), when it answered
    registrar_expires: datetime | None = None
    #: the registrar's RDAP answer the registry links to (`rel: related`), if any
    registrar_link: str | None = None

    @property
    def expiry(self) -> datetime | None:
        """The expiry to act on: the registrar's when it answered (the truth during auto-renew), else the registry's."""
        return self.registrar_expires or self.expires

    def age_days(self, now: datetime) -> int | None:
        """Whole days since registration (None when the answer has no registration date)."""
        return None if self.registered is None else max((now - self.registered).days, 0)

    def to_json(self) -> dict[str, Any]:
        """JSON form (dates in RFC 3339)."""

        def when(moment: datetime | None) -> str | None:
            return moment.isoformat().replace("+00:00", "Z") if moment else None

        return {
            "name": self.name,
            "registered": when(self.registered),
            "expires": when(self.expires),
            "registrar_expires": when(self.registrar_expires),
            "last_changed": when(self.last_changed),
            "statuses": list(self.statuses),
            "registrar": self.registrar,
            "registrar_iana_id": self.registrar_iana_id,
            "nameservers": list(self.nameservers),
        }


@dataclass(frozen=True)
class Lookup:
    """The outcome of one domain lookup: a registration, or why there is none."""

    name: str
    status: LookupStatus
    registration: Registration | None = None
    #: one sentence for NOT_FOUND and UNKNOWN (never a credential: RDAP needs none)
    reason: str = ""
    #: the RDAP base URL asked (None when no server serves the TLD)
    server: str | None = None
    #: seconds the server asked us to wait (429 with Retry-After)
    retry_after: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "status": self.status.value,
            "reason": self.reason or None,
            "server": self.server,
            "retry_after": self.retry_after,
            "registration": self.registration.to_json() if self.registration else None,
        }


def status_value(text: str) -> str:
    """`clientHold` or `client hold` → `client hold` (RDAP's spelling, RFC 8056)."""
    return " ".join(_CAMEL.sub(" ", text).lower().split())


def parse_date(value: object) -> datetime | None:
    """An RFC 3339 date as an aware UTC datetime; None for anything else."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _list(value: object) -> list[Any]:
    return value[:MAX_ITEMS] if isinstance(value, list) else []


def _host(value: object) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= 253:
        return None
    return value.strip().rstrip(".").lower() or None


def events(body: dict[str, Any]) -> dict[str, datetime]:
    """eventAction → date (the first of each action; malformed events skipped)."""
    found: dict[str, datetime] = {}
    for event in _list(body.get("events")):
        if not isinstance(event, dict):
            continue
        action, date = event.get("eventAction"), parse_date(event.get("eventDate"))
        if isinstance(action, str) and date is not None:
            found.setdefault(action.strip().lower(), date)
    return found


def _vcard_name(entity: dict[str, Any]) -> str | None:
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return None
    for prop in _list(card[1]):
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "fn" and isinstance(prop[3], str):
            return prop[3][:200] or None
    return None


def _registrar(body: dict[str, Any]) -> tuple[str | None, str | None]:
    for entity in _list(body.get("entities")):
        if not isinstance(entity, dict) or "registrar" not in _list(entity.get("roles")):
            continue
        iana = next(
            (
                str(p.get("identifier"))[:20]
                for p in _list(entity.get("publicIds"))
                if isinstance(p, dict) and p.get("type") == "IANA Registrar ID" and p.get("identifier") is not None
            ),
            None,
        )
        return _vcard_name(entity), iana
    return None, None


def related_link(body: dict[str, Any]) -> str | None:
    """The registrar's RDAP answer the registry points to (`related`/`registration`, not HTML), https only."""
    for link in _list(body.get("links")):
        if not isinstance(link, dict) or link.get("rel") not in ("related", "registration"):
            continue
        href, kind = link.get("href"), link.get("type")
        if isinstance(href, str) and href.startswith("https://") and len(href) < 2000 and kind != "text/html":
            return href
    return None


def parse_domain(name: str, body: object) -> Registration:
    """Read a registry's domain answer; RdapShapeError when it is not a domain object."""
    if not isinstance(body, dict):
        raise RdapShapeError(f"the answer is a JSON {type(body).__name__}, not an object")
    kind = body.get("objectClassName")
    if kind is not None and kind != "domain":
        raise RdapShapeError(f"the answer is an RDAP {str(kind)[:40]!r} object, not a domain")
    if kind is None and not any(k in body for k in ("events", "status", "ldhName")):
        raise RdapShapeError("the answer has none of a domain object's fields")
    dates = events(body)
    statuses = tuple(dict.fromkeys(status_value(s) for s in _list(body.get("status")) if isinstance(s, str) and s))
    hosts = (_host(ns.get("ldhName")) for ns in _list(body.get("nameservers")) if isinstance(ns, dict))
    registrar, iana = _registrar(body)
    return Registration(
        name=name,
        registered=dates.get("registration"),
        expires=dates.get("expiration"),
        last_changed=dates.get("last changed"),
        statuses=statuses,
        registrar=registrar,
        registrar_iana_id=iana,
        nameservers=tuple(sorted({h for h in hosts if h})),
        registrar_link=related_link(body),
    )


def registrar_expiry(body: object) -> datetime | None:
    """The expiry in a registrar's answer ("registrar expiration", else "expiration")."""
    if not isinstance(body, dict):
        return None
    dates = events(body)
    return dates.get("registrar expiration") or dates.get("expiration")
