"""A per-domain summary of the Gmail / Yahoo / Microsoft bulk-sender rules that DNS can show."""

from __future__ import annotations

from email_infrastructure.monitoring.findings import CheckResult, CheckStatus


def _passes(checks: dict[str, CheckResult], name: str) -> bool | None:
    result = checks.get(name)
    if result is None or result.status is CheckStatus.UNKNOWN:
        return None
    return result.status is not CheckStatus.ERROR


def compliance(checks: dict[str, CheckResult], ptr_ok: bool | None) -> CheckResult:
    """Warnings for each provider whose DNS-visible rules are not met; unknown when undetermined."""
    result = CheckResult("compliance")
    spf, dkim, dmarc = _passes(checks, "spf"), _passes(checks, "dkim"), _passes(checks, "dmarc")
    dmarc_present = checks.get("dmarc") is not None and "dmarc.missing" not in checks["dmarc"].ids()
    rules = {
        "gmail": [
            ("SPF", spf),
            ("DKIM", dkim),
            ("DMARC record", dmarc_present if dmarc is not None else None),
            ("forward-confirmed PTR", ptr_ok),
        ],
        "yahoo": [
            ("SPF", spf),
            ("DKIM", dkim),
            ("DMARC record", dmarc_present if dmarc is not None else None),
            ("forward-confirmed PTR", ptr_ok),
        ],
        "microsoft": [
            ("SPF", spf),
            ("DKIM", dkim),
            ("DMARC record", dmarc_present if dmarc is not None else None),
        ],
    }
    for provider, items in rules.items():
        failing = [name for name, ok in items if ok is False]
        unknown = [name for name, ok in items if ok is None]
        if failing:
            result.warn(
                f"compliance.{provider}",
                f"{provider} bulk-sender rules not met: {', '.join(failing)}",
            )
        elif unknown:
            # not `ok`: an audit that could not see the rules must not say they are met
            result.cannot_tell(
                f"compliance.{provider}",
                f"{provider}: not determined ({', '.join(unknown)} unknown or not checked)",
            )
        else:
            result.info(f"compliance.{provider}", f"{provider} bulk-sender DNS requirements are met")
    return result
