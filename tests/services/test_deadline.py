"""A run-level deadline: a vendor that accepts connections and never answers cannot hold a plan."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import plans
from email_infrastructure.services.app import App


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP endpoint on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/client/v4"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


async def test_plan_against_a_silent_vendor_ends_at_the_deadline(
    app: App, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CF_SILENT_TOKEN", "token-123")
    domains = "".join(f"  - name: s{n}.test\n" for n in range(12))
    text = f"""\
version: 1
providers:
  dns:
    cf: {{type: cloudflare, api_token: env:CF_SILENT_TOKEN, api_url: "{silent_server}"}}
defaults:
  dns_provider: cf
domains:
{domains}"""
    source = parse_inventory_text(text, "silent.yaml", provider_schemas())
    # Without the deadline this takes 30 s x 4 attempts per zone, 8 zones at a time.
    planned = await asyncio.wait_for(plans.plan(app, source=source, deadline=1.5), timeout=60)
    dns_steps = [s for s in planned.graph.steps if s.component == "dns"]
    assert len(dns_steps) == 12
    assert all(s.error and "deadline of 1.5 s passed" in s.error for s in dns_steps), [s.error for s in dns_steps]
