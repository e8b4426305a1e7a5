"""`GET /api/v1/domains/{name}/mailboxes/credentials`: mailbox passwords, admin scope only, one domain at a time.

Never part of a list: `/domains` shows addresses only. Each read is recorded in the audit log
with the key that made it.
"""

from __future__ import annotations

from fastapi import APIRouter

from email_infrastructure.api.deps import AdminKey, AppDep, actor
from email_infrastructure.api.schemas import Credential, Envelope, ok
from email_infrastructure.services.events import CREDENTIALS_READ, CredentialsReadPayload

router = APIRouter(prefix="/domains", tags=["mailboxes"])


@router.get("/{name}/mailboxes/credentials", response_model=Envelope[list[Credential]])
async def mailbox_credentials(app: AppDep, key: AdminKey, name: str) -> Envelope[list[Credential]]:
    """The domain's mailboxes with their vault passwords (null until the mail server confirmed one)."""
    from email_infrastructure.services.domains import show_domain
    from email_infrastructure.services.export import mail_domains, stored_mailboxes

    wanted = (await show_domain(app, name)).name  # 404 for a domain that is not in the desired state
    _, (domain,) = await mail_domains(app, [wanted])
    boxes = await stored_mailboxes(app, domain)
    async with app.uow() as uow:
        uow.emit(CREDENTIALS_READ, CredentialsReadPayload(domain=wanted, mailboxes=len(boxes)), source=actor(key))
        await uow.commit()
    host = domain.server.hostname if domain.server else ""
    return ok([Credential(address=b.address, password=b.password, host=host) for b in boxes])
