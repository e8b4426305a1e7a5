"""The DKIM key step: a 2048-bit key per domain, generated at apply and kept in the vault.

Domains without a mail backend get a locally generated key; the Mailcow backend replaces this
step with one that asks the server for its key.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Mapping, Sequence

from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.rsa_keys import generate_keypair, public_key_b64
from email_infrastructure.core.secret_names import dkim_key
from email_infrastructure.dns.events import DKIM_KEY_CREATED, DkimKeyPayload
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import KNOWN_AFTER_APPLY, Outputs, Step, StepChange, StepPlan

KEY_BITS = 2048
#: RSA generation is CPU-bound and OpenSSL releases the GIL while it runs: one thread per core.
#: One semaphore per event loop: a semaphore belongs to the loop that first waited on it, and a
#: process may run several loops one after the other (`asyncio.run` per command or benchmark).
_GENERATORS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _generators() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _GENERATORS:
        _GENERATORS[loop] = asyncio.Semaphore(os.cpu_count() or 2)
    return _GENERATORS[loop]


class DkimKeyStep(Step):
    """`dkim.key:<domain>`: outputs `selector` and `public_key` (known after apply when new)."""

    component = "dkim"

    def __init__(
        self, ctx: ReconcileContext, domain: ResolvedDomain, private_key: str | None, *, notes: Sequence[str] = ()
    ) -> None:
        self.ctx = ctx
        self.domain = domain
        self.private_key = private_key
        self.key = f"dkim.key:{domain.name}"
        #: what the plan says about the domain's mail besides the key (mailboxes without a mail backend)
        self.notes = list(notes)

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Known when the vault holds the key; otherwise a key to generate at apply."""
        plan = self.new_plan()
        plan.notes += self.notes
        selector = self.domain.dkim_selector
        if self.private_key is not None:
            plan.outputs = {"selector": selector, "public_key": public_key_b64(self.private_key)}
            return plan
        plan.outputs = {"selector": selector, "public_key": KNOWN_AFTER_APPLY}
        plan.changes.append(
            StepChange("create", f"dkim key {selector} of {self.domain.name}", None, {"bits": KEY_BITS})
        )
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Generate, store at once (a kill later keeps it), and output the public key."""
        selector = self.domain.dkim_selector
        async with _generators():
            private, public = await asyncio.to_thread(generate_keypair, KEY_BITS)
        async with self.ctx.uow() as uow:
            await uow.secrets().put(*dkim_key(self.domain.name, selector), private)
            uow.emit(
                DKIM_KEY_CREATED,
                DkimKeyPayload(domain=self.domain.name, selector=selector, bits=KEY_BITS),
                source="dkim",
            )
            await uow.commit()
        return {"selector": selector, "public_key": public}
