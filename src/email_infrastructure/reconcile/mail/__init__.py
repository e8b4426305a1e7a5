"""Mail steps: the mail domain, the server's DKIM key, then mailboxes and aliases once DNS is there.

    mail.domain:<d>  →  dkim.key:<d> (the server's key)  →  dns.zone:<d>  →  mail.mailboxes:<d>

One file per step kind: `domain.py`, `dkim.py`, `mailboxes.py` (its aliases, forwards and catch-all in
`aliases.py`), and `removal.py` for a mail domain we created that no domain wants any more
(mailboxes → domain → DKIM key, with `prune`).
`common.py` holds what they share (intents, the DKIM key size, the stand-in for a backend that
cannot be built), `mailbox_ops.py` what creating and removing mailboxes share (the vault, the
deletion threshold). Every change is logged exactly once through an intent (see `common.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.mailcow.backend import MailBackend, MailDomain
from email_infrastructure.mailcow.naming import personas
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.mail.common import NoBackend
from email_infrastructure.reconcile.mail.dkim import MailDkimStep
from email_infrastructure.reconcile.mail.domain import MailDomainStep
from email_infrastructure.reconcile.mail.mailboxes import MailboxesStep

#: Mailcow's Default domain template allows 10 mailboxes; we never ask for fewer
MIN_MAILBOX_CAP = 10


def mail_steps(
    ctx: ReconcileContext,
    domain: ResolvedDomain,
    backend: MailBackend | None,
    vault: Mapping[tuple[str, str], str],
    error: str = "",
    *,
    prune: bool = False,
    server_step: str | None = None,
) -> tuple[MailDomainStep, MailDkimStep, MailboxesStep]:
    """The three steps of a domain on a mail backend (a backend that cannot be built fails them)."""
    people = personas(domain)
    stand_in: MailBackend = backend if backend is not None else NoBackend()
    quota = stand_in.mailbox_quota_mib
    cap = max(MIN_MAILBOX_CAP, len(people))
    wanted = MailDomain(domain.name, cap, quota, quota * cap)
    mine = {k: v for k, v in vault.items() if k[0] == f"domain:{domain.name}"}
    return (
        MailDomainStep(
            ctx, domain, stand_in, wanted, f"{domain.name}: {error}" if error else "", server_step=server_step
        ),
        MailDkimStep(ctx, domain, stand_in),
        MailboxesStep(ctx, domain, stand_in, people, quota, mine, prune),
    )
