"""`GET /api/v1/domains/{name}/mailboxes/credentials`: mailbox passwords, admin scope only, one domain at a time.

Never part of a list: `/domains` shows addresses only. Each read is recorded in the audit log
with the key that made it (by the service, services/credentials.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from email_infrastructure.api.deps import AdminKey, AppDep, actor
from email_infrastructure.api.schemas import Credential, Envelope, ok
from email_infrastructure.services.credentials import read_credentials

router = APIRouter(prefix="/domains", tags=["mailboxes"])


@router.get("/{name}/mailboxes/credentials", response_model=Envelope[list[Credential]])
async def mailbox_credentials(app: AppDep, key: AdminKey, name: str) -> Envelope[list[Credential]]:
    """The domain's mailboxes with their vault passwords (null until the mail server confirmed one)."""
    found = await read_credentials(app, name, actor(key))
    return ok([Credential(address=c.address, password=c.password, host=c.host) for c in found])
