"""A small stored fleet for the worker tests (zone-file DNS: no account, nothing sent anywhere)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.workers.scheduler import offset, slot

#: the fleet's monitoring intervals (seconds), `dns` as `fleet_yaml`'s default
INTERVALS = {
    "dns": 900,
    "blacklist": 3600,
    "tls": 21600,
    "ptr": 3600,
    "mailbox": 3600,
    "registration": 86400,
    "delegation": 3600,
}


def steady_domains(count: int, suffix: str = "fleet.test", *, margin: float = 300) -> list[str]:
    """`count` domain names none of whose checks begins a new slot in the next `margin` seconds.

    Schedulers started one after the other must see the same slots: with names picked at random,
    a slot that begins between two starts (a few seconds on a loaded machine) gave one check two
    keys, and the test enqueueing each check once failed now and then.
    """
    now = time.time()
    names: list[str] = []
    for number in itertools.count():
        name = f"d{number}.{suffix}"
        shifts = {family: offset(family, name, interval) for family, interval in INTERVALS.items()}
        if all(
            slot(now - 5, interval, shifts[family]) == slot(now + margin, interval, shifts[family])
            for family, interval in INTERVALS.items()
        ):
            names.append(name)
            if len(names) == count:
                return names
    raise AssertionError("unreachable")


def fleet_yaml(domains: list[str], *, dns_interval: int = 900, nameserver: str = "127.0.0.1:9") -> str:
    """An inventory of `domains` on one server, with the monitoring intervals given; its checks ask
    `nameserver` (nothing listens on port 9: a query there times out, on loopback)."""
    listed = "\n".join(f"  - name: {d}" for d in domains)
    return f"""version: 1
providers:
  dns:
    local:
      type: zonefile
      directory: zones
      nameservers: [ns1.fleet.test., ns2.fleet.test.]
servers:
  - name: mx1
    hostname: mail.{domains[0]}
    ipv4: 127.0.0.10
defaults:
  dns_provider: local
  server: mx1
  dmarc:
    policy: none
monitoring:
  nameservers: ["{nameserver}"]
  intervals: {{dns: {dns_interval}, blacklist: {INTERVALS["blacklist"]}, tls: {INTERVALS["tls"]}, ptr: {INTERVALS["ptr"]}, mailbox: {INTERVALS["mailbox"]}, registration: {INTERVALS["registration"]}, delegation: {INTERVALS["delegation"]}}}
domains:
{listed}
"""


async def store_fleet(app: App, directory: Path, domains: list[str], **options: Any) -> None:
    """Import the fleet into the app's database (the desired state the scheduler reads)."""
    path = directory / "fleet.yaml"
    path.write_text(fleet_yaml(domains, **options), encoding="utf-8")
    await import_inventory(app, load_inventory(path, provider_schemas()))
