"""The zone-file provider through plan/apply: named-checkzone, serials, ownership, guard rails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.events import Event
from email_infrastructure.core.settings import Settings
from email_infrastructure.dns.plan import Action
from email_infrastructure.storage.db import Database
from email_infrastructure.storage.models import DEFAULT_WORKSPACE_ID
from email_infrastructure.storage.repositories import PlanHistory
from email_infrastructure.storage.scoping import bind
from tests.conftest import service_missing
from tests.dns.conftest import Make

ROOT = Path(__file__).parents[2]
QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()


def checkzone(zone: str, path: Path) -> None:
    if shutil.which("named-checkzone") is None:
        service_missing("named-checkzone is not installed (Debian bind9-utils)")
    result = subprocess.run(["named-checkzone", zone, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def zone_path(settings: Settings, zone: str) -> Path:
    return settings.data_dir / "zones" / f"{zone}.zone"


async def test_apply_writes_valid_zone_files_and_reapply_is_a_noop(
    make_reconciler: Make, settings: Settings, events: list[Event]
) -> None:
    first = await (await make_reconciler(QUICKSTART)).apply()
    assert not first.failed
    # 25 RRsets in two zones, and the two domains' DKIM keys, generated at apply.
    assert first.plan.summary()["create"] == 27
    assert sum(z.counts()["create"] for z in first.plan.zones) == 25
    for zone in ("acme-outreach.test", "acme-mail.test"):
        checkzone(zone, zone_path(settings, zone))
    assert sum(e.topic == "dns.record.created" for e in events) == 25
    before = {z: zone_path(settings, z).read_text() for z in ("acme-outreach.test", "acme-mail.test")}
    mtimes = {z: zone_path(settings, z).stat().st_mtime_ns for z in before}

    second = await (await make_reconciler(QUICKSTART)).apply()
    assert not second.plan.has_changes
    assert {o.status for o in second.outcomes} == {"unchanged"}
    for zone, text in before.items():
        assert zone_path(settings, zone).read_text() == text
        assert zone_path(settings, zone).stat().st_mtime_ns == mtimes[zone]


async def test_serial_is_bumped_only_when_content_changes(make_reconciler: Make, settings: Settings) -> None:
    await (await make_reconciler(QUICKSTART)).apply()
    path = zone_path(settings, "acme-mail.test")
    serial = int(path.read_text().split("( ")[1].split()[0])
    changed = QUICKSTART.replace("mta_sts: {enabled: true, mode: testing}", "mta_sts: {enabled: true, mode: enforce}")
    result = await (await make_reconciler(changed)).apply()
    zone = next(z for z in result.plan.zones if z.zone == "acme-mail.test")
    assert [(c.action, c.record.name) for c in zone.changes] == [(Action.UPDATE, "_mta-sts.acme-mail.test")]
    assert int(path.read_text().split("( ")[1].split()[0]) == serial + 1
    checkzone("acme-mail.test", path)


async def test_records_we_do_not_manage_are_left_alone_unless_purged(make_reconciler: Make, settings: Settings) -> None:
    await (await make_reconciler(QUICKSTART)).apply()
    path = zone_path(settings, "acme-mail.test")
    path.write_text(path.read_text() + 'keep\t300\tIN\tTXT\t"hand-made"\n')
    plan = await (await make_reconciler(QUICKSTART)).plan()
    zone = next(z for z in plan.zones if z.zone == "acme-mail.test")
    assert zone.changes == []
    assert zone.unmanaged == 1

    purged = QUICKSTART.replace("  - name: acme-mail.test\n", "  - name: acme-mail.test\n    purge: true\n")
    result = await (await make_reconciler(purged)).apply()
    zone = next(z for z in result.plan.zones if z.zone == "acme-mail.test")
    assert [(c.action, c.record.name) for c in zone.changes] == [(Action.DELETE, "keep.acme-mail.test")]
    assert "hand-made" not in path.read_text()


async def test_records_we_created_are_deleted_when_no_longer_declared(
    make_reconciler: Make, settings: Settings
) -> None:
    await (await make_reconciler(QUICKSTART)).apply()
    without_tracking = QUICKSTART.replace("  tracking: {platform: instantly}\n", "")
    result = await (await make_reconciler(without_tracking)).apply()
    deleted = sorted(c.record.name for z in result.plan.zones for c in z.changes if c.action is Action.DELETE)
    assert deleted == ["inst.acme-mail.test", "inst.acme-outreach.test"]
    assert "\ninst\t" not in zone_path(settings, "acme-outreach.test").read_text()


async def test_large_changes_need_force(make_reconciler: Make, settings: Settings) -> None:
    await (await make_reconciler(QUICKSTART)).apply()
    moved = QUICKSTART.replace("hostname: mail.acme-outreach.test", "hostname: mx.acme-outreach.test")
    before = zone_path(settings, "acme-mail.test").read_text()
    with pytest.raises(UserError, match=r"acme-mail.test: would update or delete \d+ of 13 managed records"):
        await (await make_reconciler(moved)).apply()
    assert zone_path(settings, "acme-mail.test").read_text() == before
    result = await (await make_reconciler(moved)).apply(force=True)
    assert not result.failed
    assert "mx.acme-outreach.test." in zone_path(settings, "acme-mail.test").read_text()
    checkzone("acme-outreach.test", zone_path(settings, "acme-outreach.test"))


async def test_checksum_must_match(make_reconciler: Make) -> None:
    service = await make_reconciler(QUICKSTART)
    plan = await service.plan()
    with pytest.raises(UserError, match="the plan changed"):
        await service.apply(checksum="sha256:0")
    result = await service.apply(checksum=plan.checksum)
    assert not result.failed


async def test_a_broken_domain_fails_alone(make_reconciler: Make, settings: Settings) -> None:
    includes = ", ".join(f"i{n}.spf.test" for n in range(11))
    text = QUICKSTART.replace(
        "  - name: acme-mail.test\n", f"  - name: acme-mail.test\n    spf_includes: [{includes}]\n"
    )
    result = await (await make_reconciler(text)).apply()
    failed = {o.key: o.error for o in result.failed}
    assert list(failed) == ["dns.zone:acme-mail.test"]
    assert "SPF needs 11 DNS lookups" in (failed["dns.zone:acme-mail.test"] or "")
    assert not zone_path(settings, "acme-mail.test").exists()
    assert zone_path(settings, "acme-outreach.test").exists()


async def test_the_applied_plan_is_stored_with_its_outcome(make_reconciler: Make, database: Database) -> None:
    result = await (await make_reconciler(QUICKSTART)).apply()
    async with database.sessions() as session:
        bind(session, DEFAULT_WORKSPACE_ID)
        stored = await PlanHistory(session).latest("reconcile")
    assert stored is not None
    assert (stored.checksum, stored.status) == (result.plan.checksum, "applied")
    assert stored.plan["summary"] == {"create": 27, "update": 0, "delete": 0}
    assert stored.outcome["dns.zone:acme-mail.test"]["status"] == "applied"
    assert stored.outcome["dkim.key:acme-mail.test"]["status"] == "applied"
