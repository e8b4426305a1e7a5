"""Benchmark: 500 IPs x 20 DNSBL zones on a local PowerDNS — ours against pydnsbl, same run, interleaved.

Zones: zen.spamhaus.org (listing codes, and 127.255.255.254 "public resolver" errors for 40 clean
IPs), 18 generic lists answering 127.0.0.2 for their listed IPs, and one zone the server refuses
(not served). 100 of the 500 IPs are listed somewhere. pydnsbl's resolver is pointed at the same
server (it takes port 53 only, hence 127.0.0.2:53).

Two pairs of columns, each run `--runs` times as ours, pydnsbl, ours, pydnsbl… after one untimed
pass that warms PowerDNS's caches for both:
- command line: `email-infra blacklist IP… --zones … --format json` (fresh data dir, no Redis)
  against a Python process importing pydnsbl and calling `bulk_check` (pydnsbl has no CLI);
- library: `check_blocklists` (self-tests included) against `DNSBLIpChecker.bulk_check`, in this process,
  with ours without its pipeline (`Resolver.query` per lookup) as a third column: the pipeline's A/B.

    python bench/blacklist_vs_pydnsbl.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localdns import queries_answered, start, write_zones  # noqa: E402  # after the sys.path insert above
from bench.measure import VENV_BIN, clean_env, load, median_ratio, run_process  # noqa: E402  # idem
from email_infrastructure.monitoring.dnsbl import check_blocklists, resolve_zones  # noqa: E402  # idem
from email_infrastructure.monitoring.resolver import Answer, Resolver  # noqa: E402  # idem

GENERIC = [f"bl{n:02d}.bench-bl.test" for n in range(18)]
REFUSING = "refusing.bench-bl.test"
CONCURRENCY = 64
#: the peer as a process: what a user of pydnsbl runs (its flagged IPs as JSON on stdout)
PYDNSBL_CHILD = """
import asyncio, json, sys
from pydnsbl import DNSBLIpChecker
from pydnsbl.providers import Provider
address, ips_file, zones = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
ips = open(ips_file).read().split()
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
checker = DNSBLIpChecker(providers=[Provider(z) for z in zones], loop=loop)
checker._resolver.nameservers = [address]
print(json.dumps([r.addr for r in checker.bulk_check(ips) if r.blacklisted]))
"""


def reverse(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def build(ips: int) -> tuple[dict[str, list[tuple[str, str, str]]], list[str], set[str], set[str]]:
    addresses = [f"127.1.{n // 250}.{n % 250 + 1}" for n in range(ips)]
    listed = set(addresses[: ips // 5])
    errors = set(addresses[ips // 5 : ips // 5 + 40])
    zones: dict[str, list[tuple[str, str, str]]] = {
        "zen.spamhaus.org": [("2.0.0.127.zen.spamhaus.org", "A", "127.0.0.2")]
    }
    for zone in GENERIC:
        zones[zone] = [(f"2.0.0.127.{zone}", "A", "127.0.0.2")]
    for index, ip in enumerate(sorted(listed)):
        zone = GENERIC[index % len(GENERIC)]
        zones[zone].append((f"{reverse(ip)}.{zone}", "A", "127.0.0.2"))
        if index % 3 == 0:
            zones["zen.spamhaus.org"].append((f"{reverse(ip)}.zen.spamhaus.org", "A", "127.0.0.4"))
    for ip in errors:
        zones["zen.spamhaus.org"].append((f"{reverse(ip)}.zen.spamhaus.org", "A", "127.255.255.254"))
    return zones, addresses, listed, errors


class PerQuery(Resolver):
    """Ours without the pipeline: every lookup through `query` (a task, a future and a timer each)."""

    async def query_many(self, names: Sequence[str], rtype: str) -> list[Answer]:
        return await self._query_each(names, rtype)


async def ours(
    address: str, ips: list[str], zones: list[str], kind: type[Resolver] = Resolver
) -> tuple[float, list[Any], list[Any]]:
    resolver = kind([(address, 53)], concurrency=CONCURRENCY, shared_cache=None)
    start_time = time.perf_counter()
    results, health = await check_blocklists(resolver, ips, resolve_zones(zones))
    elapsed = time.perf_counter() - start_time
    await resolver.close()
    return elapsed, results, health


def theirs(address: str, ips: list[str], zones: list[str]) -> tuple[float, list[Any]]:
    from pydnsbl import DNSBLIpChecker
    from pydnsbl.providers import Provider

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    checker = DNSBLIpChecker(providers=[Provider(z) for z in zones], loop=loop)
    checker._resolver.nameservers = [address]  # same server as ours (pydnsbl has no option for it)
    start_time = time.perf_counter()
    results = checker.bulk_check(ips)
    elapsed = time.perf_counter() - start_time
    loop.close()
    return elapsed, results


def counts(flagged: set[str], listed: set[str]) -> dict[str, int]:
    return {"listed_ips_found": len(flagged & listed), "false_listings": len(flagged - listed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ips", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "blacklist_vs_pydnsbl.json")
    args = parser.parse_args()
    zone_data, ips, listed, errors = build(args.ips)
    zones = ["zen.spamhaus.org", *GENERIC, REFUSING]
    report: dict[str, Any] = {
        "ips": args.ips,
        "zones": len(zones),
        "listed_ips": len(listed),
        "spamhaus_error_ips": len(errors),
        "cli": [],
        "library": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_zones(work / "pdns.sqlite3", zone_data)
        (work / "ips.txt").write_text("\n".join(ips) + "\n")
        (work / "pydnsbl_child.py").write_text(PYDNSBL_CHILD)
        env = clean_env(work)
        server = start(work, args.address, 53)
        try:
            before = queries_answered(server)
            asyncio.run(ours(args.address, ips, zones))  # warm-up: PowerDNS's caches filled for both sides
            report["queries_per_run_ours"] = queries_answered(server) - before
            ours_cli = [str(VENV_BIN / "email-infra"), "blacklist", *ips, "--zones", ",".join(zones)]
            ours_cli += ["--nameserver", args.address, "--format", "json"]
            theirs_cli = [sys.executable, str(work / "pydnsbl_child.py"), args.address, str(work / "ips.txt")]
            theirs_cli.append(",".join(zones))
            for run in range(args.runs):
                a = run_process(ours_cli, work / "ours.json", env)
                b = run_process(theirs_cli, work / "theirs.json", env)
                data = json.loads((work / "ours.json").read_text())
                flagged = {r["target"] for r in data["results"] if r["status"] == "listed"}
                flagged_theirs = set(json.loads((work / "theirs.json").read_text()))
                pair = {"load": load(), "ours_s": round(a["seconds"], 3), "pydnsbl_s": round(b["seconds"], 3)}
                pair |= {"ours": counts(flagged, listed), "pydnsbl": counts(flagged_theirs, listed)}
                report["cli"].append(pair)
                print("cli", run, json.dumps(pair), flush=True)
            for run in range(args.runs):
                seconds, results, health = asyncio.run(ours(args.address, ips, zones))
                seconds_theirs, results_theirs = theirs(args.address, ips, zones)
                # (skipped on a checkout without the pipeline, to bench an older commit the same way)
                if hasattr(Resolver, "_query_each"):
                    seconds_per_query, results_per_query, _ = asyncio.run(ours(args.address, ips, zones, PerQuery))
                else:
                    seconds_per_query, results_per_query = seconds, results
                flagged = {r.target for r in results if r.status == "listed"}
                flagged_theirs = {r.addr for r in results_theirs if r.blacklisted}
                pair = {"load": load(), "ours_s": round(seconds, 3), "pydnsbl_s": round(seconds_theirs, 3)}
                pair["ours_per_query_s"] = round(seconds_per_query, 3)
                same = [(r.target, r.zone, r.status) for r in results_per_query]
                pair["per_query_same_results"] = same == [(r.target, r.zone, r.status) for r in results]
                pair |= {"ours": counts(flagged, listed), "pydnsbl": counts(flagged_theirs, listed)}
                pair["ours"] |= {
                    "unknown_answers": sum(r.status == "unknown" for r in results),
                    "broken_zones": len([h for h in health if not h.healthy]),
                }
                report["library"].append(pair)
                print("library", run, json.dumps(pair), flush=True)
        finally:
            server.stop()
    for kind in ("cli", "library"):
        pairs = [(p["ours_s"], p["pydnsbl_s"]) for p in report[kind]]
        report[f"{kind}_speedup_median"] = median_ratio(pairs)
    report["pipeline_speedup_median"] = median_ratio([(p["ours_s"], p["ours_per_query_s"]) for p in report["library"]])
    report["checks_per_run"] = args.ips * len(zones)
    report["target"] = {"speedup": 1.5, "false_listings": 0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    keys = ("cli_speedup_median", "library_speedup_median", "pipeline_speedup_median", "queries_per_run_ours")
    summary = {k: report[k] for k in keys}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
