"""Domain and host name normalisation shared by the inventory and every component."""

from __future__ import annotations

import re

import idna

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalise_domain(name: str) -> str:
    """Return the lowercase ASCII (punycode) form of a domain name, or raise ValueError."""
    text = name.strip().rstrip(".")
    if not text:
        raise ValueError("empty domain name")
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(f"invalid domain name {name!r}: {exc}") from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValueError(f"invalid domain name {name!r}: needs at least two labels")
    if len(ascii_name) > 253:
        raise ValueError(f"invalid domain name {name!r}: longer than 253 characters")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"invalid domain name {name!r}: bad label {label!r}")
    if labels[-1].isdigit():
        raise ValueError(f"invalid domain name {name!r}: the top-level label is numeric")
    return ascii_name


def is_subdomain(name: str, zone: str) -> bool:
    """True when `name` equals `zone` or lies below it (both normalised, no trailing dot)."""
    return name == zone or name.endswith("." + zone)
