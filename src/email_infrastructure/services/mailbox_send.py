"""Send a test message through a mailbox of the desired state (its vault password), as a sending
platform would, and optionally verify the copy a recipient mailbox received (delivery/message.py).

Signing: a domain on a mail backend is signed by its server (Mailcow's own DKIM). A domain
without one has a locally generated key in the vault (reconcile/dkim_step.py), and nothing on the
way signs for it: send-test signs the message itself before submitting it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.secret_names import dkim_key, password_key
from email_infrastructure.delivery.logins import CheckOptions, LoginStatus
from email_infrastructure.delivery.message import build_message, fetch_by_message_id, sign, submit, trace, wire_bytes
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.monitoring.resolver import Resolver, parse_nameserver
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.desired import desired_inventory
from email_infrastructure.services.message_auth import Verification, verify_message


@dataclass(frozen=True)
class SendResult:
    """What the submission server said about one test message."""

    from_address: str
    to: str
    host: str
    port: int
    status: LoginStatus
    answer: str
    message_id: str
    #: the DKIM selector send-test signed with (None: left to the mail server)
    signed_with: str | None = None
    #: with `verify`: the receiving side's verdicts on the copy fetched from the recipient's mailbox
    verification: Verification | None = None
    #: with `verify`: how the copy was found (or why it was not)
    received: str = ""

    @property
    def outcome(self) -> LoginStatus:
        """The submission's status; once accepted, the verification's (unknown if it did not arrive)."""
        if self.status is not LoginStatus.PASS or not self.received:
            return self.status
        if self.verification is None:
            return LoginStatus.UNKNOWN
        return LoginStatus(self.verification.status.value)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "status": self.status.value,
            "from": self.from_address,
            "to": self.to,
            "host": self.host,
            "port": self.port,
            "answer": self.answer,
            "message_id": self.message_id,
            "dkim_signed_by": self.signed_with,
            **({"outcome": self.outcome.value, "received": self.received} if self.received else {}),
            **({"verification": self.verification.to_json()} if self.verification else {}),
        }


def _find(domains: list[ResolvedDomain], address: str) -> tuple[ResolvedDomain, str]:
    """The domain on a server with this mailbox, and the address as the desired state spells it."""
    wanted = address.strip().lower()
    for domain in domains:
        if domain.server is None:
            continue
        for person in personas(domain):
            if person.address(domain.name).lower() == wanted:
                return domain, person.address(domain.name)
    raise UserError(f"{address} is not a mailbox of a domain on a server in the desired state")


async def send_test(
    app: App,
    from_address: str,
    to: str,
    *,
    options: CheckOptions | None = None,
    sign_locally: bool = True,
    verify: VerifyOptions | None = None,
) -> SendResult:
    """Submit a test message from a mailbox of the desired state (its vault password) to `to`;
    with `verify`, fetch it from `to` (a mailbox of the desired state too) and check its SPF, DKIM, DMARC."""
    options = options or CheckOptions()
    local, at, host = to.rpartition("@")
    # whitespace or a line break would let the address write headers of its own
    if not (local and at and host) or any(c.isspace() or not c.isprintable() for c in to):
        raise UserError(f"the recipient {to!r} is not an email address")
    await require_state(app)
    inventory = await desired_inventory(app)
    domain, address = _find(inventory.resolved_domains(), from_address)
    inbox: tuple[str, str, str] | None = None
    if verify is not None:
        inbox_domain, inbox_address = _find(inventory.resolved_domains(), to)
        assert inbox_domain.server is not None
        async with app.uow() as uow:
            inbox_password = await uow.secrets().get(*password_key(inbox_address))
        if inbox_password is None:
            raise UserError(f"the password of {inbox_address} is not confirmed in the vault (run apply)")
        inbox = (inbox_domain.server.hostname, inbox_address, inbox_password)
        for server in verify.nameservers:
            parse_nameserver(server)  # a typo refused before anything is sent
    assert domain.server is not None  # _find keeps domains on a server only
    selector = domain.dkim_selector
    async with app.uow() as uow:
        password = await uow.secrets().get(*password_key(address))
        key = await uow.secrets().get(*dkim_key(domain.name, selector)) if not domain.server.mail_backend else None
    if password is None:
        raise UserError(f"the password of {address} is not confirmed in the vault (run apply)")
    token = uuid.uuid4().hex[:12]
    message = build_message(address, to, domain.name, token)
    raw = wire_bytes(message)
    signed_with = None
    if sign_locally and key is not None:
        raw = sign(raw, domain.name, selector, key)
        signed_with = f"{selector}._domainkey.{domain.name}"
    host = domain.server.hostname
    status, answer = await asyncio.to_thread(submit, host, address, password, to, raw, options)
    result = SendResult(
        address, to, host, options.submission_port, status, answer, str(message["Message-ID"]), signed_with
    )
    if inbox is None or verify is None or status is not LoginStatus.PASS:
        return result
    fetched, received = await asyncio.to_thread(fetch_by_message_id, *inbox, result.message_id, options, verify.wait)
    if fetched is None:
        return replace(result, received=received)
    hop = trace(fetched)
    if hop is None:
        return replace(result, received="the copy has no SMTP Received header with an IP address")
    ip, helo, mail_from = hop
    resolver = Resolver.from_strings(verify.nameservers)
    try:
        verification = await verify_message(fetched, ip=ip, mail_from=mail_from, helo=helo, resolver=resolver)
    finally:
        await resolver.close()
    hop_text = f"{received}; from {ip} (HELO {helo}), MAIL FROM <{mail_from}>"
    return replace(result, received=hop_text, verification=verification)


@dataclass(frozen=True)
class VerifyOptions:
    """Where the verifier asks DNS (none: the system's resolver) and how long the copy may take."""

    nameservers: list[str] = field(default_factory=list)
    wait: float = 60.0
