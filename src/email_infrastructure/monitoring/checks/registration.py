"""Registration (RDAP): domain age before cold sending, expiry, hold and deletion statuses.

Two checks of the `registration` family read one RDAP answer: `registration` (statuses, age,
registrar) and `expiry`, so a hold on a domain whose expiry already alerts still alerts on its own.
An RDAP answer that cannot be read (404, 429, 5xx, timeout, hostile body) makes both `unknown`,
never "expired": a registry's bad minute is not a lost domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.registrars.rdap_model import Lookup, LookupStatus

#: operating-defaults.md: "domain age before sending ≥ 30 days … warn if < 30 days"
MIN_AGE_DAYS = 30
#: days before expiry without auto-renew: an alert at each (issue 26); the expiry check escalates, so a
#: failing state whose finding moves to the next threshold alerts again (storage: CheckState.finding)
EXPIRY_WARN_DAYS, EXPIRY_ERROR_DAYS, EXPIRY_URGENT_DAYS = 30, 14, 7

#: RDAP statuses (RFC 8056 mappings) that take a domain out of the DNS or out of our hands
SUSPENDED = ("client hold", "server hold")
DELETING = ("pending delete", "redemption period", "pending restore")
#: worth knowing, not yet an incident: in the renewal grace, no nameservers, being transferred away
WATCH = {
    "auto renew period": "is in the auto-renew grace period: it expired and the registrar may still delete it",
    "inactive": "is inactive at the registry (no delegation)",
    "pending transfer": "is being transferred to another registrar",
}


@dataclass(frozen=True)
class RegistrationTarget:
    """A domain to check, with what the inventory says of its renewal."""

    name: str
    #: `register: {auto_renew: true}` in the inventory (None: the inventory does not say)
    auto_renew: bool | None = None
    min_age_days: int = MIN_AGE_DAYS


def check_registration(target: RegistrationTarget, lookup: Lookup, now: datetime) -> dict[str, CheckResult]:
    """The `registration` and `expiry` results of one RDAP lookup at `now`."""
    status, expiry = CheckResult("registration"), CheckResult("expiry")
    registration = lookup.registration
    if lookup.status is not LookupStatus.FOUND or registration is None:
        kind = "not_found" if lookup.status is LookupStatus.NOT_FOUND else "unknown"
        for result in (status, expiry):
            result.cannot_tell(f"{result.check}.{kind}", f"RDAP for {target.name}: {lookup.reason}")
        return {"registration": status, "expiry": expiry}
    for value in registration.statuses:
        if value in SUSPENDED:
            status.error(
                "registration.suspended",
                f"{target.name} is on {value} at the registry: it is out of the DNS and cannot send or receive",
                registration.statuses,
            )
        elif value in DELETING:
            status.error(
                "registration.deleting", f"{target.name} is in {value}: it is about to be lost", registration.statuses
            )
        elif value in WATCH:
            status.warn("registration.status", f"{target.name} {WATCH[value]} ({value})", registration.statuses)
    _age(target, registration.age_days(now), status)
    if registration.registrar:
        status.info("registration.registrar", f"registrar: {registration.registrar}")
    _expiry(target, registration.expiry, now, expiry)
    return {"registration": status, "expiry": expiry}


def _age(target: RegistrationTarget, age: int | None, result: CheckResult) -> None:
    minimum = target.min_age_days
    if age is None:
        result.info(
            "registration.age", f"the registry gives no registration date (recommended minimum: {minimum} days)"
        )
        return
    result.summary = f"registered {age} days ago (recommended minimum before cold sending: {minimum})"
    if age < minimum:
        result.warn(
            "registration.young",
            f"{target.name} was registered {age} day(s) ago; the recommended minimum before cold sending is "
            f"{minimum} days (warm up only until then)",
        )
    else:
        result.info("registration.age", result.summary)


def _expiry(target: RegistrationTarget, expires: datetime | None, now: datetime, result: CheckResult) -> None:
    result.escalates = True
    if expires is None:
        result.warn("expiry.no_date", f"the registry gives no expiry date for {target.name}")
        return
    days = (expires - now).total_seconds() / 86400
    left = math.ceil(days)  # 8.9 days left reads "in 9 days", as a calendar would say it
    when = f"{expires:%Y-%m-%d}"
    renew = target.auto_renew is True
    if days < 0:
        result.error("expiry.expired", f"{target.name} expired on {when}: renew it now (restore costs more later)")
    elif days <= EXPIRY_URGENT_DAYS and not renew:
        result.error("expiry.urgent", f"{target.name} expires in {left} day(s) ({when}) and does not auto-renew")
    elif days <= EXPIRY_ERROR_DAYS and not renew:
        result.error("expiry.soon", f"{target.name} expires in {left} day(s) ({when}) and does not auto-renew")
    elif days <= EXPIRY_WARN_DAYS and not renew:
        result.error(
            "expiry.approaching", f"{target.name} expires in {left} day(s) ({when}); renew or enable auto-renew"
        )
    elif days <= EXPIRY_URGENT_DAYS:
        # auto-renew should have happened by now at most registrars: worth a look, not a page
        result.warn(
            "expiry.renewal_due", f"{target.name} expires in {left} day(s) ({when}); auto-renew has not run yet"
        )
    else:
        renewal = "auto-renews" if renew else "expires"
        result.summary = f"{renewal} on {when} (in {left} days)"
        result.info("expiry.date", f"{target.name} {result.summary}")


async def audit_registration(name: str, ctx: AuditContext) -> dict[str, CheckResult]:
    """`registration` and `expiry` of any domain in an audit (auto-renew unknown: the stricter expiry rule)."""
    assert ctx.probe is not None  # the audit asks only when a probe was given
    lookup = await ctx.probe.rdap.lookup(name)
    return check_registration(RegistrationTarget(name, None, ctx.probe.min_age_days), lookup, datetime.now(UTC))
