"""Benchmark: `GET /api/v1/domains` with 10,000 domains stored, against a bare FastAPI endpoint, same run.

Both servers are uvicorn subprocesses on loopback; one async httpx client drives a bounded load
(a fixed number of requests at a fixed concurrency) at each in turn. Ours goes through everything
a real request does: bearer-key verification (an indexed read and an HMAC), the rate limiter
(memory), a paged read of the desired state and the envelope. The bare endpoint returns a page of
the same shape from memory. The ratio of requests/s is the figure (goal ≥ 50 %).

    python bench/api_load.py --domains 10000 --requests 2000 --concurrency 16 [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.conftest import free_port  # noqa: E402  # after the sys.path insert above

from email_infrastructure.core.inventory.loader import parse_inventory_text  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.settings import Settings  # noqa: E402  # after the sys.path insert above
from email_infrastructure.reconcile.registry import provider_schemas  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.apikeys import ApiKeyService  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.app import open_app  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.desired import import_inventory  # noqa: E402  # after the sys.path insert above

BARE = """
from fastapi import FastAPI

app = FastAPI()
ITEM = {"name": "d00000.fleet.test", "owner": "api", "status": "unknown",
        "spec": {"dns_provider": "local", "server": "mx1", "dkim_selector": "dkim"}, "mailboxes": []}
PAGE = {"success": True, "data": {"items": [ITEM] * 50, "total": 10000, "limit": 50, "offset": 0}}


@app.get("/api/v1/domains")
async def domains() -> dict:
    return PAGE


@app.get("/health")
async def health() -> dict:
    return {"success": True}
"""


def inventory_text(count: int) -> str:
    lines = [
        "version: 1",
        "providers:",
        "  dns:",
        "    local: {type: zonefile, directory: zones, nameservers: [ns1.fleet.test., ns2.fleet.test.]}",
        "servers:",
        "  - {name: mx1, hostname: mail.fleet.test, ipv4: 127.0.0.10}",
        "defaults:",
        "  dns_provider: local",
        "  server: mx1",
        '  dmarc: {policy: none, rua: ["mailto:dmarc@fleet.test"]}',
        "domains:",
    ]
    lines += [f"  - name: d{i:05d}.fleet.test" for i in range(count)]
    return "\n".join(lines) + "\n"


async def seed(settings: Settings, count: int, work: Path) -> tuple[str, float]:
    """Store `count` domains and create a read key; returns the key and the seconds it took."""
    started = time.perf_counter()
    path = work / "inventory.yaml"
    path.write_text(inventory_text(count))
    loaded = parse_inventory_text(path.read_text(), str(path), provider_schemas())
    async with open_app(settings) as app:
        if settings.database_url:
            from email_infrastructure.storage.migrate import upgrade

            await upgrade(settings.database_url)
        await import_inventory(app, loaded)
        key = (await ApiKeyService(app).create("bench", "read")).key
    return key, time.perf_counter() - started


def start(args: list[str], env: dict[str, str], port: int, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    until = time.monotonic() + 60
    while time.monotonic() < until:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server on {port} did not start:\n{log.read_text()}")


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int) -> dict[str, Any]:
    """`requests` GETs, `concurrency` at a time; latency percentiles, req/s, errors."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        for _ in range(min(50, requests)):  # warm-up, not measured
            await client.get(url)

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                i = queue.get_nowait()
                began = time.perf_counter()
                response = await client.get(f"{url}?offset={(i * 50) % 9950}")
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200 or not response.json()["success"]:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": requests,
        "errors": errors,
        "rps": requests / wall,
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"api-load-{name}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(
        EMAIL_INFRA_DATA_DIR=str(work / "data"),
        EMAIL_INFRA_CONFIG_DIR=str(work / "no-config"),
        EMAIL_INFRA_API_RATE_LIMIT_READ="10000000/minute",  # the limiter runs, it never refuses here
        EMAIL_INFRA_LOG_LEVEL="WARNING",
    )
    if database_url:
        env["EMAIL_INFRA_DATABASE_URL"] = database_url
    settings = Settings(data_dir=work / "data", database_url=database_url, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    key, seeded = asyncio.run(seed(settings, args.domains, work))
    (work / "bare.py").write_text(BARE)
    ours_port, bare_port = free_port(), free_port()
    ours = start(
        [sys.executable, "-m", "email_infrastructure", "serve", "--port", str(ours_port)],
        env,
        ours_port,
        work / "ours.log",
        work,
    )
    bare = start(
        [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(bare_port), "--log-level", "warning"],
        env,
        bare_port,
        work / "bare.log",
        work,
    )
    try:
        total = httpx.get(f"http://127.0.0.1:{ours_port}/api/v1/domains", headers={"Authorization": f"Bearer {key}"})
        assert total.json()["data"]["total"] == args.domains, total.text
        result_ours = asyncio.run(
            load(
                f"http://127.0.0.1:{ours_port}/api/v1/domains",
                {"Authorization": f"Bearer {key}"},
                args.requests,
                args.concurrency,
            )
        )
        result_bare = asyncio.run(
            load(f"http://127.0.0.1:{bare_port}/api/v1/domains", {}, args.requests, args.concurrency)
        )
    finally:
        for process in (ours, bare):
            process.terminate()
            process.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "backend": name,
        "domains": args.domains,
        "seed_s": seeded,
        "ours": result_ours,
        "bare": result_bare,
        "ratio": result_ours["rps"] / result_bare["rps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL (an empty database) to run on as well")
    args = parser.parse_args()
    results = [run_backend("sqlite", None, args)]
    if args.postgres:
        results.append(run_backend("postgresql", args.postgres, args))
    print(json.dumps(results, indent=2))
    for r in results:
        print(
            f"{r['backend']}: {r['domains']} domains; ours {r['ours']['rps']:.0f} req/s "
            f"(p50 {r['ours']['p50_ms']:.1f} / p95 {r['ours']['p95_ms']:.1f} / p99 {r['ours']['p99_ms']:.1f} ms, "
            f"{r['ours']['errors']} errors), bare {r['bare']['rps']:.0f} req/s "
            f"(p50 {r['bare']['p50_ms']:.1f} / p95 {r['bare']['p95_ms']:.1f} / p99 {r['bare']['p99_ms']:.1f} ms); "
            f"ratio {r['ratio']:.0%}"
        )


if __name__ == "__main__":
    main()
