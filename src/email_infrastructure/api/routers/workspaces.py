"""`/api/v1/workspaces`: the workspaces a key may see, one of them, and a new one (operator admin keys).

Every other route acts in a workspace: un-prefixed in the key's own (an operator key's: `default`),
or under `/api/v1/workspaces/{workspace}/…` (app.py includes their routers under both prefixes).
"""

from __future__ import annotations

from fastapi import APIRouter, status

from email_infrastructure.api.deps import AppDep, OperatorAdminKey, ReadKey, WorkspaceName
from email_infrastructure.api.schemas import Envelope, WorkspaceIn, WorkspaceList, WorkspaceOut, ok
from email_infrastructure.services import scope as workspace_scope
from email_infrastructure.services import workspaces
from email_infrastructure.services.workspaces import WorkspaceInfo

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


def _out(info: WorkspaceInfo) -> WorkspaceOut:
    return WorkspaceOut.model_validate(info.as_dict())


@router.get("", response_model=Envelope[WorkspaceList])
async def list_workspaces(app: AppDep, key: ReadKey) -> Envelope[WorkspaceList]:
    """Every workspace with its counts for an operator key; a workspace key sees only its own."""
    return ok(WorkspaceList(items=[_out(i) for i in await workspaces.visible_to(app, key)]))


@router.post("", response_model=Envelope[WorkspaceOut], status_code=status.HTTP_201_CREATED)
async def create_workspace(app: AppDep, key: OperatorAdminKey, body: WorkspaceIn) -> Envelope[WorkspaceOut]:
    """Create an empty workspace (an operator key with the admin scope; a workspace key gets 403)."""
    made = await workspaces.create(app, body.name)
    return ok(_out(await workspaces.show(app, made.name)))


@router.get("/{workspace}", response_model=Envelope[WorkspaceOut])
async def show_workspace(app: AppDep, key: ReadKey, workspace: WorkspaceName) -> Envelope[WorkspaceOut]:
    """One workspace with its counts: a workspace key's own, any for an operator key (else 404)."""
    # the Guard resolved `{workspace}` for this key (404 for another or an unknown one) and entered it
    chosen = workspace_scope.chosen()
    assert chosen is not None and chosen.name is not None
    return ok(_out(await workspaces.show(app, chosen.name)))
