"""A check's history as state bands: only the changes are read, the last band lasts until now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from email_infrastructure.services.app import App
from email_infrastructure.services.check_timeline import Band, check_timeline
from email_infrastructure.services.monitoring import record_results

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


async def at(app: App, when: datetime, subject: str, check: str, status: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("email_infrastructure.storage.repositories.utcnow", lambda: when)
        await record_results(app, [(subject, check, status, {"status": status, "findings": []}, status)])


async def test_repeated_states_are_one_band_and_old_results_are_left_out(app: App) -> None:
    statuses = [(40, "error"), (20, "ok"), (19, "ok"), (10, "error"), (9, "error"), (3, "ok")]
    for days, status in statuses:
        await at(app, NOW - timedelta(days=days), "a.test", "spf", status)
    await at(app, NOW - timedelta(days=2), "other.test", "spf", "error")
    await at(app, NOW - timedelta(days=1), "a.test", "dkim", "warning")
    timeline = await check_timeline(app, ["a.test"], now=NOW)
    assert timeline.start == NOW - timedelta(days=20) and timeline.end == NOW
    lanes = {(lane.subject, lane.check): lane.bands for lane in timeline.lanes}
    assert lanes == {
        ("a.test", "dkim"): [Band("warning", NOW - timedelta(days=1), NOW)],
        ("a.test", "spf"): [
            Band("ok", NOW - timedelta(days=20), NOW - timedelta(days=10)),
            Band("error", NOW - timedelta(days=10), NOW - timedelta(days=3)),
            Band("ok", NOW - timedelta(days=3), NOW),
        ],
    }


async def test_no_subject_or_no_result_is_an_empty_timeline(app: App) -> None:
    assert (await check_timeline(app, [], now=NOW)).lanes == []
    empty = await check_timeline(app, ["nothing.test"], now=NOW)
    assert empty.lanes == [] and empty.end - empty.start == timedelta(days=30)
