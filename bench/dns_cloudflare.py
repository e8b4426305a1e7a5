"""Benchmark: DNS plan/apply of N domains on the fake Cloudflare API, ours against octoDNS.

Both tools talk HTTP to the same faithful fake (tests/fakes/cloudflare.py) on loopback with an
injected latency per request and Cloudflare's budget of 1,200 requests per 5 minutes. With
--time-scale K the budget window is K times shorter (1,200 per 300/K s) for both tools, so a run
finishes K times sooner; call counts do not depend on it, and the wall time under the real budget
is reported as max(measured, calls beyond the 1,200 burst ÷ 4 per second).

    python bench/dns_cloudflare.py --domains 1000 --latency 0.05 --time-scale 10 --octodns 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.cloudflare import FakeCloudflare  # noqa: E402  # after the sys.path insert above
from tests.fakes.http_server import FakeServer  # noqa: E402  # after the sys.path insert above

from email_infrastructure.core.http import RateLimiter  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.inventory.loader import parse_inventory_text  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.settings import Settings  # noqa: E402  # after the sys.path insert above
from email_infrastructure.dns.providers.cloudflare import CloudflareProvider  # noqa: E402  # after the sys.path insert above
from email_infrastructure.dns.records import Record  # noqa: E402  # after the sys.path insert above
from email_infrastructure.reconcile.registry import provider_schemas  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services import plans  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.app import open_app  # noqa: E402  # after the sys.path insert above
from email_infrastructure.services.records import desired_records as records_of  # noqa: E402  # after the sys.path insert above

TOKEN = "bench-token"
BURST, PER_SECOND = 1200, 1200 / 300


def inventory_text(url: str, domains: list[str]) -> str:
    lines = [
        "version: 1",
        "providers:",
        "  dns:",
        f'    cf: {{type: cloudflare, api_token: env:BENCH_CF_TOKEN, api_url: "{url}"}}',
        "servers:",
        "  - {name: mx1, hostname: mail.fleet-hq.test, ipv4: 127.0.0.10}",
        "defaults:",
        "  dns_provider: cf",
        "  server: mx1",
        "  tracking: {platform: instantly}",
        '  dmarc: {policy: none, rua: ["mailto:dmarc@fleet-hq.test"]}',
        "domains:",
    ]
    lines += [f"  - name: {d}" for d in domains]
    return "\n".join(lines) + "\n"


def real_budget_seconds(calls: int, measured: float, scale: float) -> float:
    """Lower bound of the wall time under the unscaled 1,200/5 min budget."""
    return max(measured, (calls - BURST) / PER_SECOND if calls > BURST else measured)


class Phase:
    def __init__(self, fake: FakeCloudflare) -> None:
        self.fake = fake

    def __enter__(self) -> Phase:
        self.fake.calls.clear()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        self.calls = sum(self.fake.calls.values())
        self.writes = self.fake.writes
        self.detail = dict(self.fake.calls)


async def run_ours(domains: list[str], latency: float, scale: float, work: Path) -> dict[str, Any]:
    fake = FakeCloudflare(tokens={TOKEN}, latency=latency, window=300 / scale, retry_after=max(1, int(300 / scale)))
    for d in domains:
        fake.add_zone(d)
    results: dict[str, Any] = {}
    with FakeServer(fake) as server:
        os.environ["BENCH_CF_TOKEN"] = TOKEN
        CloudflareProvider._limiters.clear()
        import hashlib

        CloudflareProvider._limiters[hashlib.sha256(TOKEN.encode()).hexdigest()] = RateLimiter(BURST, 300 / scale)
        settings = Settings(data_dir=work / "ours", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
        source = parse_inventory_text(
            inventory_text(server.url + "/client/v4", domains), str(work / "bench.yaml"), provider_schemas()
        )
        async with open_app(settings) as app:
            for label, action in (
                ("plan (cold)", "plan"),
                ("apply (initial, with DKIM key generation)", "apply"),
                ("plan (no change)", "plan"),
                ("apply (no change)", "apply"),
            ):
                with Phase(fake) as phase:
                    if action == "plan":
                        planned = await plans.plan(app, source=source)
                    else:
                        planned = (await plans.apply(app, source=source, force=True)).plan
                results[label] = {
                    "seconds": round(phase.seconds, 2),
                    "calls": phase.calls,
                    "writes": phase.writes,
                    "detail": phase.detail,
                    "changes": planned.summary(),
                    "real_budget_seconds": round(real_budget_seconds(phase.calls, phase.seconds, scale), 1),
                }
                print(label, results[label], flush=True)
        records = sum(len(fake.records(d)) for d in domains)
        results["records"] = records
    return results


def octodns_yaml(zone: str, records: list[Record]) -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        name = r.relative_name(zone)
        name = "" if name == "@" else name
        entry: dict[str, Any] = {"type": r.type, "ttl": r.ttl}
        if r.type == "MX":
            entry["values"] = [{"preference": int(v.split()[0]), "exchange": v.split()[1] + "."} for v in r.values]
        elif r.type == "SRV":
            entry["values"] = [
                dict(zip(("priority", "weight", "port"), map(int, v.split()[:3]), strict=True))
                | {"target": v.split()[3] + "."}
                for v in r.values
            ]
        elif r.type == "CNAME":
            entry["value"] = r.values[0] + "."
        elif r.type == "TXT":
            entry["values"] = [v.replace(";", "\\;") for v in r.values]
        else:
            entry["values"] = list(r.values)
        out.setdefault(name, []).append(entry)
    return out


def run_octodns(
    domains: list[str], latency: float, scale: float, work: Path, desired: dict[str, list[Record]]
) -> dict[str, Any]:
    import yaml
    from octodns.manager import Manager

    fake = FakeCloudflare(tokens={TOKEN}, latency=latency, window=300 / scale, retry_after=max(1, int(300 / scale)))
    for d in domains:
        fake.add_zone(d)
    config_dir = work / "octodns"
    (config_dir / "zones").mkdir(parents=True, exist_ok=True)
    for zone in domains:
        (config_dir / "zones" / f"{zone}.yaml").write_text(yaml.safe_dump(octodns_yaml(zone, desired[zone])))
    results: dict[str, Any] = {}
    with FakeServer(fake) as server:
        os.environ["BENCH_CF_TOKEN"] = TOKEN
        config = {
            "manager": {"max_workers": 16},
            "providers": {
                "config": {
                    "class": "octodns.provider.yaml.YamlProvider",
                    "directory": str(config_dir / "zones"),
                    "enforce_order": False,
                },
                "cf": {
                    "class": "octodns_cloudflare.CloudflareProvider",
                    "token": "env/BENCH_CF_TOKEN",
                    "api_url": server.url + "/client/v4",
                    "pagerules": False,
                    "retry_period": max(1, int(300 / scale)),
                    "retry_count": 20,
                    "min_ttl": 120,
                },
            },
            "zones": {f"{z}.": {"sources": ["config"], "targets": ["cf"]} for z in domains},
        }
        path = config_dir / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        for label, dry in (("apply (initial)", False), ("apply (no change)", False)):
            manager = Manager(str(path))
            with Phase(fake) as phase:
                manager.sync(dry_run=dry)
            results[label] = {
                "seconds": round(phase.seconds, 2),
                "calls": phase.calls,
                "writes": phase.writes,
                "detail": phase.detail,
                "real_budget_seconds": round(real_budget_seconds(phase.calls, phase.seconds, scale), 1),
            }
            print("octodns", label, results[label], flush=True)
        results["records"] = sum(len(fake.records(d)) for d in domains)
    return results


async def desired_records(domains: list[str], work: Path) -> dict[str, list[Record]]:
    """The records of our run on `work` (its DKIM keys included), for octoDNS to publish."""
    settings = Settings(data_dir=work / "ours", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    async with open_app(settings) as app:
        return {d: (await records_of(app, d)).records for d in domains}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--octodns", type=int, default=0, help="also run octoDNS on this many domains")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dns_cloudflare.json")
    args = parser.parse_args()
    domains = [f"fleet{n:04d}.test" for n in range(args.domains)]
    report: dict[str, Any] = {
        "domains": args.domains,
        "latency": args.latency,
        "time_scale": args.time_scale,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report["ours"] = asyncio.run(run_ours(domains, args.latency, args.time_scale, work))
        if args.octodns:
            subset = domains[: args.octodns]
            report["ours_subset"] = asyncio.run(run_ours(subset, args.latency, args.time_scale, work / "subset"))
            desired = asyncio.run(desired_records(subset, work / "subset"))
            report["octodns"] = run_octodns(subset, args.latency, args.time_scale, work, desired)
            report["octodns_domains"] = args.octodns
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
