"""Drift: the live DNS against the records the DNS component wants published."""

from __future__ import annotations

import asyncio

from email_infrastructure.dns.records import Record, RecordError
from email_infrastructure.monitoring.checks.spf import spf_records
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult


def record_label(name: str, rtype: str) -> str:
    """How a drift finding names its record: every message starts with it (the domain page reads it back)."""
    return f"{name} {rtype}"


async def check_drift(target: DomainTarget, ctx: AuditContext) -> CheckResult:
    """Every desired record must be live with the same values; one SPF record at the apex."""
    result = CheckResult("drift")
    desired = target.desired or []
    answers = await asyncio.gather(*(ctx.resolver.query(r.name, r.type) for r in desired))
    for record, answer in zip(desired, answers, strict=True):
        label = record_label(record.name, record.type)
        if answer.status.unknown:
            result.cannot_tell("drift.unknown", f"{label}: the query did not answer")
            continue
        if not answer.found:
            result.error("drift.missing", f"{label} is not published", [" | ".join(record.values)])
            continue
        raw = answer.texts() if record.type == "TXT" else answer.values()
        try:
            live = Record.make(record.name, record.type, raw, record.ttl)
        except RecordError as exc:
            result.error("drift.changed", f"{label}: the live value cannot be read: {exc}")
            continue
        if record.type == "TXT":
            wanted_spf = [v for v in record.values if v.startswith("v=spf1")]
            live_spf = spf_records(list(live.values))
            if wanted_spf and len(live_spf) > 1:
                result.error(
                    "drift.extra_spf",
                    f"{label}: a second SPF record was published next to ours",
                    live_spf,
                )
                continue
            if not set(record.values) <= set(live.values):
                result.error(
                    "drift.changed",
                    f"{label} differs from the desired value",
                    [f"want: {' | '.join(record.values)}", f"live: {' | '.join(live.values)}"],
                )
        elif live.values != record.values:
            result.error(
                "drift.changed",
                f"{label} differs from the desired value",
                [f"want: {' | '.join(record.values)}", f"live: {' | '.join(live.values)}"],
            )
    return result
