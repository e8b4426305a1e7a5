"""Benchmark: one domain read by key (`GET /api/v1/domains/{name}`) at 1,000 and 100,000 domains.

For each database (temp SQLite files; temp PostgreSQL databases `ei_bench_<pid>` and `…_small`, dropped at the
end) the desired state is seeded fast: a small inventory import (provider, server, defaults), then
bulk inserts of the domains (two mailboxes each) and a few check states. Reads of random domains
are timed in process, through the API (httpx's ASGI transport: key verification, the rate limiter,
the route, the envelope) and through the service alone (`services.domains.domain_summary`), cold (the
App's view cache emptied before each read) and warm (views the App holds). Reads of
a 1,000-domain database are interleaved with them (one of each in turn, so that both see the same
load on a shared machine): the ratio 100k / 1k shows the cost is flat (≈ 1).

    python bench/domain_read.py [--domains 100000] [--small 1000] [--reads 2000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import insert, select  # noqa: E402  # after the sys.path insert above

from email_infrastructure.api.app import create_app  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.inventory.loader import parse_inventory_text  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.settings import Settings  # noqa: E402  # after the sys.path insert above
from email_infrastructure.reconcile.registry import provider_schemas  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.apikeys import ApiKeyService  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.app import App  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.desired import import_inventory  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.domains import domain_summary  # noqa: E402  # after the sys.path insert above
from email_infrastructure.storage.models import CheckState, Domain, Mailbox  # noqa: E402  # after the sys.path insert above
from email_infrastructure.storage.scoping import rows_for  # noqa: E402  # after the sys.path insert above

ADMIN = os.environ.get("EMAIL_INFRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
INVENTORY = """\
version: 1
providers:
  dns:
    local: {type: zonefile, directory: zones, nameservers: [ns1.fleet.test., ns2.fleet.test.]}
servers:
  - {name: mx1, hostname: mail.fleet.test, ipv4: 127.0.0.10}
defaults:
  dns_provider: local
  server: mx1
  dmarc: {policy: none, rua: ["mailto:dmarc@fleet.test"]}
domains:
  - name: d0000000.fleet.test
    mailboxes: [{first_name: Ann, last_name: Lee}, {first_name: Bob, last_name: Stone}]
"""
CHUNK = 5_000
PHASES = ("cold", "warm")


def name(i: int) -> str:
    return f"d{i:07d}.fleet.test"


async def grow(app: App, total: int) -> float:
    """Bulk-insert copies of the imported domain (with its mailboxes) up to `total`; the seconds it took."""
    began = time.perf_counter()
    async with app.uow() as uow:
        s = uow.session
        model = await s.scalar(select(Domain).where(Domain.name == name(0)))
        assert model is not None
        have = len((await s.scalars(select(Domain.id))).all())
        for start in range(have, total, CHUNK):
            numbers = range(start, min(total, start + CHUNK))
            rows = [
                {
                    "name": name(i),
                    "spec": model.spec,
                    "managed_by": model.managed_by,
                    "dns_provider": model.dns_provider,
                    "server_id": model.server_id,
                }
                for i in numbers
            ]
            await s.execute(insert(Domain), rows_for(s, rows))
            ids = (await s.execute(select(Domain.id).where(Domain.name.in_([r["name"] for r in rows])))).scalars()
            boxes = [
                {"domain_id": d, "local_part": local, "first_name": first, "last_name": last, "managed_by": "bench"}
                for d in ids
                for local, first, last in (("ann.lee", "Ann", "Lee"), ("bob.stone", "Bob", "Stone"))
            ]
            await s.execute(insert(Mailbox), rows_for(s, boxes))
            states = [
                {"subject": name(i), "check": "spf", "status": "ok", "summary": "ok"} for i in numbers if i % 10 == 0
            ]
            if states:
                await s.execute(insert(CheckState), rows_for(s, states))
        await uow.commit()
    return time.perf_counter() - began


def cuts(latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49] * 1000, "p99": q[98] * 1000}


class Fleet:
    """One seeded database: its App, an API on it with a read key, and its size."""

    def __init__(self, app: App, size: int) -> None:
        self.app, self.size = app, size
        self.api = create_app(app)
        self.lifespan = self.api.router.lifespan_context(self.api)
        self.client: httpx.AsyncClient | None = None
        self.timed: dict[str, list[float]] = {f"{w} {p}": [] for w in ("api", "service") for p in PHASES}

    async def open(self) -> None:
        key = (await ApiKeyService(self.app).replace("bench-read", "read")).key
        await self.lifespan.__aenter__()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.api),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"},
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        await self.lifespan.__aexit__(None, None, None)
        await self.app.close()

    async def read(self, phase: str, *, timed: bool = True) -> None:
        """One API read and one service read of random domains.

        `cold`: the App's view cache is emptied first (the by-key read: row, then its settings, server
        and providers); `warm`: one of the first 500 domains, whose views the App holds (one query).
        """
        assert self.client is not None
        picks = [name(random.randrange(self.size if phase == "cold" else 500)) for _ in range(2)]
        if phase == "cold":
            self.app.domain_views.invalidate()
        began = time.perf_counter()
        response = await self.client.get(f"/api/v1/domains/{picks[0]}")
        api_took = time.perf_counter() - began
        assert response.status_code == 200, response.text
        if phase == "cold":
            self.app.domain_views.invalidate()
        began = time.perf_counter()
        await domain_summary(self.app, picks[1])
        if timed:
            self.timed[f"api {phase}"].append(api_took)
            self.timed[f"service {phase}"].append(time.perf_counter() - began)


async def seeded(label: str, settings: Settings, size: int) -> Fleet:
    """A database of `size` domains (imported, then grown by bulk inserts)."""
    # a high request limit: the limiter counts but never refuses a benchmark read
    app = App(settings.model_copy(update={"api_rate_limit_read": "10000000/minute"}))
    if settings.database_url:
        from email_infrastructure.storage.migrate import upgrade

        await upgrade(settings.database_url)
    path = settings.data_dir / "inventory.yaml"
    path.write_text(INVENTORY)
    await import_inventory(app, parse_inventory_text(INVENTORY, str(path), provider_schemas()))
    took = await grow(app, size)
    print(f"{label}: {size:,} domains seeded in {took:.1f} s", flush=True)
    fleet = Fleet(app, size)
    await fleet.open()
    return fleet


async def run_backend(label: str, small: Settings, large: Settings, sizes: list[int], reads: int) -> None:
    """Reads of both fleets interleaved (one of each in turn): both see the same load on the machine."""
    fleets = [await seeded(label, small, sizes[0]), await seeded(label, large, sizes[1])]
    try:
        for phase in PHASES:
            for _ in range(50):  # warm-up, not measured
                for fleet in fleets:
                    await fleet.read(phase, timed=False)
            if phase == "warm":  # every view the warm reads ask for is held
                for fleet in fleets:
                    for i in range(500):
                        await domain_summary(fleet.app, name(i))
            for _ in range(reads):
                for fleet in fleets:
                    await fleet.read(phase)
        for way in fleets[0].timed:
            results = [cuts(f.timed[way]) for f in fleets]
            for fleet, r in zip(fleets, results, strict=True):
                print(f"{label} {way:12s} {fleet.size:>7,} domains: p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms")
            print(
                f"{label} {way:12s} ratio {sizes[1]:,}/{sizes[0]:,}: p50 {results[1]['p50'] / results[0]['p50']:.2f}"
                f"  p99 {results[1]['p99'] / results[0]['p99']:.2f}",
                flush=True,
            )
    finally:
        for fleet in fleets:
            await fleet.close()


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    random.seed(7)
    sizes = [args.small, args.domains]
    with tempfile.TemporaryDirectory(prefix="ei-bench-") as tmp:
        base = Path(tmp)
        local = []
        for size in sizes:
            settings = Settings(data_dir=base / f"sqlite-{size}", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file
            settings.data_dir.mkdir(parents=True)
            local.append(settings)
        await run_backend("sqlite", local[0], local[1], sizes, args.reads)
        if args.no_postgres:
            return
        # the large fleet's database is ei_bench_<pid>, the small one's ei_bench_<pid>_small: both dropped
        names = [f"ei_bench_{os.getpid()}_small", f"ei_bench_{os.getpid()}"]
        try:
            remote = []
            for size, db in zip(sizes, names, strict=True):
                await admin(f"CREATE DATABASE {db}")
                url = ADMIN.rsplit("/", 1)[0] + f"/{db}"
                settings = Settings(data_dir=base / f"pg-{size}", database_url=url, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file
                settings.data_dir.mkdir(parents=True)
                remote.append(settings)
            await run_backend("postgresql", remote[0], remote[1], sizes, args.reads)
        finally:
            for db in names:
                await admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    asyncio.run(main())
