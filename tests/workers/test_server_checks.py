"""A server's PTR and IP blocklist checks run once per interval, however many batches its domains go out in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.monitoring.resolver import Answer, Resolver
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import monitoring
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.tasks import TASKS
from email_infrastructure.storage.models import CheckResultRecord
from tests.fixtures.pdns import PowerDns

DOMAINS = [f"s{i}.server.test" for i in range(6)]
# an address of its own: the reverse zone of 127.0.0.0/24 belongs to the monitoring defect zones
IP = "127.77.0.10"
REVERSE = "10.0.77.127.in-addr.arpa"
LISTED = "10.0.77.127.bl.server.test"
ZONES = {
    "0.77.127.in-addr.arpa": [(REVERSE, "PTR", f"mail.{DOMAINS[0]}.", 0)],
    "bl.server.test": [("2.0.0.127.bl.server.test", "A", "127.0.0.2", 0)],  # the list's self-test entry
    DOMAINS[0]: [(f"mail.{DOMAINS[0]}", "A", IP, 0)],
}


def inventory(nameserver: str) -> str:
    listed = "\n".join(f"  - name: {d}" for d in DOMAINS)
    return f"""version: 1
providers:
  dns:
    local: {{type: zonefile, directory: zones, nameservers: [ns1.server.test., ns2.server.test.]}}
servers:
  - {{name: mx1, hostname: mail.{DOMAINS[0]}, ipv4: {IP}}}
defaults: {{dns_provider: local, server: mx1, dmarc: {{policy: none}}, mailboxes_per_domain: 0}}
monitoring:
  nameservers: ["{nameserver}"]
  blocklists: [bl.server.test]
  intervals: {{dns: 900, blacklist: 3600, tls: 21600, ptr: 3600, mailbox: 3600}}
domains:
{listed}
"""


@pytest.fixture
def zones(pdns: PowerDns) -> Iterator[PowerDns]:
    """The server's reverse zone, the blocklist and its hostname's zone, on the session's PowerDNS."""
    pdns.replace_zones(ZONES)
    yield pdns
    pdns.drop_zones(list(ZONES))


@pytest.fixture
async def fleet(app: App, zones: PowerDns, tmp_path: Path) -> None:
    """The six domains on one server stored in the app's database, asking the zones' PowerDNS."""
    path = tmp_path / "fleet.yaml"
    path.write_text(inventory(f"{zones.address}:{zones.dns_port}"), encoding="utf-8")
    await import_inventory(app, load_inventory(path, provider_schemas()))


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every question put to a resolver, by name."""
    counts: Counter[str] = Counter()
    original, original_many = Resolver.query, Resolver.query_many

    async def counting(self: Resolver, name: str, rtype: str) -> Answer:
        counts[name.lower().rstrip(".")] += 1
        return await original(self, name, rtype)

    async def counting_many(self: Resolver, names: Sequence[str], rtype: str) -> list[Answer]:
        counts.update(name.lower().rstrip(".") for name in names)  # blocklist lookups come in bulk
        return await original_many(self, names, rtype)

    monkeypatch.setattr(Resolver, "query", counting)
    monkeypatch.setattr(Resolver, "query_many", counting_many)
    return counts


async def rows(app: App, subject: str, check: str) -> list[str]:
    async with app.uow() as uow:
        query = select(CheckResultRecord.status).where(
            CheckResultRecord.subject == subject, CheckResultRecord.check == check
        )
        return list((await uow.session.scalars(query)).all())


async def test_a_cycle_in_batches_asks_the_servers_ptr_and_blocklists_once(
    app: App, fleet: None, asked: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [7_200_000.0]
    monkeypatch.setattr(monitoring, "_now", lambda: clock[0])
    body = TASKS["run_checks"].body

    async def cycle(slot: int) -> None:
        for family in ("ptr", "blacklist"):
            for start in range(0, len(DOMAINS), 2):  # three batches of two domains, as the scheduler sends them
                items = [[d, slot] for d in DOMAINS[start : start + 2]]
                await body(app, job_key=f"{family}:{slot}:{start}", family=family, items=items)

    await cycle(1)
    assert asked[REVERSE] == 1 and asked[LISTED] == 1
    assert await rows(app, IP, "ptr") == ["ok"] and await rows(app, IP, "dnsbl") == ["ok"]
    for domain in DOMAINS:  # each domain still has its own blocklist result
        assert await rows(app, domain, "dnsbl") == ["ok"]

    # the next interval: once again
    clock[0] += 3600
    await cycle(2)
    assert asked[REVERSE] == 2 and asked[LISTED] == 2
    assert len(await rows(app, IP, "ptr")) == 2 and len(await rows(app, IP, "dnsbl")) == 2
    assert [len(await rows(app, d, "dnsbl")) for d in DOMAINS] == [2] * len(DOMAINS)


async def test_a_batch_that_fails_leaves_the_servers_checks_to_its_retry(
    app: App, fleet: None, asked: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = monitoring.record_results
    failing = [True]

    async def flaky(*args: object, **kwargs: object) -> object:
        if failing.pop() if failing else False:
            raise ConnectionError("the database went away")
        return await original(*args, **kwargs)  # type: ignore[arg-type]  # the wrapped service function, called with its own arguments

    monkeypatch.setattr(monitoring, "record_results", flaky)
    body = TASKS["run_checks"].body
    items = [[d, 1] for d in DOMAINS[:2]]
    with pytest.raises(ConnectionError):
        await body(app, job_key="ptr:1", family="ptr", items=items)
    await body(app, job_key="ptr:1", family="ptr", items=items)  # the queue's retry
    assert asked[REVERSE] == 2 and await rows(app, IP, "ptr") == ["ok"]
