"""DKIM key records (RFC 6376, RFC 8301, RFC 8463): present, parseable, strong, the expected key."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re

from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult

_TAG = re.compile(r"^\s*([a-z]+)\s*=\s*(.*?)\s*$", re.I)


def parse_tags(record: str) -> dict[str, str]:
    """`k=v; k=v` → dict (later duplicates win); whitespace inside values is dropped for p=."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        match = _TAG.match(part)
        if match:
            tags[match.group(1).lower()] = match.group(2)
    return tags


def _inspect(result: CheckResult, selector: str, name: str, record: str, expected: str | None) -> None:
    tags = parse_tags(record)
    if "v" in tags and tags["v"] != "DKIM1":
        result.error("dkim.invalid", f"{name}: v= must be DKIM1", [record])
        return
    if "p" not in tags:
        result.error("dkim.invalid", f"{name}: the record has no p= tag", [record])
        return
    key = re.sub(r"\s+", "", tags["p"])
    if not key:
        result.error("dkim.revoked", f"{name}: the key is revoked (empty p=)", [record])
        return
    kind = tags.get("k", "rsa").lower()
    if kind == "ed25519":
        try:
            raw = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            result.error("dkim.invalid_key", f"{name}: the ed25519 key is not 32 bytes of base64", [record])
    elif kind == "rsa":
        # cryptography is imported when a key is read: a blocklist lookup or --help never pays for it
        from email_infrastructure.core.rsa_keys import InvalidKeyError, rsa_key_bits

        try:
            bits = rsa_key_bits(key)
        except InvalidKeyError as exc:
            result.error("dkim.invalid_key", f"{name}: {exc}", [record])
            return
        if bits < 1024:
            result.error(
                "dkim.weak_key",
                f"{name}: a {bits}-bit RSA key is too short (at least 1024; RFC 8301)",
                [record],
            )
        elif bits < 2048:
            result.warn(
                "dkim.weak_key",
                f"{name}: a {bits}-bit RSA key; 2048 bits are recommended",
                [record],
            )
    else:
        result.error("dkim.invalid", f"{name}: unknown key type k={kind}", [record])
    if "y" in tags.get("t", "").split(":"):
        result.warn(
            "dkim.testing",
            f"{name}: t=y marks the key as testing; verifiers may ignore failures",
            [record],
        )
    if "h" in tags and "sha256" not in tags["h"].lower():
        result.error(
            "dkim.weak_hash",
            f"{name}: h= does not allow sha256 (rsa-sha1 must not be used)",
            [record],
        )
    if expected is not None and key != re.sub(r"\s+", "", expected):
        result.error(
            "dkim.key_mismatch",
            f"{name}: the published key is not the one the mail server signs with",
            [record],
        )


async def check_dkim(target: DomainTarget, ctx: AuditContext) -> CheckResult:
    """The DKIM check over the target's selectors."""
    result = CheckResult("dkim")
    names = [f"{s}._domainkey.{target.name}" for s in target.selectors]
    answers = await asyncio.gather(*(ctx.resolver.txt(n) for n in names))
    found = 0
    unknown = []
    for selector, name, answer in zip(target.selectors, names, answers, strict=True):
        if answer.status.unknown:
            unknown.append(name)
            continue
        records = [t for t in answer.texts() if "p=" in t or t.startswith("v=DKIM1")]
        if not records:
            if target.selectors_declared:
                result.error("dkim.missing", f"no DKIM key at {name}")
            continue
        found += 1
        if len(records) > 1:
            result.error("dkim.multiple_records", f"{name} has {len(records)} key records", records)
        _inspect(result, selector, name, records[0], target.expected_dkim.get(selector))
    if unknown:
        result.cannot_tell("dkim.unknown", f"DKIM queries did not answer: {', '.join(unknown)}")
    elif found == 0 and not target.selectors_declared:
        result.error(
            "dkim.missing",
            f"no DKIM key at any of the common selectors ({', '.join(target.selectors)}); pass --selector",
        )
    return result
