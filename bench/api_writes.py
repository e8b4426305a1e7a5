"""Benchmark: adding domains (`POST /api/v1/domains`, 8 clients) at 500, 2,000, 10,000 and 100,000 domains.

A real `email-infra serve` process on a fleet seeded with bulk inserts (bench/domain_read.py's `grow`);
wrk (-t1 -c8) posts new domains, each with a name of its own, for a few seconds per size; the rate
(201s per second) and latencies are printed per size with the load average, then the ratio of the
largest fleet's rate to the smallest's (flat: ≈ 1). Last, SIGTERM is sent to the server while the
8 clients write, and the seconds it took to exit are printed. SQLite (temp data dir) and PostgreSQL
(temp database `ei_bench_<pid>_…`, dropped after).

    python bench/api_writes.py [--sizes 500,2000,10000,100000] [--seconds 10] [--no-postgres | --no-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "src"), str(BENCH)]

from api_wrk import analyze, backends, drop_databases, ensure_wrk, seed, serve, stop, wrk  # noqa: E402  # after the sys.path insert above
from domain_read import grow  # noqa: E402  # after the sys.path insert above

from email_infrastructure.core.settings import Settings  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.app import App  # noqa: E402  # after the sys.path insert above

POST = """
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, "/api/v1/domains", nil, '{"name": "w%(tag)s-' .. n .. '.writes.test"}')
end
"""


async def grown(settings: Settings, size: int) -> None:
    app = App(settings)
    try:
        await grow(app, size)
        await analyze(settings)
    finally:
        await app.close()


def run_backend(label: str, settings: Settings, binary: str, sizes: list[int], seconds: int) -> None:
    """Writes at each size (the fleet grown between them), then SIGTERM under the write load."""
    _, key = asyncio.run(seed(settings, sizes[0]))
    work = settings.data_dir
    rates: list[float] = []
    for size in sizes:
        asyncio.run(grown(settings, size))
        server, url = serve(settings, work)
        try:
            script = work / f"post-{size}.lua"
            script.write_text(POST % {"tag": size})
            load = f"{os.getloadavg()[0]:.2f}"
            r = wrk(binary, url, script, key, seconds, connections=8)
            rates.append(r["rps"])
            print(
                f"{label} {size:>7,} domains (load {load}): {r['rps']:,.0f} adds/s p50 {r['p50']:.1f} ms "
                f"p99 {r['p99']:.1f} ms ({r['non2xx']:.0f} non-2xx)",
                flush=True,
            )
        finally:
            stop(server)
    print(f"{label} rate {sizes[-1]:,} / {sizes[0]:,} domains: {rates[-1] / rates[0]:.2f}", flush=True)
    server, url = serve(settings, work)
    script = work / "post-term.lua"
    script.write_text(POST % {"tag": "term"})
    writers = subprocess.Popen(
        [binary, "-t1", "-c8", "-d20s", "-s", str(script), "-H", f"Authorization: Bearer {key}", url],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # the writes are under way
        began = time.monotonic()
        server.terminate()
        try:
            code: Any = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = "still running after 60 s (killed)"
            stop(server)
        print(f"{label} SIGTERM under 8 writing clients: exited {code} in {time.monotonic() - began:.2f} s", flush=True)
    finally:
        writers.terminate()
        writers.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,10000,100000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    binary = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="ei-bench-writes-") as tmp:
        created: list[str] = []
        chosen = backends(Path(tmp), created, args.no_postgres, args.no_sqlite)
        try:
            for label, make in chosen:
                run_backend(label, make(f"{label}-writes"), binary, sizes, args.seconds)
        finally:
            drop_databases(created)


if __name__ == "__main__":
    main()
