"""What the four sequencer clients share: the error reader and lost-create recovery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from email_infrastructure.core.errors import ProviderError, ProviderServerError, ProviderTimeoutError
from email_infrastructure.core.http import VendorClient
from email_infrastructure.sequencers.provider import AccountSettings, RemoteAccount

#: what a create whose answer was lost raises: the account may exist, so look before creating again
LOST_ANSWER = (ProviderTimeoutError, ProviderServerError)


class Unbatched:
    """A provider whose every change is sent at once: nothing to flush."""

    async def flush(self) -> list[str]:
        """Nothing was batched."""
        return []

    def warmups_sent(self) -> frozenset[str]:
        """Warmup is a field of the create or update here: no job is ever sent."""
        return frozenset()


def vendor_words(body: Any) -> str | None:
    """The message of a JSON error body: `message`/`error` strings, or nested under `error`/`data`."""
    if not isinstance(body, dict):
        return None
    for key in ("message", "error", "msg"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and (nested := vendor_words(value)):
            return nested
    return vendor_words(body.get("data"))


class SequencerClient(VendorClient):
    """A VendorClient whose error text comes only from message fields, never from the raw body.

    A body that is not JSON (Express's HTML page) may echo what was sent (a password), so it is
    replaced by the status phrase; a JSON body gives its message, never the whole object.
    """

    def error_message(self, response: httpx.Response) -> str:
        """The vendor's message, at most 300 characters; the status phrase when there is none."""
        try:
            body = response.json()
        except ValueError:
            return response.reason_phrase
        return (vendor_words(body) or response.reason_phrase)[:300]

    def error_details(self, response: httpx.Response) -> tuple[str | None, list[dict[str, Any]]]:
        """`errorCode`/`error.code` and Laravel's `errors{field: [messages]}` (top level or under `data`)."""
        try:
            body = response.json()
        except ValueError:
            return None, []
        if not isinstance(body, dict):
            return None, []
        code = body.get("errorCode")
        if isinstance(body.get("error"), dict):
            code = body["error"].get("code", code)
        errors = body.get("errors")
        if errors is None and isinstance(body.get("data"), dict):
            errors = body["data"].get("errors")
        details: list[dict[str, Any]] = []
        if isinstance(errors, dict):
            for field, messages in errors.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    details.append({"field": str(field), "message": str(message)})
        return (str(code) if code is not None else None), details


async def recover_lost_create(
    error: ProviderError, find: Callable[[], Awaitable[RemoteAccount | None]]
) -> RemoteAccount:
    """After a create failed without a clear refusal: the account if the vendor made it, else the error."""
    found = await find()
    if found is None:
        raise error
    return found


def with_settings(account: RemoteAccount, **changes: Any) -> RemoteAccount:
    """`account` with some settings replaced (a change the platform applies but does not echo)."""
    current = account.settings
    settings = AccountSettings(
        **{name: changes.get(name, getattr(current, name)) for name in current.__dataclass_fields__}
    )
    return RemoteAccount(account.remote_id, account.email, settings, account.health)


def merged(declared: AccountSettings, current: AccountSettings) -> AccountSettings:
    """Declared values where given, else the current ones (what a re-create must restore)."""
    values = {}
    for name in declared.__dataclass_fields__:
        wanted = getattr(declared, name)
        values[name] = getattr(current, name) if wanted is None or (name == "tags" and not wanted) else wanted
    return AccountSettings(**values)
