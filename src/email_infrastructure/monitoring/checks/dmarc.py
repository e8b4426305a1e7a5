"""DMARC (RFC 7489 and RFC 9989/9990): one record, tree walk, tags, policy, report authorisation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from email_infrastructure.monitoring.context import (
    AuditContext,
    DomainTarget,
    organizational_domain,
)
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.monitoring.resolver import Resolver, Status

MAX_WALK = 8
_POLICIES = {"none", "quarantine", "reject"}
_URI = re.compile(r"^(mailto:[^@\s]+@([^!\s]+)|https?://\S+?)(![0-9]+[kmgt]?)?$", re.I)
_VALID: dict[str, Callable[[str], bool]] = {
    "p": lambda v: v in _POLICIES,
    "sp": lambda v: v in _POLICIES,
    "np": lambda v: v in _POLICIES,
    "adkim": lambda v: v in ("r", "s"),
    "aspf": lambda v: v in ("r", "s"),
    "pct": lambda v: v.isdigit() and 0 <= int(v) <= 100,
    "ri": lambda v: v.isdigit(),
    "rf": lambda v: all(x.strip().lower() in ("afrf", "iodef") for x in v.split(":")),
    "fo": lambda v: all(x.strip() in ("0", "1", "d", "s") for x in v.split(":")),
    "psd": lambda v: v in ("y", "n", "u"),
    "t": lambda v: v in ("y", "n"),
}
OBSOLETE_IN_9989 = ("pct", "rf", "ri")
#: tag names are case-insensitive, the version value is not: RFC 7489 §6.4 (and RFC 9989) spell
#: it `%x44 %x4d %x41 %x52 %x43 %x31` ("DMARC1" exactly) and say it "MUST match precisely"
_VERSION = re.compile(r"^[vV][ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_TAG = re.compile(r"^\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$", re.I | re.S)
_TAG_NAME = re.compile(r"^([a-z0-9_]+)\b", re.I)


def dmarc_records(texts: list[str]) -> list[str]:
    """TXT strings that are DMARC records, sorted (the DNS answer order means nothing)."""
    return sorted(t for t in texts if _VERSION.match(t))


def parse_tags(record: str) -> tuple[dict[str, str], list[str], list[str]]:
    """`k=v; k=v` → (tags by lower-case name, names given more than once, parts that are not k=v).

    An empty part (after a trailing `;`) is allowed by the tag-list grammar (RFC 6376 §3.2).
    """
    tags: dict[str, str] = {}
    repeated: list[str] = []
    malformed: list[str] = []
    for part in record.split(";"):
        match = _TAG.match(part)
        if match:
            name = match.group(1).lower()
            if name in tags and name not in repeated:
                repeated.append(name)
            tags.setdefault(name, match.group(2))
        elif part.strip():
            malformed.append(part.strip())
    return tags, repeated, malformed


def walk_names(domain: str) -> list[str]:
    """RFC 9989 tree walk: the domain, then parents (long names shortened), at most 8 names."""
    labels = domain.split(".")
    names = [domain]
    if len(labels) > MAX_WALK:
        labels = labels[-(MAX_WALK - 1) :]
        names.append(".".join(labels))
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        if parent not in names:
            names.append(parent)
    return names[:MAX_WALK]


async def discover(resolver: Resolver, domain: str) -> tuple[str | None, list[str], Status | None]:
    """(name the policy was found at, its records, why unknown or None) walking up from `domain`.

    A failed query at or below the organisational domain makes the result unknown; above it (the
    public-suffix levels, where only rare psd=y records live) a failure ends the walk instead, so
    that a resolver refusing a TLD does not hide a clear "missing".
    """
    org = organizational_domain(domain)
    for name in walk_names(domain):
        answer = await resolver.txt(f"_dmarc.{name}")
        if answer.status.unknown:
            below_org = name == org or name.endswith("." + org)
            return None, [], answer.status if below_org else None
        records = dmarc_records(answer.texts())
        if records:
            return name, records, None
    return None, [], None


async def _authorised(resolver: Resolver, domain: str, destination: str) -> tuple[bool | None, bool | None]:
    """Is `destination` willing to receive `domain`'s reports, and does it take mail?"""
    auth, mx = await asyncio.gather(
        resolver.txt(f"{domain}._report._dmarc.{destination}"), resolver.query(destination, "MX")
    )
    ok = None if auth.status.unknown else any(t.startswith("v=DMARC1") for t in auth.texts())
    has_mx = None if mx.status.unknown else mx.found
    return ok, has_mx


async def check_dmarc(target: DomainTarget, ctx: AuditContext) -> CheckResult:
    """The DMARC check."""
    result = CheckResult("dmarc")
    found_at, records, unknown = await discover(ctx.resolver, target.name)
    if unknown is not None:
        result.cannot_tell("dmarc.unknown", f"the DMARC query did not answer ({unknown.value})")
        return result
    if found_at is None:
        result.error("dmarc.missing", f"no DMARC record at _dmarc.{target.name} or any parent")
        return result
    if found_at != target.name:
        result.info("dmarc.inherited", f"the policy comes from _dmarc.{found_at} (sp/np apply)", records)
    if len(records) > 1:
        result.error(
            "dmarc.multiple_records",
            f"_dmarc.{found_at} has {len(records)} DMARC records; receivers ignore them all",
            records,
        )
        return result
    record = records[0]
    tags, repeated, malformed = parse_tags(record)
    for part in malformed:
        # DMARC records are tag-lists (RFC 6376 §3.2): every part is `name = value`, so a receiver
        # cannot parse the record
        result.error("dmarc.syntax", f"{part!r} is not a tag=value pair: the record does not parse", [record])
    named = {m.group(1).lower() for part in malformed if (m := _TAG_NAME.match(part))}
    for tag in repeated:
        # DMARC uses DKIM's tag-list syntax, where a repeated tag invalidates the list (RFC 6376 §3.2)
        result.error("dmarc.duplicate_tag", f"{tag}= is given more than once: the record is invalid", [record])
    first = record.split(";")[1].strip().split("=")[0].strip().lower() if ";" in record else ""
    for tag, value in tags.items():
        check = _VALID.get(tag)
        if tag in ("v",):
            continue
        if tag in ("rua", "ruf"):
            bad = [u for u in value.split(",") if not _URI.match(u.strip())]
            if bad:
                result.error("dmarc.invalid_tag", f"{tag}= has invalid URIs: {', '.join(bad)}", [record])
            if any("!" in u for u in value.split(",")):
                result.info(
                    "dmarc.obsolete_tag",
                    f"the !size suffix in {tag}= is obsolete (RFC 9990) and ignored",
                    [record],
                )
        elif check is None:
            result.info("dmarc.unknown_tag", f"unknown tag {tag}= is ignored", [record])
        elif not check(value.lower()):
            result.error("dmarc.invalid_tag", f"{tag}={value} is not a valid value", [record])
        if tag in OBSOLETE_IN_9989:
            result.info("dmarc.obsolete_tag", f"{tag}= was removed by RFC 9989", [record])
    policy = tags.get("p", "").lower()
    if found_at != target.name:
        policy = tags.get("sp", tags.get("p", "")).lower()
    if "p" not in tags and "p" not in named:  # `p` without `=` is the syntax error above
        result.warn(
            "dmarc.missing_policy",
            "no p= tag: RFC 9989 reads it as none, RFC 7489 receivers reject the record",
            [record],
        )
    elif first != "p":
        result.info("dmarc.tag_order", "p= should follow v= (required by RFC 7489)", [record])
    if policy == "none":
        result.warn(
            "dmarc.policy_none",
            "p=none only monitors; move to quarantine or reject once reports are clean",
            [record],
        )
    if tags.get("pct", "100").isdigit() and int(tags.get("pct", "100")) < 100:
        result.warn(
            "dmarc.partial",
            f"pct={tags['pct']} applies the policy to part of the mail only",
            [record],
        )
    if tags.get("t", "n").lower() == "y":
        result.warn("dmarc.testing", "t=y: receivers apply a weaker policy", [record])
    strict = [t for t in ("adkim", "aspf") if tags.get(t, "r").lower() == "s"]
    if strict:
        result.info(
            "dmarc.strict_alignment",
            f"strict alignment ({', '.join(strict)}=s): mail signed or bounced through a subdomain "
            "or an ESP's domain fails",
            [record],
        )
    if "rua" not in tags:
        result.warn("dmarc.no_rua", "no rua=: you receive no aggregate reports", [record])
    destinations = {
        m.group(2).lower().rstrip(".")
        for uri in (tags.get("rua", "") + "," + tags.get("ruf", "")).split(",")
        if (m := _URI.match(uri.strip())) and m.group(2)
    }
    external = sorted(d for d in destinations if organizational_domain(d) != organizational_domain(found_at))
    checks = await asyncio.gather(*(_authorised(ctx.resolver, found_at, d) for d in external))
    for destination, (ok, has_mx) in zip(external, checks, strict=True):
        if ok is False:
            result.warn(
                "dmarc.unauthorized_destination",
                f"{destination} does not publish {found_at}._report._dmarc.{destination}: reports to it are dropped",
                [record],
            )
        if has_mx is False:
            result.warn(
                "dmarc.report_domain_no_mx",
                f"the report domain {destination} has no MX record",
                [record],
            )
    return result
