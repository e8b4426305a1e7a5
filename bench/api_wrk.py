"""Benchmark: `GET /api/v1/domains` (10,000 domains, 50 a page) with wrk -t1 -c16, ours against bare FastAPI.

Ours is a real `email-infra serve` process (uvicorn, the key check, the rate limiter, the database);
the peer is a bare FastAPI app under the same uvicorn serving the same pages' JSON from memory
(fetched from ours first, returned as dicts: FastAPI serialises them). Both get the same URLs (a
wrk Lua script walking the 200 pages) and the same key header. Runs are interleaved A B A B A B
with the load average beside each pair; on SQLite (a temp data dir) and on PostgreSQL (a temp
database `ei_bench_<pid>`, dropped after). One domain by key (`GET /api/v1/domains/{name}`) is
timed on a 100,000-domain fleet (random names, no peer: the target is its p99) with one connection
(a read's own latency) and with sixteen (the rate; latency then includes the queue).
wrk comes from Debian: installed with apt-get when missing (as root, as scripts/install-os-deps does).

    python bench/api_wrk.py [--domains 10000] [--one 100000] [--pairs 3] [--seconds 10] [--no-postgres | --no-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT / "src"), str(BENCH)]

from domain_read import ADMIN, INVENTORY, admin, grow  # noqa: E402  # after the sys.path insert above

from email_infrastructure.core.inventory.loader import parse_inventory_text  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.settings import Settings  # noqa: E402  # after the sys.path insert above
from email_infrastructure.reconcile.registry import provider_schemas  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.apikeys import ApiKeyService  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.app import App  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.desired import import_inventory  # noqa: E402  # after the sys.path insert above

PAGE = 50
#: limits no benchmark reaches: the limiter counts every request but never refuses one
UNLIMITED = {"EMAIL_INFRA_API_RATE_LIMIT_READ": "100000000/hour", "EMAIL_INFRA_API_RATE_LIMIT_WRITE": "100000000/hour"}
BARE = """
import json, sys
from fastapi import FastAPI
import uvicorn
pages = {int(k): v for k, v in json.load(open(sys.argv[1])).items()}
app = FastAPI()
@app.get("/api/v1/domains")
async def domains(limit: int = 50, offset: int = 0) -> dict:
    return pages[offset]
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_config=None, access_log=False)
"""
WALK = """
local i = -1
request = function()
  i = (i + 1) %% %(pages)d
  return wrk.format("GET", "/api/v1/domains?limit=%(page)d&offset=" .. (i * %(page)d))
end
"""
ONE = """
math.randomseed(7)
request = function()
  return wrk.format("GET", string.format("/api/v1/domains/d%%07d.fleet.test", math.random(0, %(last)d)))
end
"""


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing wrk with apt-get", flush=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode})")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in 120 s")


def serve(settings: Settings, work: Path, extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`email-infra serve` on a free loopback port with `settings`' data dir and database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(UNLIMITED, PYTHONPATH=str(ROOT / "src"), EMAIL_INFRA_DATA_DIR=str(settings.data_dir))
    env["EMAIL_INFRA_CONFIG_DIR"] = str(work / "no-config")
    if settings.database_url:
        env["EMAIL_INFRA_DATABASE_URL"] = settings.database_url
    env.update(extra or {})
    command = [sys.executable, "-m", "email_infrastructure", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(f"{url}/health", process)
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wrk(binary: str, url: str, script: Path, key: str, seconds: int, connections: int = 16) -> dict[str, float]:
    """Requests per second and latency percentiles of one wrk run (one thread)."""
    out = subprocess.run(
        [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         "-H", f"Authorization: Bearer {key}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no request rate:\n{out}")
    rate = float(found.group(1))
    cuts = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)) for p in ("50", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rate, "p50": cuts["50"], "p99": cuts["99"], "non2xx": float(errors.group(1)) if errors else 0.0}


def _ms(found: re.Match[str] | None) -> float:
    assert found is not None
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


async def seed(settings: Settings, size: int) -> tuple[str, str]:
    """A fleet of `size` domains; a read key and a write key."""
    app = App(settings)
    try:
        if settings.database_url:
            from email_infrastructure.storage.migrate import upgrade

            await upgrade(settings.database_url)
        path = settings.data_dir / "inventory.yaml"
        path.write_text(INVENTORY)
        await import_inventory(app, parse_inventory_text(INVENTORY, str(path), provider_schemas()))
        await grow(app, size)
        await analyze(settings)
        keys = ApiKeyService(app)
        return (await keys.replace("bench-read", "read")).key, (await keys.replace("bench-write", "write")).key
    finally:
        await app.close()


async def analyze(settings: Settings) -> None:
    """PostgreSQL's statistics after the bulk load, as autovacuum would gather them shortly after (the
    planner without them sorts every domain for a page): the steady state, not the first minute."""
    if settings.database_url:
        import asyncpg

        conn = await asyncpg.connect(settings.database_url, timeout=5)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()


def listing(label: str, settings: Settings, work: Path, binary: str, size: int, args: Any) -> None:
    """Ours and the bare app, interleaved; the ratio of their request rates."""
    key, _ = asyncio.run(seed(settings, size))
    ours, url = serve(settings, work)
    try:
        pages = (size + PAGE - 1) // PAGE
        headers = {"Authorization": f"Bearer {key}"}
        bodies = {
            str(i * PAGE): httpx.get(f"{url}/api/v1/domains?limit={PAGE}&offset={i * PAGE}", headers=headers).json()
            for i in range(pages)
        }
        import json

        (work / "pages.json").write_text(json.dumps(bodies))
        script = work / "walk.lua"
        script.write_text(WALK % {"pages": pages, "page": PAGE})
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(work / "pages.json"), str(port)])
        peer = f"http://127.0.0.1:{port}"
        try:
            wait_up(f"{peer}/api/v1/domains", bare)
            assert httpx.get(f"{peer}/api/v1/domains?offset={PAGE}").json() == bodies[str(PAGE)]
            wrk(binary, url, script, key, 3)  # warm-up: views cached, connections open
            wrk(binary, peer, script, key, 3)
            ratios = []
            for n in range(args.pairs):
                load = f"{os.getloadavg()[0]:.2f}"
                a = wrk(binary, url, script, key, args.seconds)
                b = wrk(binary, peer, script, key, args.seconds)
                ratios.append(a["rps"] / b["rps"])
                print(
                    f"{label} pair {n + 1} (load {load}): ours {a['rps']:,.0f} req/s p50 {a['p50']:.1f} ms "
                    f"p99 {a['p99']:.1f} ms ({a['non2xx']:.0f} non-2xx) | bare FastAPI {b['rps']:,.0f} req/s "
                    f"p99 {b['p99']:.1f} ms | ours/bare {ratios[-1]:.1%}",
                    flush=True,
                )
            ratios.sort()
            print(f"{label} listing {size:,} domains: median ours/bare {ratios[len(ratios) // 2]:.1%}", flush=True)
        finally:
            stop(bare)
    finally:
        stop(ours)


def one_domain(label: str, settings: Settings, work: Path, binary: str, size: int, args: Any) -> None:
    """`GET /api/v1/domains/{name}` of random domains of a `size` fleet (no peer: the target is the p99)."""
    key, _ = asyncio.run(seed(settings, size))
    ours, url = serve(settings, work)
    try:
        script = work / "one.lua"
        script.write_text(ONE % {"last": size - 1})
        wrk(binary, url, script, key, 3)
        # one connection: a read's own latency; sixteen: the rate, and the latency with requests queued
        for n in range(args.pairs):
            for connections in (1, 16):
                load = f"{os.getloadavg()[0]:.2f}"
                r = wrk(binary, url, script, key, args.seconds, connections=connections)
                print(
                    f"{label} one domain of {size:,} run {n + 1} -c{connections} (load {load}): {r['rps']:,.0f} "
                    f"req/s p50 {r['p50']:.1f} ms p99 {r['p99']:.1f} ms ({r['non2xx']:.0f} non-2xx)",
                    flush=True,
                )
    finally:
        stop(ours)


def backends(base: Path, created: list[str], no_postgres: bool, no_sqlite: bool = False) -> list[tuple[str, Any]]:
    """(label, a function of a subdirectory name giving fresh Settings); the PostgreSQL databases it creates
    are added to `created`, for `drop_databases` afterwards."""

    def sqlite(sub: str) -> Settings:
        (base / sub).mkdir(parents=True)
        return Settings(data_dir=base / sub, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file

    def postgres(sub: str) -> Settings:
        db = f"ei_bench_{os.getpid()}_{sub.replace('-', '_')}"
        asyncio.run(admin(f"CREATE DATABASE {db}"))
        created.append(db)
        (base / sub).mkdir(parents=True)
        url = ADMIN.rsplit("/", 1)[0] + f"/{db}"
        return Settings(data_dir=base / sub, database_url=url, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file

    chosen: list[tuple[str, Any]] = [] if no_sqlite else [("sqlite", sqlite)]
    if not no_postgres:
        chosen.append(("postgresql", postgres))
    return chosen


def drop_databases(created: list[str]) -> None:
    """Drop the benchmark's PostgreSQL databases."""
    for db in created:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--one", type=int, default=100_000, help="fleet size of the one-domain read (0: skip)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    binary = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="ei-bench-wrk-") as tmp:
        base = Path(tmp)
        created: list[str] = []
        chosen = backends(base, created, args.no_postgres, args.no_sqlite)
        try:
            for label, make in chosen:
                settings = make(f"{label}-list")
                listing(label, settings, settings.data_dir, binary, args.domains, args)
            if args.one:
                for label, make in chosen:
                    settings = make(f"{label}-one")
                    one_domain(label, settings, settings.data_dir, binary, args.one, args)
        finally:
            drop_databases(created)


if __name__ == "__main__":
    main()
