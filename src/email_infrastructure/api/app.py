"""The FastAPI application: `create_app()` builds it; its lifespan owns the App, key verifier, limiter and task queue.

Extending it (the dashboard does): pass `extensions`, callables that receive the FastAPI app
before it starts, e.g. `lambda api: (api.include_router(pages), api.mount("/static", files))`.
Anything they add shares `api.state.app` (the App), `.keys`, `.limiter` and `.runner` (the task queue).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from email_infrastructure import __version__
from email_infrastructure.api import errors
from email_infrastructure.api.bodylimit import BodyLimit
from email_infrastructure.api.deps import workspace_path
from email_infrastructure.api.methods import AllowedMethods
from email_infrastructure.api.ratelimit import RateLimiter
from email_infrastructure.api.routers import (
    audit,
    changes,
    dmarc,
    domains,
    events,
    health,
    jobs,
    mailboxes,
    monitoring,
    plans,
    records,
    registrars,
    sequencers,
    status,
    whois,
    workspaces,
)
from email_infrastructure.api.schemas import ERROR_RESPONSES
from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.settings import Settings, load_settings
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import recover
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.queue import TaskQueue

_log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
#: the same routes with the workspace explicit (un-prefixed, they act in the key's own workspace)
WORKSPACE_PREFIX = f"{API_PREFIX}/workspaces/{{workspace}}"
#: the routers of one workspace's state, included under both prefixes
WORKSPACE_ROUTERS = (
    status,
    domains,
    records,
    mailboxes,
    plans,
    changes,
    jobs,
    monitoring,
    audit,
    whois,
    events,
    dmarc,
    sequencers,
    registrars,
)
#: where /docs loads Swagger UI's script, stylesheet and icon from: fastapi-offline's copy, not a CDN
DOCS_ASSETS = "/docs/static"
Extension = Callable[[FastAPI], None]
#: makes the task queue of the API process: in-process by default, saq from `serve` with REDIS_URL
RunnerFactory = Callable[[App], TaskQueue]


def create_app(
    app: App | None = None,
    settings: Settings | None = None,
    *,
    extensions: Sequence[Extension] = (),
    runner: RunnerFactory = InProcessQueue,
) -> FastAPI:
    """The API; with `app` given it is used (and left open), else one is made from `settings`."""
    config = app.settings if app is not None else (settings or load_settings())

    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        instance = app if app is not None else App(config)
        try:
            await instance.database()
        except EmailInfraError as exc:  # keep serving: /ready says what is wrong
            _log.error("the database cannot be used yet: %s", exc)
        limiter = RateLimiter(config)
        queue = runner(instance)
        api.state.app, api.state.keys, api.state.limiter, api.state.runner = (
            instance,
            ApiKeyService(instance),
            limiter,
            queue,
        )
        try:
            await recover(instance, queue)
        except EmailInfraError as exc:
            _log.error("queued jobs cannot be picked up: %s", exc)
        try:
            yield
        finally:
            await queue.close()
            await limiter.close()
            if app is None:
                await instance.close()

    # FastAPI's own /docs loads Swagger UI from a CDN (blank offline); FastAPIOffline serves it from
    # the fastapi-offline package under DOCS_ASSETS
    api = FastAPIOffline(
        title="email-infrastructure",
        version=__version__,
        description="Control plane for cold-email infrastructure. Authenticate with `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        static_url=DOCS_ASSETS,
    )
    for router in WORKSPACE_ROUTERS:
        api.include_router(router.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    api.include_router(workspaces.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for router in WORKSPACE_ROUTERS:
        # the Guard of each route acts in `{workspace}`; this dependency declares it (OpenAPI, validation)
        api.include_router(
            router.router, prefix=WORKSPACE_PREFIX, responses=ERROR_RESPONSES, dependencies=[Depends(workspace_path)]
        )
    api.include_router(health.router, responses=ERROR_RESPONSES)
    api.add_middleware(AllowedMethods, routes=api.router.routes)
    errors.install(api)
    api.add_middleware(BodyLimit, limit=config.api_max_body_bytes)
    if config.api_cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.api_cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    for extend in extensions:
        extend(api)
    return api


def factory() -> FastAPI:
    """For `uvicorn --factory email_infrastructure.api.app:factory`: settings from the environment."""
    return create_app(settings=load_settings())
