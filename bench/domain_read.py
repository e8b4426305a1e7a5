"""Benchmark: one domain read by key (`GET /api/v1/domains/{name}`) at 1,000 and 100,000 domains.

For each database (a temp SQLite file; a temp PostgreSQL database `ei_bench_<pid>`, dropped at the
end) the desired state is seeded fast: a small inventory import (provider, server, defaults), then
bulk inserts of the domains (two mailboxes each) and a few check states. Reads of random domains
are timed in process, through the API (httpx's ASGI transport: key verification, the rate limiter,
the route, the envelope) and through the service alone (`services.domains.domain_summary`). The
same reads at 1,000 domains show the cost is flat: the ratio 100k / 1k is the figure (≈ 1).

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
            await s.execute(insert(Domain), rows)
            ids = (await s.execute(select(Domain.id).where(Domain.name.in_([r["name"] for r in rows])))).scalars()
            boxes = [
                {"domain_id": d, "local_part": local, "first_name": first, "last_name": last, "managed_by": "bench"}
                for d in ids
                for local, first, last in (("ann.lee", "Ann", "Lee"), ("bob.stone", "Bob", "Stone"))
            ]
            await s.execute(insert(Mailbox), boxes)
            states = [
                {"subject": name(i), "check": "spf", "status": "ok", "summary": "ok"} for i in numbers if i % 10 == 0
            ]
            if states:
                await s.execute(insert(CheckState), states)
        await uow.commit()
    return time.perf_counter() - began


def cuts(latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49] * 1000, "p99": q[98] * 1000}


async def measure(app: App, size: int, reads: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of `reads` random single-domain reads, through the API and through the service."""
    key = (await ApiKeyService(app).replace("bench-read", "read")).key
    api = create_app(app)
    lifespan = api.router.lifespan_context(api)
    await lifespan.__aenter__()
    picks = [name(random.randrange(size)) for _ in range(reads)]
    out: dict[str, dict[str, float]] = {}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            for warm in picks[:50]:
                assert (await client.get(f"/api/v1/domains/{warm}")).status_code == 200
            timed = []
            for pick in picks:
                began = time.perf_counter()
                response = await client.get(f"/api/v1/domains/{pick}")
                timed.append(time.perf_counter() - began)
                assert response.status_code == 200, response.text
            out["api"] = cuts(timed)
        timed = []
        for pick in picks:
            began = time.perf_counter()
            await domain_summary(app, pick)
            timed.append(time.perf_counter() - began)
        out["service"] = cuts(timed)
    finally:
        await lifespan.__aexit__(None, None, None)
    return out


async def run_backend(label: str, settings: Settings, sizes: list[int], reads: int) -> None:
    # a high request limit: the limiter counts but never refuses a benchmark read
    app = App(settings.model_copy(update={"api_rate_limit_read": "10000000/minute"}))
    try:
        if settings.database_url:
            from email_infrastructure.storage.migrate import upgrade

            await upgrade(settings.database_url)
        path = settings.data_dir / "inventory.yaml"
        path.write_text(INVENTORY)
        await import_inventory(app, parse_inventory_text(INVENTORY, str(path), provider_schemas()))
        results: dict[int, dict[str, dict[str, float]]] = {}
        for size in sizes:
            seeded = await grow(app, size)
            print(f"{label}: {size:,} domains seeded in {seeded:.1f} s", flush=True)
            results[size] = await measure(app, size, reads)
        small, large = results[sizes[0]], results[sizes[-1]]
        for way in ("api", "service"):
            for size in sizes:
                r = results[size][way]
                print(f"{label} {way:8s} {size:>7,} domains: p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms")
            print(
                f"{label} {way:8s} ratio {sizes[-1]:,}/{sizes[0]:,}: p50 {large[way]['p50'] / small[way]['p50']:.2f}"
                f"  p99 {large[way]['p99'] / small[way]['p99']:.2f}"
            )
    finally:
        await app.close()


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
        sqlite = Settings(data_dir=base / "sqlite", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file
        sqlite.data_dir.mkdir(parents=True)
        await run_backend("sqlite", sqlite, sizes, args.reads)
        if args.no_postgres:
            return
        db = f"ei_bench_{os.getpid()}"
        await admin(f"CREATE DATABASE {db}")
        try:
            url = ADMIN.rsplit("/", 1)[0] + f"/{db}"
            pg = Settings(data_dir=base / "pg", database_url=url, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file
            pg.data_dir.mkdir(parents=True)
            await run_backend("postgresql", pg, sizes, args.reads)
        finally:
            await admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    asyncio.run(main())
