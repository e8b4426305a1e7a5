"""`OPTIONS` and 405 answers whose `Allow` lists every method of the path, not those of one route.

FastAPI makes one route per method: `GET`, `PUT` and `DELETE /domains/{name}` are three routes,
and a 405 named the methods of whichever matched the path first (`Allow: GET`); OPTIONS was a 405.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from email_infrastructure.api.errors import error_response

#: the methods asked about; OPTIONS is answered here for every path that has a route
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route fully matches for the request's path (OPTIONS added when there is one)."""
    allowed = [
        method
        for method in METHODS
        if any(route.matches(dict(scope, method=method))[0] is Match.FULL for route in routes)
    ]
    return [*allowed, "OPTIONS"] if allowed else []


class AllowedMethods:
    """Answers OPTIONS with 204 and `Allow`; sets `Allow` on a 405 to every method of the path."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the router's own list: routes added later (extensions) count too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes, scope)
            response: Response
            if methods:
                response = Response(status_code=204, headers={"Allow": ", ".join(methods)})
            else:
                response = error_response(HTTPException(404))
            await response(scope, receive, send)
            return

        async def allow(message: Message) -> None:
            # only an answer that is a 405 pays for the look-up
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(self.routes, scope)
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", ", ".join(methods).encode())]}
            await send(message)

        await self.app(scope, receive, allow)


__all__ = ["AllowedMethods", "allowed_methods"]
