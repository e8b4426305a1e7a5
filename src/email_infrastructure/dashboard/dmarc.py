"""The DMARC page: pass rate per domain over time, top failing sources, TLS-RPT failures (services/dmarc.py).

`panel()` builds the same figures for one domain; the domain page shows them as a section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, render
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc_views import DayRates, DmarcSummary, Totals

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PERIODS = {"7d": 7, "30d": 30, "90d": 90}
#: sources shown as the top failing ones
TOP = 15
#: the chart: one bar per day, this tall at 100 %
BAR, HEIGHT = 8, 40


@dataclass
class Bar:
    """One day of one domain's chart."""

    x: int
    y: int
    height: int
    status: str  # f-ok / f-error / f-unknown (no reports that day)
    title: str


@dataclass
class Series:
    """A domain's bars and its totals over the period."""

    domain: str
    totals: Totals | None
    bars: list[Bar] = field(default_factory=list)


def _series(days: list[DayRates], summary: DmarcSummary, first: date, last: date, threshold: float) -> list[Series]:
    count = (last - first).days + 1
    by_domain: dict[str, dict[date, DayRates]] = {}
    for d in days:
        by_domain.setdefault(d.domain, {})[d.day] = d
    totals = {t.key: t for t in summary.domains}
    out = []
    for domain in sorted(set(by_domain) | set(totals)):
        series = Series(domain, totals.get(domain))
        for i in range(count):
            day = first + timedelta(days=i)
            found = by_domain.get(domain, {}).get(day)
            if found is None or not found.messages:
                series.bars.append(Bar(i * (BAR + 2), HEIGHT - 2, 2, "f-unknown", f"{day}: no reports"))
                continue
            rate = found.rate(found.dmarc_pass)
            height = max(2, round(rate * HEIGHT))
            title = (
                f"{day}: DMARC {rate:.1%} of {found.messages:,} messages · SPF aligned "
                f"{found.rate(found.spf_aligned):.1%} · DKIM aligned {found.rate(found.dkim_aligned):.1%}"
            )
            status = "f-ok" if rate >= threshold else "f-error"
            series.bars.append(Bar(i * (BAR + 2), HEIGHT - height, height, status, title))
        out.append(series)
    return out


async def panel(app: App, domain: str | None, period: str) -> dict[str, Any]:
    """Everything the DMARC page (or a domain's section of it) shows, for the last `period`."""
    from email_infrastructure.services.dmarc import workspace_pass_rate_rule
    from email_infrastructure.services.dmarc_views import daily_pass_rates, dmarc_summary

    last = date.today()
    first = last - timedelta(days=PERIODS[period] - 1)
    summary = await dmarc_summary(app, domain, first)
    days = await daily_pass_rates(app, domain, first)
    rule = await workspace_pass_rate_rule(app)
    return panel_of(summary, days, first, last, rule.threshold, period)


def panel_of(
    summary: DmarcSummary, days: list[DayRates], first: date, last: date, threshold: float, period: str
) -> dict[str, Any]:
    """What `panel` shows, from figures already read (a domain page's read model holds them)."""
    failing = sorted((s for s in summary.sources if s.failing), key=lambda s: (-s.failing, s.key))
    messages = sum(t.messages for t in summary.domains)
    passed = sum(t.dmarc_pass for t in summary.domains)
    return {
        "summary": summary,
        "series": _series(days, summary, first, last, threshold),
        "chart_width": PERIODS[period] * (BAR + 2),
        "chart_height": HEIGHT,
        "failing": failing[:TOP],
        "more_failing": max(0, len(failing) - TOP),
        "messages": messages,
        "pass_rate": passed / messages if messages else None,
        "threshold": threshold,
        "period": period,
        "first": first,
    }


@router.get("/dmarc")
async def dmarc_page(
    request: Request, who: Member, period: Annotated[Literal["7d", "30d", "90d"], Query()] = "30d"
) -> Response:
    """DMARC pass rate per domain over time, the top failing sources and TLS-RPT failures of every domain."""
    app: App = request.app.state.app
    return render(request, "dmarc.html", periods=list(PERIODS), **(await panel(app, None, period)))
