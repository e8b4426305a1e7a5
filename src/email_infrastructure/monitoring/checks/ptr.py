"""PTR and forward-confirmed reverse DNS of sending IPs (Gmail 5.7.25, Yahoo)."""

from __future__ import annotations

import ipaddress

import dns.reversename

from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.findings import CheckResult


async def check_ptr(ip: str, ctx: AuditContext, mail_host: str | None = None) -> CheckResult:
    """PTR exists, its name resolves back to the IP, and it names the mail host."""
    result = CheckResult("ptr")
    reverse = dns.reversename.from_address(ip).to_text().rstrip(".")
    answer = await ctx.resolver.query(reverse, "PTR")
    if answer.status.unknown:
        result.cannot_tell("ptr.unknown", f"the PTR query for {ip} did not answer")
        return result
    names = [v.rstrip(".").lower() for v in answer.values()]
    if not names:
        result.error("ptr.missing", f"{ip} has no PTR record (Gmail rejects with 5.7.25)")
        return result
    rtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
    confirmed = []
    for name in names[:10]:
        forward = await ctx.resolver.query(name, rtype)
        if forward.status.unknown:
            result.cannot_tell("ptr.unknown", f"the {rtype} query for {name} did not answer")
            continue
        if any(ipaddress.ip_address(v) == ipaddress.ip_address(ip) for v in forward.values()):
            confirmed.append(name)
    if not confirmed and not result.unknown:
        result.error(
            "ptr.mismatch",
            f"the PTR of {ip} ({', '.join(names)}) does not resolve back to it",
            names,
        )
    elif mail_host and mail_host not in confirmed and confirmed:
        result.warn(
            "ptr.wrong_host",
            f"the PTR of {ip} names {', '.join(confirmed)}, not the mail host {mail_host}",
            names,
        )
    return result
