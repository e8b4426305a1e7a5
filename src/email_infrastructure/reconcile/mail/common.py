"""What every mail step shares: the DKIM key size, where intents are kept and how they are written,
confirmed or settled, and the stand-in for a mail backend that could not be built.

Every change is logged exactly once: its event is written as an *intent* (`event_intents`, one
scope per step kind, backend and domain) in a transaction before the API call, and confirmed into
the audit log after the read-back. A run killed in between leaves the intent; the next plan
compares it with what the server shows now, and its apply settles it: confirmed (the change was
made) or dropped (the change is planned again, with a new intent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.core.events import Event, P, Topic
from email_infrastructure.reconcile.context import ReconcileContext

#: the size of the DKIM keys the server makes (add/domain and add/dkim)
KEY_BITS = 2048


def step_error(subject: str, exc: EmailInfraError) -> str:
    """The error of a step about `subject`, named once (the provider's message may name it already)."""
    return str(exc) if subject in str(exc) else f"{subject}: {exc}"


def intent_scope(kind: str, backend: str, domain: str) -> str:
    """Where a mail step keeps the intents of its changes: `<kind>:<backend>:<domain>`."""
    return f"{kind}:{backend}:{domain}"


def dkim_scope(backend: str, domain: str) -> str:
    """Where the intents of a domain's DKIM key are kept (the domain step writes one too)."""
    return intent_scope("dkim.key", backend, domain)


def intent_made(event: Event, present: bool, *, deleted: Topic[Any], matches: bool = True) -> bool:
    """Whether an interrupted run's intent was carried out: a deletion once the thing is gone, any
    other change once it is there (and `matches` what the change wanted)."""
    return not present if event.topic == deleted.name else present and matches


async def intend(ctx: ReconcileContext, scope: str, topic: Topic[P], payload: P) -> Event:
    """Write the event of a change before making it (committed at once)."""
    async with ctx.uow() as uow:
        intent: Event = uow.intend(scope, topic, payload, source="mail")
        await uow.commit()
    return intent


async def confirm(ctx: ReconcileContext, intent: Event) -> None:
    """The change is made and read back: its intent goes into the audit log."""
    async with ctx.uow() as uow:
        await uow.confirm([intent])
        await uow.commit()


async def settle_intents(ctx: ReconcileContext, scope: str, made: Mapping[str, bool]) -> None:
    """An interrupted run's intents (by id: whether the change was made): into the audit log if it
    was, else dropped."""
    async with ctx.uow() as uow:
        pending = [e for e in await uow.intents.pending(scope) if e.id in made]
        await uow.confirm([e for e in pending if made[e.id]])
        await uow.intents.remove(e.id for e in pending if not made[e.id])
        await uow.commit()


class NoBackend:
    """Stands in for a mail backend that could not be built; the domain step carries the error."""

    name = "missing"
    mailbox_quota_mib = 0

    def __getattr__(self, attr: str) -> Any:
        raise ProviderError("no mail backend", provider=self.name)
