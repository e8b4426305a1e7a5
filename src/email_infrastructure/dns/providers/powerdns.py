"""PowerDNS Authoritative through its HTTP API (zones; rrset PATCH with REPLACE/DELETE)."""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.errors import ProviderNotFoundError, ProviderValidationError
from email_infrastructure.core.http import VendorClient
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.dns.config import PowerDnsSettings
from email_infrastructure.dns.plan import Action, Change
from email_infrastructure.dns.providers.base import DnsProvider, ProviderContext
from email_infrastructure.dns.records import Record, RecordError, parse_txt


def _zone_id(zone: str) -> str:
    # Zone ids are the canonical name with a trailing dot; '/' is escaped as =2F.
    return (zone + ".").replace("/", "=2F")


class _PowerDnsClient(VendorClient):
    provider = "powerdns"


class PowerDnsProvider(DnsProvider[PowerDnsSettings]):
    """Writes one PATCH per zone: all DELETEs, then REPLACEs."""

    type = "powerdns"
    settings_model = PowerDnsSettings

    def __init__(self, name: str, settings: PowerDnsSettings, context: ProviderContext) -> None:
        super().__init__(name, settings, context)
        self._client: _PowerDnsClient | None = None

    @property
    def client(self) -> _PowerDnsClient:
        """The API client, created on first use (the key is resolved then)."""
        if self._client is None:
            base = self.settings.api_url.rstrip("/")
            base = base if base.endswith("/api/v1") else base + "/api/v1"
            self._client = _PowerDnsClient(
                f"{base}/servers/{self.settings.server_id}",
                headers={"X-API-Key": resolve_secret(self.settings.api_key)},
            )
            self._client.provider = self.name
        return self._client

    async def zone_exists(self, zone: str) -> bool:
        """GET /zones?zone=NAME answers [] when absent."""
        return bool(await self.client.json("GET", "/zones", params={"zone": zone + "."}))

    async def list_records(self, zone: str) -> list[Record]:
        """All rrsets but SOA and apex NS; an absent zone reads as empty."""
        try:
            body = await self.client.json("GET", f"/zones/{_zone_id(zone)}")
        except ProviderNotFoundError:
            return []
        except ProviderValidationError as exc:
            if "could not find domain" in str(exc).lower():
                return []
            raise
        records = []
        for rrset in body.get("rrsets", []):
            name = str(rrset["name"]).rstrip(".").lower()
            rtype = str(rrset["type"])
            if rtype == "SOA" or (rtype == "NS" and name == zone):
                continue
            values = [
                parse_txt(r["content"]) if rtype == "TXT" else r["content"]
                for r in rrset.get("records", [])
                if not r.get("disabled")
            ]
            if not values:
                continue
            try:
                records.append(Record.make(name, rtype, values, int(rrset.get("ttl", 3600))))
            except RecordError as exc:
                raise ProviderValidationError(f"{zone}: unreadable record: {exc}", provider=self.name) from None
        return sorted(records)

    def _rrset(self, change: Change) -> dict[str, Any]:
        record = change.record
        body: dict[str, Any] = {"name": record.name + ".", "type": record.type}
        if change.action is Action.DELETE:
            body["changetype"] = "DELETE"
        else:
            body |= {
                "changetype": "REPLACE",
                "ttl": record.ttl,
                "records": [{"content": record.presentation(v), "disabled": False} for v in record.values],
            }
        return body

    async def apply_changes(self, zone: str, changes: list[Change]) -> None:
        """One atomic PATCH; the zone is created first when missing and allowed."""
        if not changes:
            return
        if not await self.zone_exists(zone):
            if not self.settings.create_zones:
                raise ProviderNotFoundError(f"zone {zone} does not exist", provider=self.name)
            await self.client.request(
                "POST",
                "/zones",
                json={
                    "name": zone + ".",
                    "kind": self.settings.zone_kind,
                    "masters": [],
                    "nameservers": [ns.rstrip(".") + "." for ns in self.settings.nameservers],
                },
            )
        rrsets = [self._rrset(c) for c in changes]
        # REPLACE/DELETE of whole RRsets: sending it twice has the effect of once.
        await self.client.request("PATCH", f"/zones/{_zone_id(zone)}", json={"rrsets": rrsets}, idempotent=True)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
