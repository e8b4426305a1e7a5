"""A domain's forwarding as aliases, and the rules the schema alone cannot check (they need the
domain's name and its mailboxes): said the same way by the loader, the domain edits and the plan.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from email_infrastructure.core.inventory.schema import ResolvedDomain

#: role addresses the mail step gives every mail domain with a mailbox (RFC 2142); a forward may
#: redirect one, and dropping that forward sends it back to the first mailbox (never deletes it)
ROLE_LOCAL_PARTS = ("postmaster", "abuse")


@dataclass(frozen=True)
class Forward:
    """One alias the forwarding asks for: `@domain` for the catch-all, else `local@domain`."""

    address: str
    goto: tuple[str, ...]
    #: where it was declared, below `forwarding` (("catch_all",) or ("addresses", local))
    path: tuple[str, ...]

    @property
    def catch_all(self) -> bool:
        """True for the domain's catch-all."""
        return self.address.startswith("@")


def forwards(domain: ResolvedDomain) -> list[Forward]:
    """The forwarding addresses (in local-part order), then the catch-all."""
    spec = domain.forwarding
    out = [
        Forward(f"{local}@{domain.name}", tuple(goto), ("addresses", local))
        for local, goto in sorted(spec.addresses.items())
    ]
    if spec.catch_all:
        out.append(Forward(f"@{domain.name}", tuple(spec.catch_all), ("catch_all",)))
    return out


def forwarding_problems(domain: ResolvedDomain, mailboxes: Collection[str]) -> list[tuple[tuple[str, ...], str]]:
    """(path below `forwarding`, message) for each forward that clashes with a mailbox (`mailboxes`:
    its local parts), forwards to itself, goes round a loop, or points at an address of the domain
    that nothing receives (the catch-all would take it back, or it bounces)."""
    problems: list[tuple[tuple[str, ...], str]] = []
    listed = forwards(domain)
    forwarded = {f.address: f for f in listed if not f.catch_all}
    boxes = {f"{m}@{domain.name}" for m in mailboxes}
    receives = boxes | set(forwarded) | ({f"{r}@{domain.name}" for r in ROLE_LOCAL_PARTS} if boxes else set())
    receives |= {uri.removeprefix("mailto:").lower() for uri in domain.dmarc.rua} if boxes else set()
    for forward in listed:
        if forward.address in boxes:
            problems.append((forward.path, f"{forward.address} is a mailbox: an address is a mailbox or a forward"))
            continue
        for goto in forward.goto:
            if goto == forward.address:
                problems.append((forward.path, f"{forward.address} forwards to itself"))
            elif goto.endswith(f"@{domain.name}") and goto not in receives:
                problems.append(
                    (
                        forward.path,
                        f"{goto} is no mailbox or forward of {domain.name}: mail to it would "
                        + ("come back to the catch-all (a loop)" if domain.forwarding.catch_all else "bounce"),
                    )
                )
    problems += _loops(forwarded)
    return problems


def _loops(forwarded: dict[str, Forward]) -> list[tuple[tuple[str, ...], str]]:
    """Forwards of the domain that lead back to themselves through each other (reported once per loop)."""
    out: list[tuple[tuple[str, ...], str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(forwarded):
        path = [start]
        stack = [(start, iter(forwarded[start].goto))]
        while stack:
            _, targets = stack[-1]
            goto = next(targets, None)
            if goto is None:
                stack.pop()
                path.pop()
            elif goto == start and len(path) > 1 and frozenset(path) not in seen:
                seen.add(frozenset(path))
                out.append((forwarded[start].path, "forwarding loop: " + " → ".join([*path, start])))
            elif goto in forwarded and goto not in path:
                path.append(goto)
                stack.append((goto, iter(forwarded[goto].goto)))
    return out
