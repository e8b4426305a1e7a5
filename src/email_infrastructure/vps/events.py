"""Topics the VPS component publishes, with their payload types."""

from __future__ import annotations

from typing import TypedDict

from email_infrastructure.core.events import Topic


class ServerPayload(TypedDict):
    """A server we created (its addresses once the provider gave them)."""

    server: str
    provider: str
    hostname: str
    ipv4: str | None
    ipv6: str | None


class RdnsPayload(TypedDict):
    """Reverse DNS of one address, set and read back."""

    server: str
    ip: str
    ptr: str


class ServerDeletedPayload(TypedDict):
    """A server we created and deleted (`apply --prune`)."""

    server: str
    provider: str
    id: str


class Port25Payload(TypedDict):
    """Outbound port 25 of a server, as recorded by an operator."""

    server: str
    port25: str


SERVER_CREATED: Topic[ServerPayload] = Topic("vps.server.created", ServerPayload)
SERVER_DELETED: Topic[ServerDeletedPayload] = Topic("vps.server.deleted", ServerDeletedPayload)
RDNS_UPDATED: Topic[RdnsPayload] = Topic("vps.rdns.updated", RdnsPayload)
PORT25_RECORDED: Topic[Port25Payload] = Topic("vps.port25.recorded", Port25Payload)
