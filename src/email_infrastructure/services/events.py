"""Topics the application layer publishes (desired state, API keys, plans, jobs), with their payload types."""

from __future__ import annotations

from typing import Any, TypedDict

from email_infrastructure.core.events import Topic


class DesiredDomainPayload(TypedDict):
    """A domain of the desired state that was added, changed or removed, and its owner."""

    domain: str
    owner: str


class DesiredServerPayload(TypedDict):
    """A server of the desired state that was added or removed, and its owner."""

    server: str
    owner: str


class InventoryImportedPayload(TypedDict):
    """What an inventory import changed (names only)."""

    owner: str
    added: list[str]
    updated: list[str]
    removed: list[str]
    notes: list[str]


class ApiKeyPayload(TypedDict, total=False):
    """An API key that was created (with its scope) or revoked; never the key. Logged in the key's workspace
    (an operator key's: where install-wide rows live), `workspace` None for an operator key."""

    name: str
    prefix: str
    scope: str
    workspace: str | None


class PlanStoredPayload(TypedDict):
    """A plan kept so that it can be applied by id."""

    plan: str
    checksum: str | None


class JobQueuedPayload(TypedDict):
    """A background job that was submitted."""

    job: str
    kind: str
    params: dict[str, Any]


class JobFinishedPayload(TypedDict):
    """A background job that ended."""

    job: str
    kind: str
    status: str


class CredentialsReadPayload(TypedDict):
    """Mailbox credentials that were read (how many, never the passwords)."""

    domain: str
    mailboxes: int


class WorkspacePayload(TypedDict, total=False):
    """A workspace that was created, renamed (with its previous name) or removed."""

    workspace: str
    previous: str


DOMAIN_CREATED: Topic[DesiredDomainPayload] = Topic("desired.domain.created", DesiredDomainPayload)
DOMAIN_UPDATED: Topic[DesiredDomainPayload] = Topic("desired.domain.updated", DesiredDomainPayload)
DOMAIN_REMOVED: Topic[DesiredDomainPayload] = Topic("desired.domain.removed", DesiredDomainPayload)
MAILBOXES_UPDATED: Topic[DesiredDomainPayload] = Topic("desired.mailboxes.updated", DesiredDomainPayload)
SERVER_CREATED: Topic[DesiredServerPayload] = Topic("desired.server.created", DesiredServerPayload)
SERVER_REMOVED: Topic[DesiredServerPayload] = Topic("desired.server.removed", DesiredServerPayload)
INVENTORY_IMPORTED: Topic[InventoryImportedPayload] = Topic("desired.inventory.imported", InventoryImportedPayload)
WORKSPACE_CREATED: Topic[WorkspacePayload] = Topic("desired.workspace.created", WorkspacePayload)
WORKSPACE_RENAMED: Topic[WorkspacePayload] = Topic("desired.workspace.renamed", WorkspacePayload)
WORKSPACE_REMOVED: Topic[WorkspacePayload] = Topic("desired.workspace.removed", WorkspacePayload)
KEY_CREATED: Topic[ApiKeyPayload] = Topic("api.key.created", ApiKeyPayload)
KEY_REVOKED: Topic[ApiKeyPayload] = Topic("api.key.revoked", ApiKeyPayload)
PLAN_CREATED: Topic[PlanStoredPayload] = Topic("api.plan.created", PlanStoredPayload)
JOB_QUEUED: Topic[JobQueuedPayload] = Topic("api.job.queued", JobQueuedPayload)
JOB_FINISHED: Topic[JobFinishedPayload] = Topic("api.job.finished", JobFinishedPayload)
CREDENTIALS_READ: Topic[CredentialsReadPayload] = Topic("api.credentials.read", CredentialsReadPayload)
