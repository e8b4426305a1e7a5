"""Benchmark: pushing 1,000 mailboxes to the Instantly fake (issue 25's benchmark).

A fleet of 200 domains of 5 mailboxes each on one Mailcow server (tests/fakes/mailcow.py), DNS in zone files,
every domain's mailboxes pushed to the sequencer `inst` (tests/fakes/instantly.py, warmup on). On SQLite
(a temp data dir) and PostgreSQL (a temp database `ei_bench_<pid>_…`, dropped after):

1. fresh apply: the whole `apply` (DNS, DKIM, mailboxes, accounts), and the sequencer part alone — the
   accounts deleted at Instantly, then `plans.apply(kinds=["sequencer.accounts"])` (what `sequencer sync`
   runs); Instantly calls per mailbox by method and route (target ≤ 2);
2. no-op: `plan` of the sequencer steps, then their `apply`: list pages per 100 accounts (target ≤ 1),
   other calls (target 0); and a plan right after the push, before Instantly ran its warmup jobs;
3. the rate limit: the fake's documented 100/s and 6,000/min on a real clock, a fresh push again: 429s
   (target 0: the client keeps the budget) and wall time against the floor of a client sending exactly
   100 requests a second (calls ÷ 100 s); `--pairs N` pushes, each on a fresh budget at the fake;
4. the manual alternative's machine part: `export_credentials(app, "instantly")` (what `email-infra export
   --format instantly` runs) for the same mailboxes; the upload in Instantly's UI is not timed.

Phases 1-2 run with the fake's limits off (its clock stands still); our client still keeps Instantly's budget
(100/s) on real time, except in the row "client budget off", which shows what the push costs us alone. The
fake completes a warmup job only when someone reads it; Instantly runs them in the background, so
between phases the benchmark reads every job once, as Instantly's worker would have done.

    python bench/sequencer_push.py [--domains 200] [--per-domain 5] [--postgres] [--no-sqlite] [--pairs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(BENCH)]

from api_wrk import backends, drop_databases  # noqa: E402  # after the sys.path insert above
from measure import load  # noqa: E402  # after the sys.path insert above
from tests.fakes.http_server import FakeServer  # noqa: E402  # after the sys.path insert above
from tests.fakes.instantly import FakeInstantly  # noqa: E402  # after the sys.path insert above
from tests.fakes.mailcow import FakeMailcow  # noqa: E402  # after the sys.path insert above

from email_infrastructure.core.http import windows  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.inventory.loader import load_inventory  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.settings import Settings  # noqa: E402  # after the sys.path insert above
from email_infrastructure.reconcile.registry import provider_schemas  # noqa: E402  # after the sys.path insert above
from email_infrastructure.sequencers import instantly  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services import plans  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.app import App  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.export import export_credentials  # noqa: E402  # after the sys.path insert above
from email_infrastructure.storage.migrate import upgrade  # noqa: E402  # after the sys.path insert above

SYNC = ["sequencer.accounts"]
DEFAULT_LIMITER = instantly.default_limiter
#: Instantly's documented budget per workspace (sequencer-apis.md §1.10); a push of 2,001 calls meets only the first
PER_SECOND = 100
DOCUMENTED = ((100, 1.0), (6000, 60.0))
#: ids in a route replaced by a placeholder, so calls group by route
_EMAIL = re.compile(r"/[^/]+@[^/]+")
_JOB = re.compile(r"/background-jobs/[0-9a-f]+")


class RealClock:
    """The fake's clock on real time: its sliding windows then count real seconds."""

    def __call__(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        """Real time cannot be advanced (nothing in this benchmark asks)."""
        raise RuntimeError("a real clock is not advanced")


@dataclass
class StampedInstantly(FakeInstantly):
    """The Instantly fake, remembering when each request arrived (the sequencer part of a whole apply)."""

    stamps: list[float] = field(default_factory=list)

    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        self.stamps.append(time.perf_counter())
        return super().__call__(method, path, query, headers, body)

    def reset(self) -> None:
        """Forget the calls seen so far."""
        self.log.clear()
        self.stamps.clear()

    def run_jobs(self) -> int:
        """Read every pending warmup job once (what Instantly's worker does on its own); how many there were."""
        pending = [j for j, job in self.jobs.items() if job["status"] == "pending"]
        for job in pending:
            self._job(job)
        return len(pending)


def inventory_text(mailcow_url: str, instantly_url: str, domains: int, per_domain: int) -> str:
    """The fleet: one Mailcow, zone files, every domain's mailboxes to `inst` with warmup on."""
    names = "\n".join(f"  - name: d{i:04d}-push.test" for i in range(domains))
    return f"""
version: 1
providers:
  dns:
    local: {{type: zonefile, directory: zones, nameservers: [ns1.push.test., ns2.push.test.]}}
  mail:
    mc: {{type: mailcow, url: "{mailcow_url}", api_key: env:BENCH_MAILCOW_KEY, mailbox_quota_mib: 1024, timeout: 30}}
  sequencers:
    inst: {{type: instantly, token: env:BENCH_INST_KEY, api_url: "{instantly_url}"}}
servers:
  - {{name: mx1, hostname: mail.push.test, ipv4: 127.0.0.10, mail_backend: mc}}
defaults:
  dns_provider: local
  server: mx1
  daily_send_limit: 30
  mailboxes_per_domain: {per_domain}
  dmarc: {{policy: none}}
  sequencers: [{{name: inst, warmup: true, warmup_per_day: 20, ramp_up: 2, reply_rate: 30}}]
domains:
{names}
"""


def routes(fake: StampedInstantly) -> dict[str, int]:
    """Calls by `METHOD route` (emails and job ids replaced) and status when not 200."""
    counted: Counter[str] = Counter()
    for call in fake.log:
        route = _JOB.sub("/background-jobs/{id}", _EMAIL.sub("/{email}", call.path))
        counted[f"{call.method} {route}" + ("" if call.status == 200 else f" → {call.status}")] += 1
    return dict(sorted(counted.items()))


async def timed(rows: list[dict[str, Any]], label: str, fake: StampedInstantly, mailboxes: int, work: Any) -> None:
    """Run `work` (a plan or an apply) with the fake's log cleared; its row: wall time, Instantly calls, 429s."""
    fake.reset()
    started = time.perf_counter()
    result = await work
    seconds = time.perf_counter() - started
    if isinstance(result, plans.ApplyResult) and result.failed:
        raise SystemExit(f"{label}: apply failed: {[(o.key, o.error) for o in result.failed[:3]]}")
    planned = result.plan if isinstance(result, plans.ApplyResult) else result
    calls = len(fake.log)
    row = {
        "phase": label,
        "seconds": round(seconds, 2),
        "calls": calls,
        "per_mailbox": round(calls / mailboxes, 3),
        "status_429": sum(c.status == 429 for c in fake.log),
        "routes": routes(fake),
        "changes": sum(len(s.changes) for s in planned.graph.steps),
    }
    if "real limits" in label:
        row["floor_s"] = round(calls / PER_SECOND, 2)
    if fake.stamps and "whole" in label:
        row["instantly_span_s"] = round(fake.stamps[-1] - fake.stamps[0], 2)
    print(f"  {label}: {row['seconds']} s, {calls} calls ({row['per_mailbox']}/mailbox) {row['routes']}", flush=True)
    rows.append(row)


@contextmanager
def client_budget(factory: Callable[..., Any]) -> Iterator[None]:
    """Instantly providers built inside (one run) keep the budget `factory` makes instead of the documented one."""
    instantly.default_limiter = factory
    try:
        yield
    finally:
        instantly.default_limiter = DEFAULT_LIMITER


async def rate_limited(
    app: App, inst: StampedInstantly, rows: list[dict[str, Any]], mailboxes: int, pairs: int
) -> None:
    """Fresh pushes under the documented limits on real time, `pairs` times; each starts on an empty budget at
    the fake, as if the last one were a minute ago."""
    for n in range(pairs):
        inst.accounts.clear()
        inst._limiter = None  # a fresh budget: the last push's calls would count a minute
        label = "fresh push, real limits" + (f", run {n + 1}" if pairs > 1 else "")
        await timed(rows, label, inst, mailboxes, plans.apply(app, kinds=SYNC))


async def run(settings: Settings, label: str, domains: int, per_domain: int, pairs: int) -> dict[str, Any]:
    """Every phase on one database."""
    mailboxes = domains * per_domain
    mailcow, inst = FakeMailcow(), StampedInstantly()
    inst.limits = ()  # phases 1-2: our own cost; phase 3 puts the documented limits back on a real clock
    os.environ["BENCH_MAILCOW_KEY"], os.environ["BENCH_INST_KEY"] = mailcow.rw_key, inst.token
    rows: list[dict[str, Any]] = []
    if settings.database_url:  # SQLite migrates on first use; PostgreSQL is migrated by hand, as in deploys
        await upgrade(settings.database_url)
    with FakeServer(mailcow) as mail_server, inst.serve() as inst_server:
        path = settings.data_dir / "inventory.yaml"
        path.write_text(inventory_text(mail_server.url, inst_server.url, domains, per_domain))
        source = load_inventory(path, provider_schemas())
        app = App(settings)
        try:
            print(f"{label}: {domains} domains × {per_domain} mailboxes (load {load()})", flush=True)
            await timed(rows, "whole apply, fresh", inst, mailboxes, plans.apply(app, source=source))
            assert len(inst.accounts) == mailboxes, len(inst.accounts)
            inst.accounts.clear()  # the sequencer part alone: mail exists, Instantly is empty
            await timed(rows, "sequencer sync, fresh push", inst, mailboxes, plans.apply(app, kinds=SYNC))
            inst.accounts.clear()
            with client_budget(lambda clock=time.monotonic: windows(clock=clock)):  # no budget: our own cost
                off = "sequencer sync, fresh push, client budget off"
                await timed(rows, off, inst, mailboxes, plans.apply(app, kinds=SYNC))
            # before Instantly's worker ran the warmup jobs: the plan waits for them (it used to plan 1,000 updates)
            await timed(rows, "plan, warmup jobs still pending", inst, mailboxes, plans.plan(app, kinds=SYNC))
            jobs = inst.run_jobs()
            await timed(rows, "no-op plan", inst, mailboxes, plans.plan(app, kinds=SYNC))
            await timed(rows, "no-op apply", inst, mailboxes, plans.apply(app, kinds=SYNC))

            inst.limits, inst.clock = DOCUMENTED, RealClock()  # type: ignore[assignment]  # read per request
            await rate_limited(app, inst, rows, mailboxes, pairs)

            started = time.perf_counter()
            export = await export_credentials(app, "instantly")
            seconds = time.perf_counter() - started
            rows.append({"phase": "CSV export (the manual path's machine part)", "seconds": round(seconds, 2)})
            rows[-1]["rows"] = export.rows
            print(f"  CSV export: {seconds:.2f} s, {export.rows} rows", flush=True)
        finally:
            await app.close()
    return {"database": label, "mailboxes": mailboxes, "warmup_jobs_run": jobs, "load": load(), "phases": rows}


def table(report: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (what docs/benchmarks.md shows)."""
    lines = [
        "| database | phase | wall s | Instantly calls | per mailbox | list pages | other calls | 429s | floor at 100/s "
        "| planned changes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in report:
        for row in run["phases"]:
            if "calls" not in row:
                lines.append(f"| {run['database']} | {row['phase']}, {row['rows']:,} rows | {row['seconds']} "
                             "| — | — | — | — | — | — | |")  # fmt: skip
                continue
            pages = sum(n for route, n in row["routes"].items() if route == "GET /api/v2/accounts")
            floor = f"{row['floor_s']} s" if "floor_s" in row else ""
            changes = f"{row['changes']:,}" if "changes" in row else ""
            lines.append(
                f"| {run['database']} | {row['phase']} | {row['seconds']} | {row['calls']:,} | {row['per_mailbox']} "
                f"| {pages} | {row['calls'] - pages:,} | {row['status_429']} | {floor} | {changes} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--per-domain", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (a temp database, ~3 more min)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--pairs", type=int, default=1, help="real-limit pushes of each client, interleaved")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sequencer_push.json")
    args = parser.parse_args()
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ei-bench-seq-") as tmp:
        created: list[str] = []
        try:
            for label, make in backends(Path(tmp), created, not args.postgres, args.no_sqlite):
                report.append(asyncio.run(run(make(label), label, args.domains, args.per_domain, args.pairs)))
        finally:
            drop_databases(created)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(table(report))


if __name__ == "__main__":
    main()
