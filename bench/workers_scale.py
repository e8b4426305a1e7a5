"""Benchmark: a full DNS audit cycle of N stored domains on 1, 2 and 4 `email-infra worker` processes.

N domains (`audit_vs_checkdmarc.build_zones`: shared ESP include chains, MX hosts, some defects)
are served by PowerDNS on 127.0.0.2:53 and stored in a fresh PostgreSQL database; the scheduler's
tick enqueues `run_checks` jobs of B domains each (family `dns`; `--batch 1` is a job per domain)
on Redis; W workers (`--burst`) drain the queue. Per W: wall time, domains/s, peak RSS of each worker, queries PowerDNS answered, and
the check results stored (each domain's run must store its results exactly once).

The peers, on the same fleet in the same run: `email-infra audit --format jsonl` (one process,
the same DNS checks, nothing stored) and the in-process runner (no Redis, the same task bodies,
one process). Queue overhead per task: a no-op task through saq (one worker, one job at a
time) against calling it directly, and `run_check` (one domain) and `run_checks` (a batch) through
the queue against calling them directly.

    python bench/workers_scale.py --domains 2000 --workers 1 2 4 --batch 1 50

`--pairs N` runs instead N interleaved pairs (issue 22's worker row): `email-infra audit`, then a
cycle on the first `--workers` count, each pair's rate ratio printed with the load average and
the workers' CPU seconds. A warm-up audit (PowerDNS's cache) and a warm-up cycle (the check
states created) go first, uncounted. `--compare-src DIR` adds, each pair, the same cycle on
another checkout's code (an A/B of a change; the order alternates):

    python bench/workers_scale.py --domains 20000 --workers 1 --batch 50 --dns-cache local --pairs 3

`--serve` starts `email-infra serve` on the same PostgreSQL and Redis (a read key made for it)
and samples GET /api/v1/domains while each cycle runs, and for `--idle-seconds` before the first
cycle with nothing else running (the peer: the same API, idle): p50/p99 and the ratio to idle.
`--api-url URL --api-key KEY` samples an API started elsewhere instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("EMAIL_INFRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("EMAIL_INFRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def noop(app: Any, *, job_key: str) -> dict[str, Any]:
    """A task that does nothing: what is left of its cost is the queue's."""
    return {}


def _tasks() -> dict[str, Any]:
    from email_infrastructure.services.queue import TaskSpec

    return {"noop": TaskSpec("noop", noop, timeout=30, heartbeat=10, retries=1)}


#: registered in the workers with `--tasks bench.workers_scale`
TASKS = _tasks()


def fleet(domains: list[str], nameserver: str) -> Any:
    """The inventory of the benchmark fleet (zone-file DNS: the checks read PowerDNS, nothing is written)."""
    from email_infrastructure.core.inventory.schema import Inventory

    return Inventory.model_validate(
        {
            "version": 1,
            "providers": {"dns": {"z": {"type": "zonefile"}}},
            "servers": [{"name": "mx0", "hostname": "mx0.mailhost.test", "ipv4": "127.0.0.10"}],
            "defaults": {"dns_provider": "z", "server": "mx0", "dkim_selector": "s1"},
            "monitoring": {"nameservers": [nameserver]},
            "domains": [{"name": d} for d in domains],
        }
    )


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def settings_for(database_url: str, data_dir: Path, prefix: str | None) -> Any:
    from email_infrastructure.core.settings import Settings

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=REDIS_URL if prefix else None,
        redis_prefix=prefix or "email-infra",
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    )


async def result_count(app: Any) -> tuple[int, int]:
    """(check result rows, run keys) stored so far."""
    from sqlalchemy import func, select

    from email_infrastructure.storage.models import CheckResultRecord, WorkerRunKey

    async with app.uow() as uow:
        rows = await uow.session.scalar(select(func.count()).select_from(CheckResultRecord))
        keys = await uow.session.scalar(select(func.count()).select_from(WorkerRunKey))
        return int(rows or 0), int(keys or 0)


def start_worker(
    settings: Any, concurrency: int, queue: str = "default", shared_dns: bool = True, src: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_")}
    env.update(
        {
            "EMAIL_INFRA_DATA_DIR": str(settings.data_dir),
            "EMAIL_INFRA_DATABASE_URL": settings.database_url,
            "REDIS_URL": REDIS_URL,
            "EMAIL_INFRA_REDIS_PREFIX": settings.redis_prefix,
            "EMAIL_INFRA_SHARED_DNS_CACHE": "true" if shared_dns else "false",
            # this checkout's code (not whichever the virtualenv installed), as the audit CLI peer runs it
            "PYTHONPATH": os.pathsep.join([str(src or ROOT / "src"), str(ROOT)]),
        }
    )
    argv = [sys.executable, "-m", "email_infrastructure", "worker", "--burst", "--concurrency", str(concurrency)]
    argv += ["--queue", queue, "--tasks", "bench.workers_scale"]
    logs = os.environ.get("BENCH_WORKER_LOGS")  # a directory: each worker's output in a file there
    out = open(Path(logs, f"worker-{uuid.uuid4().hex[:8]}.log"), "wb") if logs else subprocess.DEVNULL  # noqa: SIM115  # the child writes it; closed when the process object goes
    return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def reap(process: subprocess.Popen[bytes]) -> tuple[int, float, float]:
    """Wait for a worker: (exit status, peak RSS in MiB, CPU seconds), the peak read from /proc while it runs.

    The CPU seconds (user + system, `wait4`) move less than the wall time with the machine's load.

    Not `wait4`'s `ru_maxrss`: Linux counts in it the child's memory before `exec`, i.e. the fork
    of this benchmark process (900 MiB with 100,000 domains in it), whatever the worker used.
    """
    peak_kib = 0
    while True:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak_kib = max(peak_kib, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass  # exiting: the last reading stands
        pid, wait_status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(wait_status)
            return process.returncode, round(peak_kib / 1024, 1), round(usage.ru_utime + usage.ru_stime, 2)
        time.sleep(0.5)


@dataclass
class Samples:
    """Latencies (ms) of the API's answers, and the answers that were not 200."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass(frozen=True)
class ApiTarget:
    """Where the API answers and the read key it takes."""

    url: str
    key: str


async def sample_api(api: ApiTarget, stop: asyncio.Event) -> Samples:
    """GET url/api/v1/domains (the first page of 50) one after another, 20 a second at most, until `stop`."""
    import httpx

    samples = Samples()
    headers = {"Authorization": f"Bearer {api.key}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=30, headers=headers) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await client.get("/api/v1/domains", params={"limit": 50})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            samples.latencies.append((time.perf_counter() - started) * 1000)
            samples.errors += 0 if ok else 1
            await asyncio.sleep(0.05)
    return samples


def percentiles(samples: Samples) -> dict[str, float]:
    values = samples.latencies
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100)
    return {
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "samples": len(values),
        "errors": samples.errors,
    }


async def idle_api(api: ApiTarget, seconds: float) -> dict[str, float]:
    """The API's latencies with no cycle running (the figure each cycle's is compared with)."""
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_api(api, stop))
    await asyncio.sleep(seconds)
    stop.set()
    return percentiles(await sampler)


def start_api(settings: Any, work: Path, prefix: str) -> tuple[subprocess.Popen[bytes], str]:
    """`email-infra serve` on a free loopback port, on the benchmark's database and Redis."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(
        {
            "EMAIL_INFRA_DATA_DIR": str(settings.data_dir),
            "EMAIL_INFRA_DATABASE_URL": settings.database_url,
            "REDIS_URL": REDIS_URL,
            "EMAIL_INFRA_REDIS_PREFIX": prefix,
            "EMAIL_INFRA_API_RATE_LIMIT_PREFIX": prefix,
            # the sampler asks up to 20 times a second; the default 60/minute would answer 429
            "EMAIL_INFRA_API_RATE_LIMIT_READ": "100000/minute",
        }
    )
    argv = [sys.executable, "-m", "email_infrastructure", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (work / "serve.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"serve did not start: {(work / 'serve.log').read_text(errors='replace')}")


async def cycle(
    database_url: str,
    work: Path,
    domains: list[str],
    workers: int,
    concurrency: int,
    api: ApiTarget | None,
    batch: int,
    shared_dns: bool = True,
    number: int = 0,
    src: Path | None = None,
) -> dict[str, Any]:
    """One audit cycle of every domain on `workers` processes, `batch` domains a job.

    Cycle `number` is a hundred intervals after the one before: a domain whose slot began
    between two cycles must not find its run of the previous cycle stored already.
    """
    from email_infrastructure.services.app import App
    from email_infrastructure.services.monitoring import CheckSchedule
    from email_infrastructure.services.tasks import TASKS as OUR_TASKS
    from email_infrastructure.workers.queue import SaqQueue
    from email_infrastructure.workers.scheduler import Scheduler

    prefix = f"ei-bench-{uuid.uuid4().hex[:8]}"
    settings = settings_for(database_url, work, prefix)
    app = App(settings)
    queue = SaqQueue(settings, OUR_TASKS)
    try:
        before = await result_count(app)
        started = time.perf_counter()
        # a slot of its own per cycle: each cycle is a new interval for every domain
        schedule = CheckSchedule({"dns": 3600}, {"dns": domains})
        shift = 3600 * 100 * (number + 1)
        tick = await Scheduler(queue, clock=lambda: time.time() + shift, batch=batch).tick(schedule)
        enqueue_seconds = time.perf_counter() - started
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_api(api, stop)) if api else None
        processes = [start_worker(settings, concurrency, shared_dns=shared_dns, src=src) for _ in range(workers)]
        reaped = [await asyncio.to_thread(reap, p) for p in processes]
        seconds = time.perf_counter() - started
        # a job saq's sweep re-queued while it ran (tobymao/saq#124) can outlive the burst
        # workers; a live deployment's workers take it later: so does one more burst worker
        left_over = await queue.queue.count("incomplete")
        if left_over:
            reap(start_worker(settings, concurrency, shared_dns=shared_dns, src=src))
        stop.set()
        latencies = await sampler if sampler else Samples()
        after = await result_count(app)
        out: dict[str, Any] = {
            "workers": workers,
            "concurrency": concurrency,
            "batch": batch,
            "dns_cache": "shared (Redis)" if shared_dns else "per process",
            "jobs": tick.jobs,
            "enqueued": tick.enqueued,
            "enqueue_seconds": round(enqueue_seconds, 2),
            "seconds": round(seconds, 2),
            "domains_per_second": round(len(domains) / seconds, 1),
            "exit_codes": [code for code, _, _ in reaped],
            "peak_rss_mib": [rss for _, rss, _ in reaped],
            "worker_cpu_seconds": round(sum(cpu for _, _, cpu in reaped), 2),
            "result_rows": after[0] - before[0],
            "runs_stored": after[1] - before[1],
            "jobs_left_for_a_later_worker": left_over,
            "incomplete_jobs": await queue.queue.count("incomplete"),
            "failed_jobs": await failed_jobs(queue),
            # other tenants of the machine show here: the 1-minute load at the end of the cycle
            "load_average": round(os.getloadavg()[0], 1),
        }
        if api:
            out["api"] = percentiles(latencies)
        return out
    finally:
        await queue.close()
        await app.close()


async def failed_jobs(queue: Any) -> int:
    """Jobs that ended failed or aborted (saq's `incomplete` count leaves them out)."""
    from saq.job import Status

    return sum([1 async for job in queue.queue.iter_jobs([Status.FAILED, Status.ABORTED])])


async def in_process(database_url: str, work: Path, domains: list[str], concurrency: int, batch: int) -> dict[str, Any]:
    """The peer: the same task bodies in one process, no Redis (what a single-machine install runs)."""
    from email_infrastructure.services.app import App
    from email_infrastructure.services.local_queue import InProcessQueue
    from email_infrastructure.services.monitoring import CheckSchedule
    from email_infrastructure.services.tasks import TASKS as OUR_TASKS
    from email_infrastructure.workers.scheduler import Scheduler

    app = App(settings_for(database_url, work, None))
    try:
        queue = InProcessQueue(app, OUR_TASKS, concurrency=concurrency)
        before = await result_count(app)
        started = time.perf_counter()
        schedule = CheckSchedule({"dns": 3600}, {"dns": domains})
        await Scheduler(queue, clock=lambda: time.time() + 3600 * (1000 + batch), batch=batch).tick(schedule)
        await queue.join()
        seconds = time.perf_counter() - started
        after = await result_count(app)
        failed = sum(1 for r in queue.results.values() if r["status"] != "complete")
        return {
            "workers": "in-process",
            "concurrency": concurrency,
            "batch": batch,
            "seconds": round(seconds, 2),
            "domains_per_second": round(len(domains) / seconds, 1),
            "result_rows": after[0] - before[0],
            "runs_stored": after[1] - before[1],
            "failed_jobs": failed,
        }
    finally:
        await app.close()


def audit_cli(work: Path, domains: list[str], address: str) -> dict[str, Any]:
    """`email-infra audit --format jsonl` of the same domains and checks: one process, nothing stored."""
    from bench.audit_vs_checkdmarc import VENV_BIN, measure

    (work / "domains.txt").write_text("\n".join(domains) + "\n")
    checks = "spf,dkim,dmarc,mx,mta_sts,tls_rpt,bimi"
    command = [str(VENV_BIN / "email-infra"), "audit", "--domains-file", str(work / "domains.txt")]
    command += ["--nameserver", address, "--selector", "s1", "--checks", checks, "--format", "jsonl"]
    result = measure(
        command,
        work / "audit.jsonl",
    )
    return {
        "workers": "audit CLI (stores nothing)",
        **result,
        "domains_per_second": round(len(domains) / result["seconds"], 1),
    }


async def overhead(database_url: str, work: Path, domains: list[str], jobs: int, batch: int) -> dict[str, Any]:
    """Per-task cost through saq (one worker, one job at a time) against a direct call.

    The direct calls check slot 1 and the queued ones slot 2 of the same domains: each is a new run.
    """
    from email_infrastructure.services.app import App
    from email_infrastructure.services.tasks import TASKS as OUR_TASKS
    from email_infrastructure.workers.queue import SaqQueue

    out: dict[str, Any] = {}

    # ten times as many no-ops: their cost is close to the noise of a worker's start-up
    def items(i: int, number: int) -> list[list[Any]]:
        return [[d, number] for d in domains[i * batch : (i + 1) * batch]]

    for name, jobs_of_kind, params in (
        ("noop", 10 * jobs, lambda i, n: {}),
        ("run_check", jobs, lambda i, n: {"family": "dns", "subject": domains[i]}),
        ("run_checks", max(jobs // batch, 1), lambda i, n: {"family": "dns", "items": items(i, n)}),
    ):
        prefix = f"ei-bench-{uuid.uuid4().hex[:8]}"
        settings = settings_for(database_url, work, prefix)
        app = App(settings)
        tasks = {**OUR_TASKS, **TASKS}
        queue = SaqQueue(settings, tasks)
        try:
            started = time.perf_counter()
            for i in range(jobs_of_kind):
                await tasks[name].body(app, job_key=f"direct:{prefix}:{i}", **params(i, 1))
            direct = (time.perf_counter() - started) / jobs_of_kind
            for i in range(jobs_of_kind):
                await queue.enqueue(name, params(i, 2), f"queued:{prefix}:{i}")
            # the worker's start-up is measured alone (an empty queue) and taken off
            empty = settings_for(database_url, work, prefix + "-empty")
            started = time.perf_counter()
            reap(start_worker(empty, 1))
            startup = time.perf_counter() - started
            started = time.perf_counter()
            reap(start_worker(settings, 1))
            queued = (time.perf_counter() - started - startup) / jobs_of_kind
            out[name] = {
                "jobs": jobs_of_kind,
                "domains_per_job": batch if name == "run_checks" else (1 if name == "run_check" else 0),
                "direct_ms": round(direct * 1000, 2),
                "queued_ms": round(queued * 1000, 2),
                "overhead_ms": round((queued - direct) * 1000, 2),
                "worker_startup_s": round(startup, 2),
            }
        finally:
            await queue.close()
            await app.close()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.audit_vs_checkdmarc import build_zones
    from bench.localdns import queries_answered, start, write_zones
    from email_infrastructure.core.inventory import LoadedInventory
    from email_infrastructure.services.app import App
    from email_infrastructure.services.desired import import_inventory
    from email_infrastructure.storage.db import open_database

    zones, domains, _ = build_zones(args.domains)
    name = f"ei_bench_{uuid.uuid4().hex[:8]}"
    database_url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    await admin(f'CREATE DATABASE "{name}"')
    results: dict[str, Any] = {"domains": args.domains, "cpus": os.cpu_count()}
    serving: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            results["records"] = write_zones(work / "pdns.sqlite3", zones)
            server = start(work, args.address, 53)
            try:
                settings = settings_for(database_url, work, None)
                db = await open_database(settings, migrate=True)
                await db.close()
                app = App(settings)
                started = time.perf_counter()
                inventory = fleet(domains, f"{args.address}:53")
                await import_inventory(app, LoadedInventory(inventory, work / "fleet.yaml"))
                results["store_seconds"] = round(time.perf_counter() - started, 2)
                runs = []
                api, serving = await api_target(args, settings, work, app)
                if api is not None:
                    results["api_idle"] = await idle_api(api, args.idle_seconds)
                if args.pairs:
                    results["pairs"] = await pairs(args, database_url, work, domains, server)
                    await app.close()
                    return results
                before = queries_answered(server)
                peer_audit = audit_cli(work, domains, args.address)
                peer_audit["dns_queries"] = queries_answered(server) - before
                runs.append(peer_audit)
                if not args.skip_in_process:
                    before = queries_answered(server)
                    peer = await in_process(database_url, work, domains, args.concurrency, args.batch[-1])
                    peer["dns_queries"] = queries_answered(server) - before
                    runs.append(peer)
                configurations = [
                    (w, b, d == "shared") for d in args.dns_cache for b in args.batch for w in args.workers
                ]
                for number, (count, batch, shared_dns) in enumerate(configurations):
                    before = queries_answered(server)
                    result = await cycle(
                        database_url, work, domains, count, args.concurrency, api, batch, shared_dns, number
                    )
                    if api is not None and results["api_idle"]:
                        idle = results["api_idle"]
                        result["api"]["p50_ratio_to_idle"] = round(result["api"]["p50_ms"] / idle["p50_ms"], 2)
                        result["api"]["p99_ratio_to_idle"] = round(result["api"]["p99_ms"] / idle["p99_ms"], 2)
                    result["dns_queries"] = queries_answered(server) - before
                    runs.append(result)
                    print(json.dumps(result), file=sys.stderr)
                results["cycles"] = runs
                if serving is not None:
                    serving.terminate()
                    serving.wait(timeout=30)
                    serving = None
                await app.close()
                results["overhead"] = await overhead(database_url, work, domains, args.overhead_jobs, args.batch[-1])
            finally:
                if serving is not None:
                    serving.kill()
                server.stop()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match="*ei-bench-*", count=1000):
            client.delete(key)
    return results


async def pairs(
    args: argparse.Namespace, database_url: str, work: Path, domains: list[str], server: Any
) -> list[dict[str, Any]]:
    """Interleaved (audit CLI, worker cycle) pairs on the same fleet: the ratio of their rates per pair.

    Each cycle runs `args.workers[0]` workers on batches of `args.batch[-1]`; the 1-minute load
    average is printed beside each pair, since the machine's other tenants move the absolute times.
    """
    from bench.localdns import queries_answered

    # PowerDNS's packet cache is cold at first: a warm-up audit, not counted, so no pair's first run pays for it
    audit_cli(work, domains, args.address)
    if not args.no_warm_cycle:
        # the first cycle creates every check state (inserts, an event per failing check): not counted,
        # so the pairs compare the steady cycles of a deployment
        warm = await cycle(
            database_url,
            work,
            domains,
            args.workers[0],
            args.concurrency,
            None,
            args.batch[-1],
            args.dns_cache[0] == "shared",
            number=2 * args.pairs,
        )
        print(f"warm-up cycle: {warm['domains_per_second']}/s ({warm['worker_cpu_seconds']} CPU s)", file=sys.stderr)
    out = []
    for number in range(args.pairs):
        load = round(os.getloadavg()[0], 1)
        before = queries_answered(server)
        peer = audit_cli(work, domains, args.address)
        peer["dns_queries"] = queries_answered(server) - before
        other: dict[str, Any] | None = None
        if args.compare_src and number % 2:  # A/B order alternates: neither side always runs second
            other = await compared(args, database_url, work, domains, server, number)
        ours = await measured(args, database_url, work, domains, server, number)
        ratio = round(ours["domains_per_second"] / peer["domains_per_second"], 3)
        pair = {"pair": number + 1, "load_before": load, "audit_cli": peer, "workers": ours, "ratio": ratio}
        line = (
            f"pair {number + 1}: audit CLI {peer['domains_per_second']}/s, {args.workers[0]} worker(s)"
            f" {ours['domains_per_second']}/s ({ours['worker_cpu_seconds']} CPU s), ratio {ratio:.0%}"
        )
        if args.compare_src:  # the same cycle on another checkout's code (an A/B of a change)
            if other is None:
                other = await compared(args, database_url, work, domains, server, number)
            pair["compared"] = other
            pair["compared_ratio"] = round(other["domains_per_second"] / peer["domains_per_second"], 3)
            line += (
                f"; {args.compare_src}: {other['domains_per_second']}/s ({other['worker_cpu_seconds']} CPU s),"
                f" ratio {pair['compared_ratio']:.0%}"
            )
        print(f"{line}; load {load} -> {round(os.getloadavg()[0], 1)}", file=sys.stderr)
        out.append(pair)
    return out


async def compared(
    args: argparse.Namespace, database_url: str, work: Path, domains: list[str], server: Any, number: int
) -> dict[str, Any]:
    """Pair `number`'s cycle on the `--compare-src` checkout's code (slots of its own)."""
    return await measured(args, database_url, work, domains, server, number + args.pairs, args.compare_src / "src")


async def measured(
    args: argparse.Namespace,
    database_url: str,
    work: Path,
    domains: list[str],
    server: Any,
    slot: int,
    src: Path | None = None,
) -> dict[str, Any]:
    """One worker cycle with the run's options (on `src`'s code if given), and the DNS queries it asked."""
    from bench.localdns import queries_answered

    before = queries_answered(server)
    done = await cycle(
        database_url,
        work,
        domains,
        args.workers[0],
        args.concurrency,
        None,
        args.batch[-1],
        args.dns_cache[0] == "shared",
        slot,
        src=src,
    )
    done["dns_queries"] = queries_answered(server) - before
    return done


async def api_target(
    args: argparse.Namespace, settings: Any, work: Path, app: Any
) -> tuple[ApiTarget | None, subprocess.Popen[bytes] | None]:
    """The API to sample: one started here (`--serve`, with a read key of its own), or `--api-url`."""
    if args.api_url:
        if not args.api_key:
            raise SystemExit("--api-url needs --api-key (a read key of that API)")
        return ApiTarget(args.api_url.rstrip("/"), args.api_key), None
    if not args.serve:
        return None, None
    from email_infrastructure.services.apikeys import ApiKeyService

    created = await ApiKeyService(app).create("bench-reader", "read", source="bench")
    process, url = start_api(settings, work, f"ei-bench-{uuid.uuid4().hex[:8]}")
    return ApiTarget(url, created.key), process


def main() -> None:
    """Run the cycles asked for; print (and store) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=8, help="jobs per worker at once")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[50], help="domains per job (the scheduler's batch); each is run"
    )
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--overhead-jobs", type=int, default=200)
    parser.add_argument(
        "--dns-cache",
        nargs="+",
        choices=["shared", "local"],
        default=["shared"],
        help="workers share DNS answers through Redis (the default), or each keeps its own; each is run",
    )
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="instead: N interleaved pairs (audit CLI, then a cycle of the first --workers count) and their ratios",
    )
    parser.add_argument("--no-warm-cycle", action="store_true", help="with --pairs: no uncounted first cycle")
    parser.add_argument(
        "--compare-src", type=Path, help="with --pairs: also a cycle of workers running this checkout's code, each pair"
    )
    parser.add_argument("--serve", action="store_true", help="start `email-infra serve` and sample its domain list")
    parser.add_argument("--api-url", help="sample GET /api/v1/domains of this API during each cycle instead")
    parser.add_argument("--api-key", help="a read key of the --api-url API")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="sample the idle API this long first")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "workers_scale.json")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
