"""Mailbox personas: the people an inventory lists, or a count named by a pattern over a built-in list.

Generated names are deterministic (the same domain always gets the same people, in the same
order) and differ between domains; a local part that is taken (by a listed person, an earlier
generated one, or a role address) moves on to the next name, then to a numbered variant.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.inventory.schema import _ascii_slug

#: operating-defaults.md §1: 3 per domain by default, hard cap 5
RECOMMENDED_MAX = 5
#: role addresses that are aliases, never personas
RESERVED = frozenset({"postmaster", "abuse", "hostmaster", "webmaster", "admin", "root", "dmarc", "noreply"})
FIRST_NAMES = (
    "anna", "ben", "clara", "david", "emma", "felix", "grace", "henry", "iris", "jack", "julia", "leo",
    "lucy", "mark", "nina", "oliver", "paula", "quinn", "rose", "sam", "sara", "tom", "vera", "will",
)  # fmt: skip
LAST_NAMES = (
    "adams", "baker", "carter", "davis", "evans", "fisher", "green", "harris", "hughes", "king", "lewis",
    "miller", "morgan", "parker", "reed", "scott", "taylor", "turner", "walker", "ward", "white", "young",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\{(first|last|f|l)\}")


@dataclass(frozen=True)
class Persona:
    """The person behind one mailbox."""

    first_name: str
    last_name: str
    local_part: str

    def address(self, domain: str) -> str:
        """The full address."""
        return f"{self.local_part}@{domain}"

    @property
    def display_name(self) -> str:
        """First and last name, as senders show it."""
        return f"{self.first_name} {self.last_name}"


def render(pattern: str, first: str, last: str) -> str:
    """A local part from a pattern: {first} {last} {f} {l}, folded to ASCII, lowercase."""
    parts = {"first": _ascii_slug(first), "last": _ascii_slug(last)}
    parts |= {"f": parts["first"][:1], "l": parts["last"][:1]}
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], pattern).strip("._-")


def _candidates(domain: str) -> list[tuple[str, str]]:
    """Every (first, last) of the built-in list, in an order that depends on the domain only."""
    seed = int.from_bytes(hashlib.sha256(domain.encode()).digest()[:8], "big")
    firsts = FIRST_NAMES[seed % len(FIRST_NAMES) :] + FIRST_NAMES[: seed % len(FIRST_NAMES)]
    step = (seed // len(FIRST_NAMES)) % len(LAST_NAMES)
    return [(f, LAST_NAMES[(i * 7 + step) % len(LAST_NAMES)]) for i, f in enumerate(firsts)] + [
        (f, last) for f in firsts for last in LAST_NAMES
    ]


def personas(domain: ResolvedDomain) -> list[Persona]:
    """The listed people, or `mailbox_count` generated ones named by `mailbox_pattern`."""
    if domain.mailboxes:
        return [Persona(m.first_name, m.last_name, m.address_local_part) for m in domain.mailboxes]
    taken = set(RESERVED)
    out: list[Persona] = []
    for first, last in _candidates(domain.name):
        if len(out) >= domain.mailbox_count:
            break
        local = render(domain.mailbox_pattern, first, last)
        if not local or local in taken:
            continue
        taken.add(local)
        out.append(Persona(first.title(), last.title(), local))
    n = 2
    while len(out) < domain.mailbox_count:  # a pattern of initials runs out of distinct names
        first, last = _candidates(domain.name)[len(out) % len(FIRST_NAMES)]
        local = f"{render(domain.mailbox_pattern, first, last)}{n}"
        n += 1
        if local not in taken:
            taken.add(local)
            out.append(Persona(first.title(), last.title(), local))
    return out


def warnings(domain: ResolvedDomain, people: list[Persona]) -> list[str]:
    """Operating-default warnings about a domain's mailboxes."""
    if len(people) > RECOMMENDED_MAX:
        return [
            f"{domain.name}: {len(people)} mailboxes; more than {RECOMMENDED_MAX} per domain is above the "
            "operating default (3, hard cap 5): spread senders over more domains"
        ]
    return []
