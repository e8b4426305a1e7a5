"""SPF record syntax (RFC 7208 §4.6.1 ABNF, §7.1 macros) and static macro expansion.

A static audit knows the domain being evaluated (`d`) and the sender's domain (`o`, the audited
domain itself: every message the record judges claims it); everything else a macro can name
(the sender's local part, IP, HELO name, reverse DNS) depends on the sender, so a term that uses
it cannot be evaluated ahead of time — `expand()` then returns None.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
#: mechanisms and modifiers that cost a DNS lookup (RFC 7208 §4.6.4)
DNS_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
#: macro letters a domain-spec may use (c, r, t are for exp= explanation text only, §7.1)
_LETTERS = "slodiphv"
#: the ones a static audit can fill in
STATIC_LETTERS = "do"
_MACRO = re.compile(r"%(?:\{([a-z])(\d*)(r?)([.\-+,/_=]*)\}|%|_|-)", re.I)
_MODIFIER = re.compile(r"^([a-z][a-z0-9\-_.]*)=(.*)$", re.I | re.S)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z0-9]+)(.*)$", re.I | re.S)
_CIDR = re.compile(r"(?:/(\d+))?(?://(\d+))?$")
_TOPLABEL = re.compile(r"^(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9\-]*[a-z0-9])$", re.I)


@dataclass(frozen=True)
class Mechanism:
    """One mechanism: qualifier, name, domain-spec (raw, macros unexpanded), CIDR lengths."""

    qualifier: str
    name: str
    domain: str | None = None
    network: Network | None = None
    cidr4: int | None = None
    cidr6: int | None = None


@dataclass
class Record:
    """A parsed SPF record: mechanisms in order, the two known modifiers, and syntax errors."""

    mechanisms: list[Mechanism] = field(default_factory=list)
    redirect: str | None = None
    exp: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def first_all(self) -> Mechanism | None:
        """The `all` that ends evaluation (the first one: later terms are never reached)."""
        return next((m for m in self.mechanisms if m.name == "all"), None)


def is_spf(text: str) -> bool:
    """`v=spf1` (any case) followed by a space or the end (RFC 7208 §4.5)."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def _macro_error(spec: str) -> str | None:
    """Why `spec` is not a valid macro-string (in a domain-spec or a modifier), or None."""
    position = 0
    while True:
        percent = spec.find("%", position)
        if percent < 0:
            return None
        match = _MACRO.match(spec, percent)
        if match is None:
            return f"'%' must start a macro (%{{x}}, %%, %_ or %-) at '{spec[percent:]}'"
        if match.group(1) is not None and match.group(1).lower() not in _LETTERS:
            return f"'{match.group(0)}': '{match.group(1)}' is not a macro letter"
        if match.group(2) and int(match.group(2)) == 0:
            return f"'{match.group(0)}' keeps zero labels (the digit must be nonzero, RFC 7208 §7.3)"
        position = match.end()


def domain_spec_error(spec: str) -> str | None:
    """Why `spec` is not a valid domain-spec (`macro-string domain-end`), or None."""
    if not spec:
        return "the domain is empty"
    error = _macro_error(spec)
    if error:
        return error
    last = next(reversed(list(_MACRO.finditer(spec))), None)
    if last is not None and last.end() == len(spec):
        return None  # domain-end = macro-expand
    tail = spec[last.end() :] if last is not None else spec
    body = tail[:-1] if tail.endswith(".") else tail
    if "." not in body:
        return f"'{spec}' does not end in '.' and a top label"
    if not _TOPLABEL.match(body.rsplit(".", 1)[1]):
        return f"'{body.rsplit('.', 1)[1]}' is not a valid top label"
    return None


def _cidr(text: str | None, top: int) -> tuple[int | None, bool]:
    """A CIDR length (no leading zeros, at most `top`); (None, True) when absent."""
    if text is None:
        return None, True
    if (len(text) > 1 and text[0] == "0") or int(text) > top:
        return None, False
    return int(text), True


def _mechanism(term: str, match: re.Match[str]) -> tuple[Mechanism | None, str | None]:
    qualifier, name, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    if name not in MECHANISMS:
        return None, f"'{term}' is not a mechanism or a modifier"
    if name == "all":
        return (Mechanism(qualifier, name), None) if not rest else (None, f"'{term}': all takes no argument")
    if name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            return None, f"'{term}': {name} needs an address"
        address, slash, length = rest[1:].partition("/")
        top = 32 if name == "ip4" else 128
        if slash and not length.isdigit():
            return None, f"'{term}' has an invalid prefix length"
        prefix, ok = _cidr(length if slash else None, top)
        if not ok:
            return None, f"'{term}' has an invalid prefix length"
        if "%" in address:  # ipaddress accepts IPv6 scope ids ("fe80::1%eth0"); SPF does not
            return None, f"'{term}' has an invalid address"
        try:
            ip = ipaddress.IPv4Address(address) if name == "ip4" else ipaddress.IPv6Address(address)
        except ValueError:
            return None, f"'{term}' has an invalid address"
        network = ipaddress.ip_network(f"{ip}/{top if prefix is None else prefix}", strict=False)
        return Mechanism(qualifier, name, network=network), None
    cidr = _CIDR.search(rest)
    assert cidr is not None  # both groups are optional: it always matches at the end
    domain_part = rest[: cidr.start()]
    cidr4, ok4 = _cidr(cidr.group(1), 32)
    cidr6, ok6 = _cidr(cidr.group(2), 128)
    if not (ok4 and ok6):
        return None, f"'{term}' has an invalid prefix length"
    if cidr.group(0) and name not in ("a", "mx"):
        return None, f"'{term}': {name} takes no prefix length"
    if domain_part and not domain_part.startswith(":"):
        return None, f"'{term}' is not a valid {name} mechanism"
    domain = domain_part[1:] if domain_part else None
    if domain is None and name in ("include", "exists"):
        return None, f"'{term}': {name} needs a domain"
    if domain is not None:
        error = domain_spec_error(domain)
        if error:
            return None, f"'{term}': {error}"
    return Mechanism(qualifier, name, domain, cidr4=cidr4, cidr6=cidr6), None


def parse(text: str) -> Record:
    """Parse a record that `is_spf`; every syntax error is collected (any one is a permerror)."""
    record = Record()
    # Terms are separated by spaces only (1*SP): a tab or newline is part of a term, and invalid.
    for term in text[6:].split(" "):
        if not term:
            continue
        if any(not 0x21 <= ord(c) <= 0x7E for c in term):
            record.errors.append(f"{term!r} contains a control or non-ASCII character")
            continue
        modifier = _MODIFIER.match(term)
        if modifier is not None:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if getattr(record, name) is not None:
                    record.errors.append(f"{name}= appears more than once")
                error = domain_spec_error(value)
                if error:
                    record.errors.append(f"'{term}': {error}")
                setattr(record, name, value)
            elif (error := _macro_error(value)) is not None:
                record.errors.append(f"'{term}': {error}")
            continue  # unknown modifiers are ignored (RFC 7208 §6)
        match = _MECHANISM.match(term)
        mechanism, error = _mechanism(term, match) if match else (None, f"'{term}' is not a valid term")
        if error:
            record.errors.append(error)
        elif mechanism is not None:
            record.mechanisms.append(mechanism)
    return record


def _expand_letter(value: str, digits: str, reverse: str, delimiters: str) -> str:
    parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
    if reverse:
        parts.reverse()
    if digits and int(digits) > 0:
        parts = parts[-int(digits) :]
    return ".".join(parts)


def expand(spec: str, domain: str, sender_domain: str) -> str | None:
    """The domain-spec with `%{d}`, `%{o}`, `%%`, `%_`, `%-` filled in; None if it needs the sender."""

    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("%%", "%_", "%-"):
            return {"%%": "%", "%_": " ", "%-": "%20"}[text]
        letter = match.group(1).lower()
        value = domain if letter == "d" else sender_domain
        return _expand_letter(value, match.group(2), match.group(3), match.group(4))

    if any(m.group(1) and m.group(1).lower() not in STATIC_LETTERS for m in _MACRO.finditer(spec)):
        return None
    name = _MACRO.sub(one, spec).rstrip(".")
    # RFC 7208 §7.3: an expansion longer than 253 characters loses labels from the left.
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return name.lower()
