"""Benchmark: the dashboard's overview and a domain page, server time at 10,000 and 100,000 domains.

For SQLite and PostgreSQL a fleet is built once and cached (`--cache`, default /tmp/dover-bench-cache):
two servers, two DNS providers, two mailboxes per domain, the DNS checks of every domain (2 % of them
drifting, 5 % with a DMARC warning), one mailbox login check in ten, and the first server's IP
blocklisted on two lists. Each page is requested `--reads` times through the ASGI app in process
(httpx's ASGI transport, logged in through the form): p50 and p95 of each request's time. The compared
checkout (`--peer`, a worktree of the commit before the change) runs the same pages on a copy of each
database at its own schema (migration 0015's table and index dropped), in a process of its own; it knows only
`q` and `status`, and ignores the other parameters (its pages then show the unfiltered, unsorted view).

PostgreSQL fleets are the databases `dover_bench_<size>` (and `…_peer` copies), kept with the cache: remove
both (`DROP DATABASE`, `rm -r` the cache) to rebuild.

    python bench/dashboard_render.py [--sizes 10000 100000] [--reads 20] [--peer /tmp/dover-base] [--no-postgres]
        [--domain-page-max 10000]  (0: the overview only; the peer's domain page takes seconds, see DOMAIN_PAGE_MAX)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("EMAIL_INFRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
INVENTORY = """\
version: 1
providers:
  dns:
    local: {type: zonefile, directory: zones, nameservers: [ns1.fleet.test., ns2.fleet.test.]}
    other: {type: zonefile, directory: zones2, nameservers: [ns1.fleet.test., ns2.fleet.test.]}
servers:
  - {name: mx1, hostname: mail.fleet.test, ipv4: 127.0.0.20}
  - {name: mx2, hostname: mail2.fleet.test, ipv4: 127.0.0.21}
defaults:
  dns_provider: local
  server: mx1
  dmarc: {policy: none, rua: ["mailto:dmarc@fleet.test"]}
domains:
  - name: d0000000.fleet.test
    mailboxes: [{first_name: Ann, last_name: Lee}, {first_name: Bob, last_name: Stone}]
"""
PAGES = {
    "overview (default)": "/",
    "overview sorted by SPF": "/?sort=spf&dir=desc",
    "overview filtered (server, status)": "/?server=mx2&status=warning",
    "overview filtered by check": "/?check=drift&check_status=error",
    "overview search": "/?q=d00123",
    "domain page": "/domains/d0000042.fleet.test",
}
CHUNK = 5_000
#: the peer's domain page planned the whole desired state for its live drift (5 s a request at 10,000 domains,
#: about 50 s at 100,000): by default the domain page is measured up to this size (ours: ~45 ms at either)
DOMAIN_PAGE_MAX = 10_000


def name(i: int) -> str:
    return f"d{i:07d}.fleet.test"


async def build(settings: Any, size: int) -> None:
    """Import the inventory, then bulk-insert the fleet, its check states and the overview's rows."""
    from sqlalchemy import insert, select

    from email_infrastructure.core.inventory.loader import parse_inventory_text
    from email_infrastructure.reconcile.registry import provider_schemas
    from email_infrastructure.services.app import App
    from email_infrastructure.services.desired import import_inventory
    from email_infrastructure.storage.models import CheckResultRecord, CheckState, Domain, Mailbox, Server
    from email_infrastructure.storage.overview_rows import refresh_workspace
    from email_infrastructure.storage.scoping import rows_for

    if settings.database_url:
        from email_infrastructure.storage.migrate import upgrade

        await upgrade(settings.database_url)
    app = App(settings)
    path = settings.data_dir / "inventory.yaml"
    path.write_text(INVENTORY)
    await import_inventory(app, parse_inventory_text(INVENTORY, str(path), provider_schemas()))
    async with app.uow() as uow:
        s = uow.session
        model = await s.scalar(select(Domain).where(Domain.name == name(0)))
        assert model is not None
        servers = {r.name: r.id for r in (await s.scalars(select(Server))).all()}
        listed = {"findings": [{"id": "dnsbl.listed", "severity": "error"}] * 2, "status": "error"}
        states = [
            {"subject": "127.0.0.20", "check": "dnsbl", "status": "error", "summary": "listed on 2 lists"},
            {"subject": "127.0.0.21", "check": "dnsbl", "status": "ok", "summary": "ok"},
        ]
        await s.execute(insert(CheckState), rows_for(s, states))
        history = [{"subject": "127.0.0.20", "check": "dnsbl", "status": "error", "findings": listed}]
        await s.execute(insert(CheckResultRecord), rows_for(s, history))
        for start in range(1, size, CHUNK):
            numbers = range(start, min(size, start + CHUNK))
            rows = [
                {
                    "name": name(i),
                    "spec": model.spec,
                    "managed_by": "bench",
                    "dns_provider": "other" if i % 3 == 0 else "local",
                    "server_id": servers["mx2" if i % 2 else "mx1"],
                }
                for i in numbers
            ]
            await s.execute(insert(Domain), rows_for(s, rows))
            ids = (await s.execute(select(Domain.id).where(Domain.name.in_([r["name"] for r in rows])))).scalars()
            boxes = [
                {"domain_id": d, "local_part": local, "first_name": "A", "last_name": "B", "managed_by": "bench"}
                for d in ids
                for local in ("ann.lee", "bob.stone")
            ]
            await s.execute(insert(Mailbox), rows_for(s, boxes))
            checks = []
            for i in numbers:
                for check in ("drift", "spf", "dkim", "dmarc"):
                    status = "error" if check == "drift" and i % 50 == 0 else "ok"
                    status = "warning" if check == "dmarc" and i % 20 == 0 else status
                    checks.append({"subject": name(i), "check": check, "status": status, "summary": status})
                if i % 10 == 0:
                    checks.append({"subject": f"ann.lee@{name(i)}", "check": "mailbox", "status": "ok", "summary": ""})
            await s.execute(insert(CheckState), rows_for(s, checks))
        await uow.commit()
    async with app.uow() as uow:
        await uow.session.run_sync(lambda session: refresh_workspace(session.connection(), uow.workspace_id))
        await uow.commit()
    await app.close()


def peer_copy(ours: dict[str, str], label: str) -> dict[str, str]:
    """A copy of a built database at the peer's schema (0014: no `domain_status`)."""
    if not ours["url"]:
        target = Path(ours["data_dir"] + "-peer")
        if not (target / "done").exists():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ours["data_dir"], target)
            db = next(target.glob("*.db"))
            with sqlite3.connect(db) as conn:
                conn.execute("DROP TABLE IF EXISTS domain_status")
                conn.execute("DROP INDEX IF EXISTS ix_check_states_workspace_status")
                conn.execute("UPDATE alembic_version SET version_num = '0014'")
            (target / "done").write_text("")
        return {"data_dir": str(target), "url": ""}
    db = f"dover_bench_{label}_peer"
    admin_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {db} TEMPLATE {ours['url'].rsplit('/', 1)[1]}")
    url = ADMIN.rsplit("/", 1)[0] + f"/{db}"
    admin_sql("DROP TABLE domain_status; DROP INDEX IF EXISTS ix_check_states_workspace_status", url)
    admin_sql("UPDATE alembic_version SET version_num = '0014'", url)
    return {"data_dir": ours["data_dir"], "url": url}


def admin_sql(sql: str, url: str = ADMIN) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def settings_of(where: dict[str, str]) -> Any:
    from email_infrastructure.core.settings import Settings

    url = where["url"] or None
    return Settings(data_dir=Path(where["data_dir"]), database_url=url, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file


async def measure(where: dict[str, str], reads: int, size: int, domain_page_max: int) -> dict[str, list[float]]:
    """Each page `reads` times through the ASGI app (after one unmeasured read): seconds per request. The domain
    page at most 3 times, and only up to `domain_page_max` domains (`DOMAIN_PAGE_MAX`)."""
    import httpx

    from email_infrastructure.api.app import create_app
    from email_infrastructure.dashboard import extension
    from email_infrastructure.services.apikeys import ApiKeyService
    from email_infrastructure.services.app import App

    settings = settings_of(where)
    app = App(settings)
    key = (await ApiKeyService(app).replace("bench-dashboard", "read")).key
    await app.close()
    api = create_app(settings=settings, extensions=[extension])
    timed: dict[str, list[float]] = {}
    async with api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            form = (await client.get("/login")).text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token, form
            done = await client.post("/login", data={"csrf": token[1], "key": key, "next": "/"})
            assert done.status_code == 303, done.text
            for label, path in PAGES.items():
                if label == "domain page" and size > domain_page_max:
                    continue
                await client.get(path)  # warm-up, not measured
                timed[label] = []
                for _ in range(min(reads, 3) if label == "domain page" else reads):
                    began = time.perf_counter()
                    response = await client.get(path)
                    timed[label].append(time.perf_counter() - began)
                    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return timed


def run_child(code: Path, where: dict[str, str], reads: int, size: int, page_max: int) -> dict[str, list[float]]:
    """`measure` in a process running `code`'s sources (ours or the peer's)."""
    env = {**os.environ, "PYTHONPATH": f"{code / 'src'}:{code}"}
    args = [sys.executable, __file__, "--child", json.dumps(where), "--reads", str(reads), "--sizes", str(size)]
    args += ["--domain-page-max", str(page_max)]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measuring {code} failed:\n{out.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def cut(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


def fleet(kind: str, size: int, cache: Path) -> dict[str, str]:
    """The cached database of `size` domains (built on first use)."""
    data = cache / f"{kind}-{size}"
    where = {"data_dir": str(data), "url": ""}
    if kind == "postgresql":
        db = f"dover_bench_{size}"
        where["url"] = ADMIN.rsplit("/", 1)[0] + f"/{db}"
    if (data / "done").exists():
        return where
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    if kind == "postgresql":
        admin_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin_sql(f"CREATE DATABASE {db}")
    began = time.perf_counter()
    asyncio.run(build(settings_of(where), size))
    print(f"built {kind} {size:,} in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    (data / "done").write_text("")
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--peer-reads", type=int, default=5)
    parser.add_argument("--peer", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dover-bench-cache"))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", default=None)
    parser.add_argument("--domain-page-max", type=int, default=DOMAIN_PAGE_MAX)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure(json.loads(args.child), args.reads, args.sizes[0], args.domain_page_max))))
        return
    sys.path.insert(0, str(ROOT / "src"))
    kinds = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    print("| database | domains | page | ours p50 ms | ours p95 ms | peer p50 ms | peer p95 ms |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for kind in kinds:
        for size in args.sizes:
            where = fleet(kind, size, args.cache)
            page_max = args.domain_page_max
            ours = run_child(ROOT, where, args.reads, size, page_max)
            peer = peer_copy(where, f"{size}") if args.peer else None
            theirs = run_child(args.peer, peer, args.peer_reads, size, page_max) if args.peer and peer else {}
            for label in PAGES:
                if label not in ours:
                    continue
                peer = theirs.get(label)
                shown = f"{cut(peer, 50):.0f} | {cut(peer, 95):.0f}" if peer else "– | –"
                line = f"| {kind} | {size:,} | {label} | {cut(ours[label], 50):.0f} | {cut(ours[label], 95):.0f} | {shown} |"
                print(line, flush=True)


if __name__ == "__main__":
    main()
