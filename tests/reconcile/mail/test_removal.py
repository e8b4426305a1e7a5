"""The removal steps' shared plan (RemovalStep.plan) with an in-memory backend: no database, no Mailcow."""

from __future__ import annotations

from typing import Any, cast

import pytest

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.mailcow.backend import DkimKey, Mailbox, MailDomain
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Graph, StepPlan
from email_infrastructure.reconcile.mail.removal import (
    MailboxesRemovalStep,
    MailDkimRemovalStep,
    MailDomainRemovalStep,
    RemovalStep,
    removal_steps,
)


class Backend:
    """What a removal plan reads, from memory; `broken` makes every read fail."""

    name = "mc"
    mailbox_quota_mib = 1024

    def __init__(self, *, broken: str = "") -> None:
        self.broken = broken
        self.domain: MailDomain | None = MailDomain("gone.test", 10, 1024, 10240)
        self.key: DkimKey | None = DkimKey("mail", "MIIB", 2048)
        self.listed = [
            Mailbox("b@gone.test", "B", 1024, None),
            Mailbox("a@gone.test", "A", 1024, None),
            Mailbox("x@other.test", "X", 1024, None),
        ]

    def _read(self, value: Any) -> Any:
        if self.broken:
            raise EmailInfraError(self.broken)
        return value

    async def read_domain(self, domain: str) -> MailDomain | None:
        return cast(MailDomain | None, self._read(self.domain))

    async def read_dkim(self, domain: str) -> DkimKey | None:
        return cast(DkimKey | None, self._read(self.key))

    async def mailboxes(self, domain: str) -> list[Mailbox]:
        return cast(list[Mailbox], self._read(self.listed))


class Context:
    """No interrupted run left intents."""

    async def intents(self, scope: str) -> list[Any]:
        return []


CTX = cast(ReconcileContext, Context())


async def _plans(steps: list[Any]) -> dict[str, StepPlan]:
    return {p.key: p for p in (await Graph(steps).plan()).steps}


async def test_with_prune_mailboxes_then_domain_then_key_each_a_deletion() -> None:
    steps = removal_steps(CTX, "gone.test", cast(Any, Backend()), "", prune=True)
    assert [(s.key, s.depends_on) for s in steps] == [
        ("mail.mailboxes:gone.test", ()),
        ("mail.domain:gone.test", ("mail.mailboxes:gone.test",)),
        ("dkim.key:gone.test", ("mail.domain:gone.test",)),
    ]
    plans = await _plans(steps)
    boxes = plans["mail.mailboxes:gone.test"]
    assert [c.resource for c in boxes.changes] == ["mailbox a@gone.test", "mailbox b@gone.test"]
    assert any("x@other.test" in note for note in boxes.notes)  # another domain's: never deleted
    assert [(c.action, c.resource) for c in plans["mail.domain:gone.test"].changes] == [
        ("delete", "mail domain gone.test at mc")
    ]
    key = plans["dkim.key:gone.test"]
    assert [c.old for c in key.changes] == [{"selector": "mail", "bits": 2048}]
    assert key.housekeeping and key.component == "dkim"


async def test_without_prune_only_the_domain_step_notes_what_prune_would_remove() -> None:
    steps = removal_steps(CTX, "gone.test", cast(Any, Backend()), "", prune=False)
    assert [s.key for s in steps] == ["mail.domain:gone.test"]
    plan = (await _plans(steps))["mail.domain:gone.test"]
    assert not plan.changes and not plan.error
    assert "--prune removes it" in plan.notes[0]


@pytest.mark.parametrize("step", [MailboxesRemovalStep, MailDomainRemovalStep, MailDkimRemovalStep])
@pytest.mark.parametrize("prune", [True, False])
async def test_a_server_that_cannot_be_read_is_an_error_with_prune_and_a_note_without(
    step: type[RemovalStep[Any]], prune: bool
) -> None:
    removal = step(CTX, "gone.test", cast(Any, Backend(broken="HTTP 500")), prune=prune, key="k")
    plan = await removal.plan({})
    assert not plan.changes and not plan.housekeeping
    if prune:
        assert (plan.error, plan.notes) == ("gone.test: HTTP 500", [])
    else:
        assert (plan.error, plan.notes) == (None, ["gone.test: a mail domain we created, not read (HTTP 500)"])


async def test_a_backend_that_cannot_be_built_is_reported_once_by_the_first_step() -> None:
    steps = removal_steps(CTX, "gone.test", None, "gone.test: no mail provider named 'mc'", prune=True)
    plans = await _plans(steps)
    assert plans["mail.mailboxes:gone.test"].error == "gone.test: no mail provider named 'mc'"
    assert plans["mail.domain:gone.test"].error == (
        "mail.domain:gone.test: not planned, mail.mailboxes:gone.test cannot be planned"
    )
    # without prune the same error is a note of the one step
    (alone,) = removal_steps(CTX, "gone.test", None, "no mail provider named 'mc'", prune=False)
    plan = await alone.plan({})
    assert plan.notes == ["gone.test: a mail domain we created, not read (no mail provider named 'mc')"]


async def test_nothing_left_on_the_server_plans_no_deletion_but_still_releases_the_domain() -> None:
    backend = Backend()
    backend.domain, backend.key, backend.listed = None, None, []
    plans = await _plans(removal_steps(CTX, "gone.test", cast(Any, backend), "", prune=True))
    assert not any(p.changes or p.error for p in plans.values())
    assert plans["dkim.key:gone.test"].housekeeping  # apply forgets that the domain was ours
