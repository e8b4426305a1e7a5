"""Domain and host name normalisation shared by the inventory and every component."""

from __future__ import annotations

import re

import idna

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

_A, _AH = "[A-Za-z0-9]", "[A-Za-z0-9-]"
# a label without "--" at its third and fourth characters (IDNA reserves those), in regex terms
# without look-arounds (JSON Schema tools generate from it): up to 4 characters, or 5 to 63
_ASCII_LABEL = rf"(?:{_A}(?:{_AH}{{0,2}}{_A})?|{_A}{_AH}(?:{_A}{_AH}|-{_A}){_AH}{{0,58}}{_A})"
_ASCII_TLD = rf"(?:[A-Za-z](?:{_AH}{{0,2}}{_A})?|[A-Za-z]{_AH}(?:{_A}{_AH}|-{_A}){_AH}{{0,58}}{_A})"
#: ASCII host names `normalise_domain` accepts, as the API's schema states them (with at most 253
#: characters): two labels or more, letters, digits and inner hyphens, a top-level label starting
#: with a letter, any case, an optional final dot. A subset: IDN names (`xn--` or Unicode) are not in it.
DOMAIN_NAME_PATTERN = rf"^(?:{_ASCII_LABEL}\.)+{_ASCII_TLD}\.?$"

#: workspace names: lowercase letters, digits and inner hyphens, 1 to 64 characters (they appear in URLs)
WORKSPACE_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
#: the workspace of a single team, and the one earlier data was moved into
DEFAULT_WORKSPACE = "default"


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
