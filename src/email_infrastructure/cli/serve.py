"""`email-infra serve`: the REST API (and what extends it) with uvicorn; SIGTERM shuts it down cleanly.

With REDIS_URL, jobs (plan applies) run on `email-infra worker` processes; without it, in this one.
"""

from __future__ import annotations

import importlib
import signal
from typing import Annotated

import typer

from email_infrastructure.cli.common import call, err_console, settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless you put a proxy in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    login_key: Annotated[
        str | None,
        typer.Option(
            "--login-key",
            metavar="NAME",
            help="Create (or replace) the admin key NAME and print it once, to log in to the dashboard.",
        ),
    ] = None,
) -> None:
    """Serve the API on http://HOST:PORT (docs at /docs) and the dashboard until SIGINT or SIGTERM."""
    import uvicorn

    from email_infrastructure.api.app import create_app
    from email_infrastructure.core import cache
    from email_infrastructure.dashboard import extension as dashboard
    from email_infrastructure.workers.queue import open_queue

    config = settings()
    if login_key is not None:
        from email_infrastructure.services.apikeys import ApiKeyService

        created = call(lambda app: ApiKeyService(app).replace(login_key, "admin", source="serve"))
        err_console.print(
            f"log in at http://{host}:{port} with the admin key {login_key!r} (shown only now; "
            f"`email-infra apikey revoke {login_key}` ends it):",
            soft_wrap=True,
            markup=False,
        )
        # stdout gets the key alone, as `apikey create` prints it
        typer.echo(created.key)
    # with REDIS_URL: rate limits, DNS answers and zone ids shared with the workers (as they do at
    # start-up), and applies run on the task queue's workers instead of this process
    cache.install(config)
    api = create_app(settings=config, extensions=[dashboard], runner=open_queue)
    loop, http = event_loop_and_parser()
    err_console.print(
        f"serving the dashboard and the API on http://{host}:{port} (API docs: /docs; {loop}, {http}); Ctrl-C stops it",
        soft_wrap=True,
    )
    # uvicorn handles SIGINT/SIGTERM itself: stop accepting, finish requests, run the lifespan's shutdown.
    server = uvicorn.Server(
        # log_config=None: uvicorn's records go through our handlers (redaction, JSON in production)
        uvicorn.Config(
            api, host=host, port=port, log_config=None, access_log=False, lifespan="on", loop=loop, http=http
        )
    )
    # After its shutdown uvicorn raises the signal again for the previous handler: SIGTERM is how
    # service managers stop us, and a clean stop exits 0, so that handler does nothing.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start (the port is taken, the lifespan failed)
        if exc.code in (0, None):
            raise
        err_console.print(f"error: cannot serve on {host}:{port} (see above)", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def event_loop_and_parser() -> tuple[str, str]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when installed, else asyncio and h11."""
    # Both are dependencies where they build (pyproject.toml); they took the API listing from 210 to 233
    # requests/s (docs/benchmarks.md). Chosen here rather than by uvicorn's "auto" so that the start-up
    # line says which ones run; an import that fails for any reason falls back like "auto" does.
    return (
        "uvloop" if _importable("uvloop") else "asyncio",
        "httptools" if _importable("httptools") else "h11",
    )


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
