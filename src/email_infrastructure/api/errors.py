"""The one mapping from exceptions to error envelopes: every error response of the API comes from here."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from email_infrastructure.core.errors import (
    ConflictError,
    EmailInfraError,
    InventoryError,
    NotFoundError,
    ProviderError,
    StorageError,
    UserError,
)
from email_infrastructure.core.logging import redact, redact_text
from email_infrastructure.services.apikeys import AuthenticationError, PermissionDeniedError

_log = logging.getLogger(__name__)


class RateLimitedError(EmailInfraError):
    """Too many requests for this key and route (429); `headers` say when to retry."""

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers


class PayloadTooLargeError(EmailInfraError):
    """The request body is larger than `api_max_body_bytes` (413)."""


#: most specific first: (class, HTTP status, code)
_MAPPING: list[tuple[type[BaseException], int, str]] = [
    (AuthenticationError, 401, "unauthorized"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (PayloadTooLargeError, 413, "payload_too_large"),
    (RateLimitedError, 429, "rate_limited"),
    (InventoryError, 400, "invalid_inventory"),
    (UserError, 400, "bad_request"),
    (StorageError, 503, "storage_unavailable"),
    (ProviderError, 502, "provider_error"),
]
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The input is left out: a rejected body may well carry a password.
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": _message(err), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]


def _message(err: Any) -> str:
    # pydantic's pattern message quotes the whole pattern (a domain name's is 300 characters)
    if err.get("type") == "string_pattern_mismatch":
        return "String should match the pattern of this field in the schema (/openapi.json)"
    return str(err.get("msg", ""))


def error_response(exc: BaseException) -> JSONResponse:
    """The envelope and status for any exception (unknown ones: 500, logged, no internals shown)."""
    headers: dict[str, str] = {}
    details: list[dict[str, Any]] | dict[str, Any] | None = None
    if isinstance(exc, RequestValidationError):
        status, code, message = 422, "validation_error", "the request does not match the schema"
        details = _validation_details(exc)
    elif isinstance(exc, StarletteHTTPException):
        status, code = exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error")
        message = str(exc.detail)
        headers = dict(exc.headers or {})
    else:
        found = next(((s, c) for cls, s, c in _MAPPING if isinstance(exc, cls)), None)
        if found is None:
            incident = uuid.uuid4().hex[:12]
            _log.error("internal error %s: %s", incident, type(exc).__name__, exc_info=exc)
            status, code, message = 500, "internal_error", f"internal error (incident {incident} is logged)"
        else:
            status, code = found
            message = str(exc)
            if isinstance(exc, InventoryError):
                details = exc.structured()
            elif isinstance(exc, ProviderError):
                details = {"provider": exc.provider, "status": exc.status, "code": exc.code}
            if isinstance(exc, RateLimitedError):
                headers = exc.headers
            elif isinstance(exc, AuthenticationError):
                headers = {"WWW-Authenticate": "Bearer"}
    body = {"success": False, "error": {"code": code, "message": redact_text(message), "details": redact(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    response = error_response(exc)
    # a request that was counted says so on its error too
    for name, value in getattr(request.state, "rate_limit_headers", {}).items():
        response.headers.setdefault(name, value)
    return response


class CatchAll:
    """Outermost: an exception no handler took becomes a 500 envelope (not Starlette's plain text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:  # too late for another response: the client sees the connection drop
                _log.error("error after the response started: %s", type(exc).__name__, exc_info=exc)
                return
            await error_response(exc)(scope, receive, send)


def install(api: FastAPI) -> None:
    """Register the handler for every class it maps."""
    for cls in (EmailInfraError, RequestValidationError, StarletteHTTPException):
        api.add_exception_handler(cls, _handle)
    api.add_middleware(CatchAll)
