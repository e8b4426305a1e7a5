"""`email-infra serve`: the REST API (and what extends it) with uvicorn; SIGTERM shuts it down cleanly."""

from __future__ import annotations

from typing import Annotated

import typer

from email_infrastructure.cli.common import err_console, settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless you put a proxy in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the API on http://HOST:PORT (docs at /docs) until SIGINT or SIGTERM."""
    import uvicorn

    from email_infrastructure.api.app import create_app
    from email_infrastructure.dashboard import extension as dashboard

    config = settings()
    api = create_app(settings=config, extensions=[dashboard])
    err_console.print(f"serving the API on http://{host}:{port} (docs: /docs); Ctrl-C stops it", soft_wrap=True)
    # uvicorn handles SIGINT/SIGTERM itself: stop accepting, finish requests, run the lifespan's shutdown.
    server = uvicorn.Server(
        uvicorn.Config(api, host=host, port=port, log_level=config.log_level.lower(), access_log=False, lifespan="on")
    )
    server.run()
    if server.started is False:
        raise typer.Exit(2)
