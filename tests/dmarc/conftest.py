"""The desired state the report tests ingest for: the quickstart's domains and its server's IP."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from tests.services.conftest import QUICKSTART

#: the quickstart declares mx1 at this address: a source we must recognise as ours
OUR_SERVER_IP = "127.0.0.10"
Manage = Callable[..., Coroutine[Any, Any, App]]


@pytest.fixture
def manage(app: App, tmp_path: Path) -> Manage:
    """`await manage(sinks=[...])`: store the quickstart (acme-outreach.test, acme-mail.test) in `app`."""

    async def go(sinks: list[dict[str, Any]] | None = None) -> App:
        text = QUICKSTART
        if sinks:
            lines = "".join("    - {" + ", ".join(f"{k}: {v!r}" for k, v in s.items()) + "}\n" for s in sinks)
            text += f"\nmonitoring:\n  alert_sinks:\n{lines}"
        path = tmp_path / "inventory.yaml"
        path.write_text(text, encoding="utf-8")
        await import_inventory(app, load_inventory(path, provider_schemas()))
        return app

    return go
