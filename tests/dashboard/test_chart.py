"""The history chart's SVG: date ticks that fit, bands placed by time, every value escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from email_infrastructure.dashboard.chart import LABELS, WIDTH, description, history_svg, ticks
from email_infrastructure.services.check_timeline import Band, Lane, Timeline

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_ticks_are_midnights_for_days_and_hours_for_a_short_span() -> None:
    days = ticks(T0, T0 + timedelta(days=4))
    assert [t.label for t in days] == ["Nov 02", "Nov 03", "Nov 04", "Nov 05"]
    assert all(t.at.hour == 0 and t.at.minute == 0 for t in days)
    month = ticks(T0, T0 + timedelta(days=30))
    assert 3 <= len(month) <= 8 and month[1].at - month[0].at == timedelta(days=5)
    hours = ticks(T0, T0 + timedelta(hours=6))
    assert [t.label for t in hours][:2] == ["Nov 01 13:00", "Nov 01 14:00"] and len(hours) == 6
    minutes = ticks(T0 + timedelta(minutes=3), T0 + timedelta(minutes=33))
    assert [t.label for t in minutes] == ["Nov 01 12:05", "Nov 01 12:10", "Nov 01 12:15", "Nov 01 12:20",
                                          "Nov 01 12:25", "Nov 01 12:30"]  # fmt: skip
    seconds = ticks(T0 + timedelta(seconds=5), T0 + timedelta(seconds=20))
    assert [t.label for t in seconds] == ["Nov 01 12:00", "Nov 01 12:00"]  # its two ends


def test_bands_are_placed_by_time_with_a_tooltip_each() -> None:
    lane = Lane(
        "a.test",
        "spf",
        [Band("ok", T0, T0 + timedelta(days=1)), Band("error", T0 + timedelta(days=1), T0 + timedelta(days=2))],
    )
    svg = str(history_svg(Timeline(T0, T0 + timedelta(days=2), [lane]), own="a.test"))
    rects = re.findall(r'<rect class="band f-(\w+)" data-status="\w+" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    plot = WIDTH - LABELS - 10
    assert rects == [("ok", str(float(LABELS)), str(plot / 2)), ("error", str(LABELS + plot / 2), str(plot / 2))]
    assert "<title>spf: error from 2026-11-02 12:00 UTC to 2026-11-03 12:00 UTC</title>" in svg
    assert '<text class="tick"' in svg and ">Nov 02<" in svg
    assert 'role="img"' in svg and 'aria-label="Check history from 2026-11-01 12:00 UTC' in svg


def test_another_subject_is_named_in_its_lane_and_values_are_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    lane = Lane(hostile, f"dnsbl{hostile}", [Band(hostile, T0, T0 + timedelta(hours=1))])
    timeline = Timeline(T0, T0 + timedelta(hours=1), [lane])
    svg = str(history_svg(timeline, own="a.test"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert f"dnsbl{hostile} · {hostile}: {hostile} since 2026-11-01 12:00 UTC" in description(timeline, "a.test")


def test_an_empty_timeline_says_so_in_words() -> None:
    assert description(Timeline(T0, T0 + timedelta(days=1))).endswith("No check result in this period.")
