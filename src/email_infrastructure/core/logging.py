"""Structured logging (JSON in production) with a redaction filter for secrets."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"

_known_secrets: set[str] = set()
_lock = threading.Lock()

# Shapes of secrets we recognise even when nobody registered the value.
_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:x-api-key|x-auth-key|api[_-]?key|apikey|token|secret|password|passwd|pwd|"
        r"authorization)[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"',;&}]+"
    ),
    re.compile(r"gAAAAA[A-Za-z0-9_-]{40,}={0,2}"),  # Fernet tokens (vault ciphertext)
]
_SECRET_FIELD = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|apikey|private[_-]?key|authorization|dqs_key)"
)


def register_secret(value: str) -> None:
    """Remember a secret value so that it is removed wherever it shows up."""
    if value and len(value) >= 4:
        with _lock:
            _known_secrets.add(value)


def redact_text(text: str) -> str:
    """Remove registered secrets and secret-shaped substrings from a string."""
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.group(1) + REDACTED)
                if m.re.groups and m.group(1) and not m.group(1).startswith("-----")
                else REDACTED
            ),
            text,
        )
    return text


def redact(value: Any) -> Any:
    """Redact a JSON-like value: secret-named fields are replaced, strings are scrubbed."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_FIELD.search(k) and v else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Scrub the message, its arguments and any exception text before a record is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key.startswith("ctx_"):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k[4:]: v for k, v in vars(record).items() if k.startswith("ctx_")})
        if record.exc_text:
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


def setup_logging(level: str = "INFO", *, json_output: bool = False) -> None:
    """Configure the root logger once: one stderr handler with the redaction filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json_output else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_email_infra", False):
            root.removeHandler(old)
    handler._email_infra = True  # type: ignore[attr-defined]  # a marker on our handlers: a second setup replaces them
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party request logs carry URLs and headers; keep them quiet unless asked.
    for noisy in ("httpx", "httpcore", "asyncio", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
