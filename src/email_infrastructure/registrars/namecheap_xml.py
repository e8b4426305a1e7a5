"""Namecheap's XML envelope, read safely: a DTD or entity declaration is refused before parsing (what
defusedxml guards against), errors become our errors by their `Number`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from email_infrastructure.core.errors import ProviderAuthError, ProviderError

_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
#: credentials, API access or the IP allow-list (global-parameters page)
AUTH_NUMBERS = {1010101, 1010102, 1011102, 1010105, 1011105, 1011150, 1017150, 1017105, 1017101, 1017103, 1016103}

_ALLOW_LIST = (1011150, 1017150)


class NamecheapApiError(ProviderError):
    """An `<Error Number>` answer."""

    def __init__(self, message: str, number: int) -> None:
        super().__init__(message, provider="namecheap", code=str(number))
        self.number = number


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_all(root: ET.Element, name: str) -> list[ET.Element]:
    """Every element named `name` below `root`, whatever its namespace."""
    return [e for e in root.iter() if _local(e.tag) == name]


def us_date(text: str | None) -> datetime | None:
    """Namecheap's MM/DD/YYYY as a UTC date (None when it is not one)."""
    try:
        return datetime.strptime((text or "").strip(), "%m/%d/%Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def envelope(command: str, text: str) -> ET.Element:
    """The CommandResponse of an `<ApiResponse Status="OK">`; an ERROR answer raised as our error."""
    if _DTD.search(text):
        raise ProviderError(f"{command}: the answer declares a DTD or entities; refused", provider="namecheap")
    try:
        root = ET.fromstring(text)  # noqa: S314  # no DTD/entity gets here (refused above): nothing left to expand
    except ET.ParseError:
        raise ProviderError(f"{command}: the answer is not XML", provider="namecheap") from None
    if root.get("Status", "").upper() != "OK":
        errors = find_all(root, "Error")
        first = errors[0] if errors else None
        number = int(first.get("Number", "0")) if first is not None and first.get("Number", "").isdigit() else 0
        words = ((first.text or "") if first is not None else "no error given").strip()[:300]
        message = f"{command}: error {number}: {words}"
        if number in AUTH_NUMBERS:
            hint = " (add this server's IPv4 to the API allow-list)" if number in _ALLOW_LIST else ""
            raise ProviderAuthError(message + hint, provider="namecheap", code=str(number))
        raise NamecheapApiError(message, number)
    found = find_all(root, "CommandResponse")
    if not found:
        raise ProviderError(f"{command}: the answer has no CommandResponse", provider="namecheap")
    return found[0]
