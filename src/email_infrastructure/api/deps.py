"""FastAPI dependencies (`Annotated` style): the App, the current API key with its scope, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from email_infrastructure.api.ratelimit import Category, RateLimiter
from email_infrastructure.services.apikeys import ApiKeyService, AuthenticationError, KeyInfo, Scope, require
from email_infrastructure.services.app import App
from email_infrastructure.services.queue import TaskQueue

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


class Guard:
    """A scope the route needs and the rate limit it counts against (after the key is verified)."""

    def __init__(self, scope: Scope, category: Category) -> None:
        self.scope = scope
        self.category = category

    async def __call__(
        self, request: Request, response: Response, key: Annotated[KeyInfo, Depends(current_key)]
    ) -> KeyInfo:
        """The key, once its scope is checked (403) and the request counted (429)."""
        require(key, self.scope)
        limiter: RateLimiter = request.app.state.limiter
        route = request.scope.get("route")
        path = getattr(route, "path_format", request.url.path)
        headers = await limiter.hit(self.category, key.name, f"{request.method} {path}")
        response.headers.update(headers)
        # routes that return a Response of their own (metrics, streams) copy these from here
        request.state.rate_limit_headers = headers
        return key


#: read scope, the read (status) limit: GET routes
ReadKey = Annotated[KeyInfo, Depends(Guard("read", "read"))]
#: read scope, the write (create) limit: routes that start costly work but change nothing (plan, audit, checks)
ReadCreateKey = Annotated[KeyInfo, Depends(Guard("read", "write"))]
#: write scope, the write limit: routes that change desired state or apply
WriteKey = Annotated[KeyInfo, Depends(Guard("write", "write"))]
#: admin scope (credentials), the read limit
AdminKey = Annotated[KeyInfo, Depends(Guard("admin", "read"))]


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
