"""FastAPI dependencies (`Annotated` style): the App, the current API key with its scope, the rate limit,
and the workspace the request acts in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from email_infrastructure.api.ratelimit import Category, RateLimiter
from email_infrastructure.core.names import WORKSPACE_NAME_PATTERN
from email_infrastructure.services import scope as workspace_scope
from email_infrastructure.services.apikeys import (
    ApiKeyService,
    AuthenticationError,
    KeyInfo,
    PermissionDeniedError,
    Scope,
    require,
)
from email_infrastructure.services.app import App
from email_infrastructure.services.queue import TaskQueue
from email_infrastructure.services.workspaces import request_scope

_bearer = HTTPBearer(auto_error=False, description="An API key from `email-infra apikey create`.")


# async, though they do not wait: FastAPI runs a plain `def` dependency in a worker thread
async def get_app(request: Request) -> App:
    """The App the lifespan opened."""
    app: App = request.app.state.app
    return app


async def get_runner(request: Request) -> TaskQueue:
    """The task queue background jobs are submitted to."""
    runner: TaskQueue = request.app.state.runner
    return runner


AppDep = Annotated[App, Depends(get_app)]
RunnerDep = Annotated[TaskQueue, Depends(get_runner)]


async def current_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> KeyInfo:
    """The verified key of the request (401 without one, or with a bad one; 429 after too many bad ones)."""
    keys: ApiKeyService = request.app.state.keys
    presented = credentials.credentials if credentials else None
    try:
        return await keys.verify(presented)
    except AuthenticationError:
        if presented:  # a request without a key is not an attempt
            limiter: RateLimiter = request.app.state.limiter
            limited = await limiter.auth_failed(request.client.host if request.client else "unknown")
            if limited is not None:
                raise limited from None
        raise


#: the path parameter naming the workspace a route acts in (`/api/v1/workspaces/{workspace}/…`)
WORKSPACE = "workspace"


#: `{workspace}` as OpenAPI shows it
WorkspaceName = Annotated[
    str,
    Path(
        max_length=64,
        pattern=WORKSPACE_NAME_PATTERN,
        description="the workspace to act in: a workspace key's own, or any for an operator key "
        "(another workspace's, or one that does not exist, answers 404)",
        examples=["default"],
    ),
]


async def workspace_path(workspace: WorkspaceName) -> str:
    """Declares `{workspace}` (OpenAPI, validation) on the routers included under the workspace prefix; the
    `Guard` acts on it."""
    return workspace


class Guard:
    """A scope the route needs and the rate limit it counts against (after the key is verified); then the
    workspace the request acts in.

    Every route that reads or writes state takes a Guard, so choosing the workspace here means no route
    can forget it: `{workspace}` from the path when the route has one, else the key's own (an operator
    key's: `default`), through `services.workspaces.request_scope` (404 for another workspace or an
    unknown one, the same body). It is entered for the rest of the request's task (`services.scope.enter`):
    every unit of work the handler opens acts in it, and storage filters to it. A streamed body must
    capture it (`chosen()`) while the handler runs; the routers that stream do.
    """

    def __init__(self, scope: Scope, category: Category, *, operator: bool = False) -> None:
        self.scope = scope
        self.category = category
        #: only an operator key may use the route (creating workspaces)
        self.operator = operator

    async def __call__(
        self, request: Request, response: Response, key: Annotated[KeyInfo, Depends(current_key)]
    ) -> KeyInfo:
        """The key, once its scope is checked (403), the request counted (429) and its workspace entered (404)."""
        require(key, self.scope)
        if self.operator and not key.operator:
            raise PermissionDeniedError(f"this needs an operator key; the key {key.name!r} is of one workspace")
        limiter: RateLimiter = request.app.state.limiter
        route = request.scope.get("route")
        path = getattr(route, "path_format", request.url.path)
        headers = await limiter.hit(self.category, key.name, f"{request.method} {path}")
        response.headers.update(headers)
        # routes that return a Response of their own (metrics, streams) copy these from here
        request.state.rate_limit_headers = headers
        # counted before the workspace is looked up: probing names costs the key's budget like any request
        chosen = await request_scope(request.app.state.app, key, request.path_params.get(WORKSPACE))
        workspace_scope.enter(chosen)
        return key


#: read scope, the read (status) limit: GET routes
ReadKey = Annotated[KeyInfo, Depends(Guard("read", "read"))]
#: read scope, the write (create) limit: routes that start costly work but change nothing (plan, audit, checks)
ReadCreateKey = Annotated[KeyInfo, Depends(Guard("read", "write"))]
#: write scope, the write limit: routes that change desired state or apply
WriteKey = Annotated[KeyInfo, Depends(Guard("write", "write"))]
#: admin scope (credentials), the read limit
AdminKey = Annotated[KeyInfo, Depends(Guard("admin", "read"))]
#: admin scope of an operator key, the write limit: routes that change the workspaces themselves
OperatorAdminKey = Annotated[KeyInfo, Depends(Guard("admin", "write", operator=True))]


def actor(key: KeyInfo) -> str:
    """The event source of a change made with `key`."""
    return f"api:{key.name}"


def json_response(request: Request, envelope: BaseModel, status_code: int = 200) -> Response:
    """An envelope serialised by pydantic directly, with the request's rate-limit headers."""
    return Response(
        envelope.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=dict(getattr(request.state, "rate_limit_headers", {})),
    )
