"""MX (RFC 5321, RFC 7505): present, resolves, not a CNAME, null MX understood, our host."""

from __future__ import annotations

import asyncio

from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult


async def check_mx(target: DomainTarget, ctx: AuditContext) -> tuple[CheckResult, list[str]]:
    """The MX check; also returns the MX hosts' addresses (the IPs to check without -f)."""
    result = CheckResult("mx")
    answer = await ctx.resolver.query(target.name, "MX")
    if answer.status.unknown:
        result.cannot_tell("mx.unknown", f"the MX query did not answer ({answer.status.value})")
        return result, []
    hosts = answer.mx()
    if not hosts:
        result.error("mx.missing", f"{target.name} has no MX record: bounces and replies cannot arrive")
        return result, []
    evidence = [f"{p} {h}" for p, h in hosts]
    if any(h in ("", ".") for _, h in hosts):
        if len(hosts) == 1:
            result.warn(
                "mx.null",
                f"{target.name} publishes a null MX (RFC 7505): it accepts no mail, so replies bounce",
                evidence,
            )
        else:
            result.error("mx.null_mixed", "a null MX must be the only MX record", evidence)
        return result, []
    lookups = await asyncio.gather(
        *(ctx.resolver.query(h, "A") for _, h in hosts),
        *(ctx.resolver.query(h, "AAAA") for _, h in hosts),
    )
    a_answers, aaaa_answers = lookups[: len(hosts)], lookups[len(hosts) :]
    ips: list[str] = []
    for (_, host), a, aaaa in zip(hosts, a_answers, aaaa_answers, strict=True):
        if a.cnames or aaaa.cnames:
            result.warn("mx.cname", f"the MX host {host} is a CNAME (RFC 5321 §5.1 forbids it)", evidence)
        addresses = a.values() + aaaa.values()
        if addresses:
            ips.extend(addresses)
        elif a.status.unknown or aaaa.status.unknown:
            result.cannot_tell("mx.unknown", f"the addresses of {host} did not answer")
        else:
            result.error("mx.unresolvable", f"the MX host {host} has no A or AAAA record", evidence)
    if target.mail_host and target.mail_host not in {h for _, h in hosts}:
        result.error(
            "mx.mismatch",
            f"the MX records do not name the mail server {target.mail_host}",
            evidence,
        )
    return result, sorted(set(ips))
