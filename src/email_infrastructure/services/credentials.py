"""Reading one domain's mailbox passwords: the read and its audit event are one unit of work.

No face writes the `api.credentials.read` event itself: the service that hands the passwords
out records who read them, in the transaction that read them, so no face can forget it.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.core.inventory.mail import has_mail_backend, no_mail_backend
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.core.secret_names import password_key
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.services.app import App
from email_infrastructure.services.events import CREDENTIALS_READ, CredentialsReadPayload


@dataclass(frozen=True)
class Credential:
    """A mailbox's address, its vault password (None until the mail server confirmed one) and its host."""

    address: str
    password: str | None
    host: str


def _absent(name: str) -> NotFoundError:
    return NotFoundError(f"{name} is not a domain of the desired state (see `email-infra domain list`)")


async def read_credentials(app: App, domain: str, actor: str) -> list[Credential]:
    """The domain's mailboxes with their passwords, recording the read (`api.credentials.read`) by `actor`.

    NotFoundError (and no event) when the domain is not in the desired state; UserError when it is on
    no mail backend.
    """
    try:
        wanted = normalise_domain(domain)
    except ValueError as exc:
        raise NotFoundError(f"{domain!r} is not a domain of the desired state ({exc})") from None
    if not app.has_state():
        raise _absent(wanted)
    async with app.uow() as uow:
        rows = await uow.desired.closure(wanted)
        if rows is None:
            raise _absent(wanted)
        from email_infrastructure.services.desired import from_rows

        inventory = from_rows(rows).inventory()
        resolved = inventory.resolve(inventory.domains[0])
        if not has_mail_backend(resolved):
            reason = no_mail_backend(resolved)
            raise UserError(
                f"not a domain on a mail backend in the desired state: {wanted}" + (f" ({reason})" if reason else "")
            )
        addresses = [p.address(wanted) for p in personas(resolved)]
        stored = await uow.secrets().get_many([password_key(a) for a in addresses])
        uow.emit(CREDENTIALS_READ, CredentialsReadPayload(domain=wanted, mailboxes=len(addresses)), source=actor)
        await uow.commit()
    host = resolved.server.hostname if resolved.server else ""
    return [Credential(a, stored.get(password_key(a)), host) for a in addresses]


__all__ = ["Credential", "read_credentials"]
