"""The check history as a time-series chart drawn on the server: inline SVG, no script, no style attribute.

One lane per (subject, check), a coloured band per state (classes `f-<status>` of style.css), a
date axis under them, a `<title>` tooltip on each band and a text alternative (`role="img"`,
`aria-label`) that says every lane's current state and since when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from email_infrastructure.services.check_timeline import Timeline

WIDTH = 760
LABELS = 190  # the lane names' column
LANE = 16
GAP = 6
AXIS = 30  # below the lanes: tick marks and dates
#: the statuses a band can have, in the legend's order
STATES = ("ok", "warning", "unknown", "error")
_DAY_STEPS = (1, 2, 3, 5, 7, 14)
_MINUTE_STEPS = (1, 5, 10, 15, 30, 60, 120, 180, 360, 720)
MAX_TICKS = 8
_BAND = Markup('<rect class="band f-{}" data-status="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>')


@dataclass(frozen=True)
class Tick:
    """A labelled point of the time axis."""

    at: datetime
    label: str


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ticks(start: datetime, end: datetime) -> list[Tick]:
    """Dates (midnights, UTC) along `start`..`end`, or times for a span under two days; at most 8, at least 2."""
    span = end - start
    if span >= timedelta(days=2):
        days = next((d for d in _DAY_STEPS if span / timedelta(days=d) <= MAX_TICKS), 30)
        step, fmt = timedelta(days=days), "%b %d"
        first = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    else:
        minutes = next((m for m in _MINUTE_STEPS if span / timedelta(minutes=m) <= MAX_TICKS), 24 * 60)
        step, fmt = timedelta(minutes=minutes), "%b %d %H:%M"
        midnight = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        first = midnight + step * ((start - midnight) // step + 1)
    out: list[Tick] = []
    at = first
    while at <= end:
        out.append(Tick(at, at.strftime(fmt)))
        at += step
    if len(out) < 2:  # a span shorter than one step: its two ends, to the minute
        out = [Tick(t, t.astimezone(UTC).strftime("%b %d %H:%M")) for t in (start, end)]
    return out


def _lane_name(check: str, subject: str, own: str | None) -> str:
    return check if subject == own else f"{check} · {subject}"


def description(timeline: Timeline, own: str | None = None) -> str:
    """The chart in words: its period and each lane's latest state since when."""
    parts = [
        f"{_lane_name(lane.check, lane.subject, own)}: {lane.bands[-1].status} since {_stamp(lane.bands[-1].start)}"
        for lane in timeline.lanes
        if lane.bands
    ]
    period = f"Check history from {_stamp(timeline.start)} to {_stamp(timeline.end)}"
    return f"{period}. " + ("; ".join(parts) if parts else "No check result in this period") + "."


def history_svg(timeline: Timeline, own: str | None = None) -> Markup:
    """The timeline as an inline `<svg>`: lanes of state bands over a date axis (every value escaped)."""
    plot = WIDTH - LABELS - 10
    seconds = max((timeline.end - timeline.start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return round(LABELS + (at - timeline.start).total_seconds() / seconds * plot, 1)

    height = len(timeline.lanes) * (LANE + GAP) + AXIS
    parts = [
        Markup(
            '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" data-start="{}" data-end="{}">'
        ).format(description(timeline, own), WIDTH, height, timeline.start.isoformat(), timeline.end.isoformat())
    ]
    for row, lane in enumerate(timeline.lanes):
        y = row * (LANE + GAP)
        name = _lane_name(lane.check, lane.subject, own)
        parts.append(
            Markup(
                '<g class="lane" data-check="{}" data-subject="{}"><text class="label" x="0" y="{}">{}</text>'
            ).format(lane.check, lane.subject, y + LANE - 4, name)
        )
        parts.append(Markup('<rect class="track" x="{}" y="{}" width="{}" height="{}"/>').format(LABELS, y, plot, LANE))
        for band in lane.bands:
            left = x(band.start)
            width = max(round(x(band.end) - left, 1), 1.5)
            tip = f"{name}: {band.status} from {_stamp(band.start)} to {_stamp(band.end)}"
            parts.append(_BAND.format(band.status, band.status, left, y, width, LANE, tip))
        parts.append(Markup("</g>"))
    base = len(timeline.lanes) * (LANE + GAP)
    parts.append(
        Markup('<g class="axis"><line x1="{}" y1="{}" x2="{}" y2="{}"/>').format(LABELS, base, LABELS + plot, base)
    )
    for tick in ticks(timeline.start, timeline.end):
        at = x(tick.at)
        parts.append(
            Markup('<line x1="{}" y1="{}" x2="{}" y2="{}"/><text class="tick" x="{}" y="{}">{}</text>').format(
                at, base, at, base + 5, at, base + 18, tick.label
            )
        )
    parts.append(Markup("</g></svg>"))
    return Markup("").join(parts)


__all__ = ["STATES", "Tick", "description", "history_svg", "ticks"]
