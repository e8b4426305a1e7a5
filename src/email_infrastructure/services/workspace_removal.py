"""Removing a workspace: what it created at providers first (an apply of its emptied desired state), then its rows."""

from __future__ import annotations

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.reconcile.graph import Progress
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.plans import apply
from email_infrastructure.services.scope import Scope, acting_in
from email_infrastructure.services.workspaces import Removal, drop, held_by, refuse_if_held


class RemovalFailedError(EmailInfraError):
    """The apply that prunes a workspace did not finish: its rows are kept, a re-run carries on."""


async def remove(
    app: App, name: str, *, prune: bool = False, force: bool = False, progress: Progress | None = None
) -> Removal:
    """Remove a workspace; one that holds anything only with `prune`.

    `prune` empties the workspace's desired state of its domains and applies it with `--prune`, under
    the apply's guards (a plan deleting more than the safety threshold needs `force`): the records,
    mail domains and mailboxes its applies created at providers are deleted, while what other
    workspaces created on the same servers and zones is not theirs to touch. Only when that apply
    succeeds are the workspace's rows deleted; interrupted, a re-run converges. Servers created at a
    VPS provider are not destroyed (their names are in the counts).
    """
    counts = await held_by(app, name)
    if not prune:
        refuse_if_held(name, counts)
        await drop(app, name)
        return Removal(name, counts)
    status = None
    if counts["domains"] or counts["servers"]:
        with acting_in(Scope(name)):
            await _forget_domains(app)
            result = await apply(app, prune=True, force=force, progress=progress)
        status = result.status
        if result.failed:
            failed = ", ".join(o.key for o in result.failed[:5])
            raise RemovalFailedError(
                f"pruning workspace {name} failed ({failed}); its rows are kept: fix the cause and run it again"
            )
    await drop(app, name)
    return Removal(name, counts, status)


async def _forget_domains(app: App) -> None:
    """Drop every domain from the chosen workspace's desired state (the next apply deletes what we made)."""
    async with app.uow() as uow:
        rows = await uow.desired.load()
        for domain in rows.domains:
            await uow.desired.remove(domain)
            uow.emit(events.DOMAIN_REMOVED, events.DesiredDomainPayload(domain=domain.name, owner=domain.managed_by))
        await uow.commit()


__all__ = ["RemovalFailedError", "remove"]
