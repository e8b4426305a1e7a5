"""Benchmark: `plan` of N domains on zone files from a fresh data dir (the whole service path).

Builds an inventory of N domains (one mail server per 100, DMARC reports to a shared domain,
tracking, a redirect), then times `services.plans.plan` with it as `-f FILE` would: the import
preview, the step graph (a DKIM step and a DNS step per domain), zone reads, diffs and the
checksum. Nothing is written. Prints seconds and steps per second.

With `--process`, times `email-infra plan -f FILE` (human output) and `plan --json -f FILE` as
processes instead (start-up included, stdout to /dev/null, a fresh data dir): wall seconds and
peak RSS. With `--baseline SRC` (another checkout's `src`) each is paired with the same command
on that code, interleaved A B A B, with the load average beside each pair.

    python bench/plan_scale.py --domains 2000 10000
    python bench/plan_scale.py --process --domains 10000 --runs 3 [--baseline /path/to/main/src]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))

from bench.measure import VENV_BIN, clean_env, load, run_process  # noqa: E402  # after sys.path
from email_infrastructure.core.inventory.loader import parse_inventory_text  # noqa: E402  # after sys.path
from email_infrastructure.core.settings import Settings  # noqa: E402  # after sys.path
from email_infrastructure.reconcile.registry import provider_schemas  # noqa: E402  # after sys.path
from email_infrastructure.services import plans  # noqa: E402  # after sys.path
from email_infrastructure.services.app import open_app  # noqa: E402  # after sys.path


def inventory_text(domains: int) -> str:
    """YAML of N domains on a zone-file provider; addresses on loopback."""
    servers = "".join(
        f"  - {{name: mx{i}, hostname: mail.d{i * 100}.test, ipv4: 127.0.{i // 250}.{i % 250 + 1}}}\n"
        for i in range((domains + 99) // 100)
    )
    names = "".join(f"  - {{name: d{n}.test, server: mx{n // 100}}}\n" for n in range(domains))
    return (
        "version: 1\nproviders: {dns: {z: {type: zonefile}}}\n"
        f"servers:\n{servers}defaults:\n  dns_provider: z\n  tracking: {{platform: instantly}}\n"
        '  redirect: https://www.example.test\n  dmarc: {policy: none, rua: ["mailto:r@d0.test"]}\n'
        f"domains:\n{names}"
    )


async def one(domains: int) -> dict[str, float]:
    """Seconds to parse, and to plan, N domains."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        source = parse_inventory_text(inventory_text(domains), str(Path(tmp) / "fleet.yaml"), provider_schemas())
        parsed = time.perf_counter() - started
        settings = Settings(data_dir=Path(tmp) / "data", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings' init-only option
        async with open_app(settings) as app:
            started = time.perf_counter()
            planned = await plans.plan(app, source=source)
            seconds = time.perf_counter() - started
        assert planned.summary()["create"] > domains
        return {
            "domains": domains,
            "parse_s": round(parsed, 2),
            "plan_s": round(seconds, 2),
            "steps": len(planned.graph.steps),
        }


def processes(domains: int, runs: int, sides: dict[str, Path]) -> None:
    """`plan` and `plan --json` of N domains as processes, each side in turn, `runs` rounds."""
    kinds = {"human": ["plan"], "json": ["plan", "--json"]}
    seconds: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inventory = work / "fleet.yaml"
        inventory.write_text(inventory_text(domains))
        for run in range(runs):
            row: list[str] = [f"round {run}: load {load()}"]
            for kind, argv in kinds.items():
                for side, src in sides.items():
                    shutil.rmtree(work / "data", ignore_errors=True)  # a fresh data dir each time
                    env = clean_env(work)
                    env["PYTHONPATH"] = str(src)
                    result = run_process(
                        [str(VENV_BIN / "email-infra"), *argv, "-f", str(inventory)], Path(os.devnull), env
                    )
                    if result["exit"] != 0:
                        raise SystemExit(f"{side} {kind}: exit {result['exit']}")
                    seconds.setdefault((kind, side), []).append(result["seconds"])
                    row.append(f"{kind} {side} {result['seconds']:.2f}s {result['peak_rss_mib']} MiB")
            print("  ".join(row), flush=True)
    for kind in kinds:
        summary: dict[str, Any] = {"domains": domains, "output": kind}
        summary.update({f"{side}_median_s": round(statistics.median(seconds[kind, side]), 2) for side in sides})
        if "baseline" in sides:
            pairs = zip(seconds[kind, "ours"], seconds[kind, "baseline"], strict=True)
            summary["ratio"] = round(statistics.median(b / o for o, b in pairs), 2)
        print(summary, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--process", action="store_true", help="time `email-infra plan` as a process")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="with --process: another checkout's src to compare with")
    args = parser.parse_args()
    if args.process:
        sides = {"ours": ROOT / "src"} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
        for n in args.domains:
            processes(n, args.runs, sides)
        return
    for n in args.domains:
        print(asyncio.run(one(n)), flush=True)


if __name__ == "__main__":
    main()
