"""The errors hierarchy: every error the user can see derives from EmailInfraError."""

from __future__ import annotations

import re
from typing import Any


class EmailInfraError(Exception):
    """Base of every error this project raises on purpose."""

    #: process exit code when this error ends a CLI command (2 = user error, 1 = internal)
    exit_code = 1


class UserError(EmailInfraError):
    """Something the user gave us is wrong (input, configuration, arguments)."""

    exit_code = 2


class NotFoundError(UserError):
    """What was asked for does not exist (a domain, a job, a plan): 404 over the API."""


class ConflictError(UserError):
    """It exists already, or another owner holds it; nothing was written: 409 over the API.

    The message says what is in the way in any face's words; `cli_hint` is how the command line
    goes past it (its `--force`), which the CLI adds and the API does not (its way is another route).
    """

    def __init__(self, message: str, *, cli_hint: str = "") -> None:
        super().__init__(message)
        self.cli_hint = cli_hint


class ConfigError(UserError):
    """Settings or environment are invalid."""


_PROBLEM = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$", re.S)
_HINT = re.compile(r"\s*\((?P<hint>did you mean [^)]*)\)")


class InventoryError(UserError):
    """The inventory file cannot be used; carries every problem found (`FILE:LINE:COL: message`)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems) if problems else "invalid inventory")

    def structured(self) -> list[dict[str, Any]]:
        """Each problem as {file, line, column, message, hint} (the hint is a "did you mean")."""
        out: list[dict[str, Any]] = []
        for problem in self.problems:
            match = _PROBLEM.match(problem)
            if match is None:
                out.append({"file": None, "line": None, "column": None, "message": problem, "hint": None})
                continue
            message, hint = match["message"], None
            found = _HINT.search(message)
            if found:
                hint, message = found["hint"], (message[: found.start()] + message[found.end() :]).strip()
            out.append(
                {
                    "file": match["file"],
                    "line": int(match["line"]),
                    "column": int(match["column"]),
                    "message": message,
                    "hint": hint,
                }
            )
        return out


class SecretReferenceError(UserError):
    """An `env:NAME` secret reference cannot be resolved."""


class VaultError(EmailInfraError):
    """A secret cannot be encrypted or decrypted."""


class StorageError(EmailInfraError):
    """The database cannot be reached or used."""

    exit_code = 2


class ProviderError(EmailInfraError):
    """A vendor API (DNS host, mail server, VPS) failed."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        #: the vendor's own error code (Cloudflare's 81057, …), when it gives one
        self.code = code
        #: the vendor's structured errors, e.g. [{"code": 81057, "message": "…"}]
        self.details = list(details or [])
        prefix = f"{provider}: " if provider else ""
        super().__init__(f"{prefix}{message}")


class ProviderAuthError(ProviderError):
    """Credentials were refused (401/403)."""


class ProviderRateLimitError(ProviderError):
    """The vendor kept answering 429 after our retries."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = 429,
        retry_after: float | None = None,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider, status=status, code=code, details=details)


class ProviderNotFoundError(ProviderError):
    """The resource (zone, record, server) does not exist at the vendor."""


class ProviderConflictError(ProviderError):
    """The vendor refused a write because of a conflicting resource."""


class ProviderValidationError(ProviderError):
    """The vendor refused a request as invalid (400/422)."""


class ProviderServerError(ProviderError):
    """The vendor kept failing with 5xx after our retries."""


class ProviderTimeoutError(ProviderError):
    """The vendor could not be reached in time after our retries."""


class VerificationError(ProviderError):
    """A write was acknowledged but reading it back shows it did not happen."""
