"""The servers we created at VPS providers, as stored facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.storage.models import VpsServerRecord, utcnow

PORT25_STATES = ("unknown", "blocked", "open")


class VpsFacts:
    """Read and record what providers told us about our servers (bound to one session)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> Sequence[VpsServerRecord]:
        """Every server we created, by name."""
        return (await self.session.scalars(select(VpsServerRecord).order_by(VpsServerRecord.name))).all()

    async def get(self, name: str) -> VpsServerRecord | None:
        """The server called `name` in the inventory, if we created it."""
        return await self.session.scalar(select(VpsServerRecord).where(VpsServerRecord.name == name))

    async def record(
        self,
        name: str,
        provider: str,
        *,
        provider_id: str,
        provider_name: str,
        status: str,
        ipv4: str | None,
        ipv6: str | None,
        server_type: str = "",
        location: str = "",
        image: str = "",
        ptr: Mapping[str, str] | None = None,
        port25_default: str = "unknown",
    ) -> VpsServerRecord:
        """Insert or refresh a server's facts (port 25 keeps what was recorded before)."""
        row = await self.get(name)
        if row is None:
            row = VpsServerRecord(
                name=name, provider=provider, port25=port25_default, port25_source="provider-default", ptr={}
            )
            self.session.add(row)
        row.provider, row.provider_id, row.provider_name, row.status = provider, provider_id, provider_name, status
        row.ipv4, row.ipv6 = ipv4, ipv6
        row.server_type, row.location, row.image = server_type, location, image
        if ptr is not None:
            row.ptr = dict(ptr)
        row.last_error = None
        row.updated_at = utcnow()
        await self.session.flush()
        return row

    async def set_ptr(self, name: str, ptr: Mapping[str, str]) -> None:
        """Remember the reverse DNS read back after setting it."""
        row = await self.get(name)
        if row is not None:
            row.ptr = {**row.ptr, **ptr}
            row.updated_at = utcnow()

    async def set_port25(self, name: str, state: str, source: str) -> bool:
        """Record port 25's state; False when we have no such server."""
        if state not in PORT25_STATES:
            raise ValueError(f"port25 is one of {', '.join(PORT25_STATES)}")
        row = await self.get(name)
        if row is None:
            return False
        row.port25, row.port25_source, row.updated_at = state, source, utcnow()
        return True

    async def set_error(self, name: str, error: str | None) -> None:
        """The last failure of a server's steps (shown by `server show` and the plan)."""
        row = await self.get(name)
        if row is not None:
            row.last_error = error

    async def forget(self, name: str) -> None:
        """Drop a deleted server's facts."""
        await self.session.execute(delete(VpsServerRecord).where(VpsServerRecord.name == name))
