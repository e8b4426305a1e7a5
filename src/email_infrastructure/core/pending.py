"""Placeholder addresses of servers still to be created, and how plans show them."""

from __future__ import annotations

from typing import Any

#: what a server that does not exist yet stands in with while its zone is planned
PENDING_IPV4 = "0.0.0.0"  # noqa: S104  # a placeholder address in a plan, never bound to
PENDING_IPV6 = "::"
_SHOWN = "(known after apply)"
_TOKENS = {
    PENDING_IPV4: _SHOWN,
    PENDING_IPV6: _SHOWN,
    f"ip4:{PENDING_IPV4}": f"ip4:{_SHOWN}",
    f"ip6:{PENDING_IPV6}": f"ip6:{_SHOWN}",
}


def has_pending(values: list[str]) -> bool:
    """True when a record's values hold a placeholder address."""
    return any(token in _TOKENS for value in values for token in value.replace('"', " ").split())


def mask_pending(value: Any) -> Any:
    """A planned value with placeholder addresses shown as `(known after apply)`."""
    if isinstance(value, str):
        # every token holds one of these: most strings (10,000s in a large plan) stop here
        if "0.0.0.0" not in value and "::" not in value:  # noqa: S104  # a substring test, not a bind
            return value
        if value in _TOKENS:
            return _TOKENS[value]
        if " " in value:
            return " ".join(_TOKENS.get(t, t) for t in value.split(" "))
        return value
    if isinstance(value, dict):
        return {k: mask_pending(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_pending(v) for v in value]
    return value
