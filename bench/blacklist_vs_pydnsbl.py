"""Benchmark: 500 IPs x 20 DNSBL zones on a local PowerDNS — ours against pydnsbl, same run.

Zones: zen.spamhaus.org (listing codes, and 127.255.255.254 "public resolver" errors for 40 clean
IPs), 18 generic lists answering 127.0.0.2 for their listed IPs, and one zone the server refuses
(not served). 100 of the 500 IPs are listed somewhere. pydnsbl's resolver is pointed at the same
server (it takes port 53 only, hence 127.0.0.2:53).

    python bench/blacklist_vs_pydnsbl.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localdns import queries_answered, start, write_zones  # noqa: E402  # after the sys.path insert above
from email_infrastructure.monitoring.dnsbl import check_blocklists, resolve_zones  # noqa: E402  # after the sys.path insert above
from email_infrastructure.monitoring.resolver import Resolver  # noqa: E402  # after the sys.path insert above

GENERIC = [f"bl{n:02d}.bench-bl.test" for n in range(18)]
REFUSING = "refusing.bench-bl.test"
CONCURRENCY = 64


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


async def ours(address: str, ips: list[str], zones: list[str]) -> tuple[float, list[Any], list[Any]]:
    resolver = Resolver([(address, 53)], concurrency=CONCURRENCY)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ips", type=int, default=500)
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
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_zones(work / "pdns.sqlite3", zone_data)
        server = start(work, args.address, 53)
        try:
            before = queries_answered(server)
            seconds, results, health = asyncio.run(ours(args.address, ips, zones))
            queries = queries_answered(server) - before
            flagged = {r.target for r in results if r.status == "listed"}
            report["ours"] = {
                "seconds": round(seconds, 3),
                "checks": len(results),
                "checks_per_second": round(len(results) / seconds),
                "queries": queries,
                "listed_ips_found": len(flagged & listed),
                "false_listings": len(flagged - listed),
                "unknown_answers": sum(r.status == "unknown" for r in results),
                "broken_zones": [h.zone for h in health if not h.healthy],
            }
            seconds, results_theirs = theirs(args.address, ips, zones)
            flagged_theirs = {r.addr for r in results_theirs if r.blacklisted}
            report["pydnsbl"] = {
                "seconds": round(seconds, 3),
                "checks": len(ips) * len(zones),
                "checks_per_second": round(len(ips) * len(zones) / seconds),
                "listed_ips_found": len(flagged_theirs & listed),
                "false_listings": len(flagged_theirs - listed),
                "failed_providers_reported": sum(bool(r.failed_providers) for r in results_theirs),
            }
            report["speedup"] = round(report["pydnsbl"]["seconds"] / report["ours"]["seconds"], 1)
        finally:
            server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
