"""Loaded into a worker with `--tasks tests.workers.apply_pause`: logs every zone-file write and,
once per test, pauses the apply after its first write so the test can kill the worker mid-apply.

`EMAIL_INFRA_TEST_APPLY_DIR` names the test's folder: `writes.log` gets one line per zone written
(`<pid> <zone>`), `paused-<pid>` appears when this process pauses (the first write of the test).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from email_infrastructure.dns.providers.zonefile import ZonefileProvider
from email_infrastructure.services.queue import TaskSpec

TASKS: dict[str, TaskSpec] = {}
_original = ZonefileProvider.apply_changes


async def _logged_apply_changes(self: ZonefileProvider, zone: str, changes: list[Any]) -> None:
    await _original(self, zone, changes)
    folder = Path(os.environ["EMAIL_INFRA_TEST_APPLY_DIR"])
    with (folder / "writes.log").open("a") as log:
        log.write(f"{os.getpid()} {zone}\n")
    try:  # only the first write of the test pauses: the worker that takes over must not
        (folder / "paused").open("x").close()
    except FileExistsError:
        return
    (folder / f"paused-{os.getpid()}").touch()
    await asyncio.sleep(120)


if os.environ.get("EMAIL_INFRA_TEST_APPLY_DIR"):
    ZonefileProvider.apply_changes = _logged_apply_changes  # type: ignore[method-assign]  # the test's hook
