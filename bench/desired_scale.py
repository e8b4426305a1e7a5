"""Benchmark: desired records of N domains (`desired_zones`), which every plan computes first.

Builds an inventory of N sending domains in memory (no YAML: parsing is timed separately with
--yaml), each with DKIM, DMARC reports to a shared domain, tracking, MTA-STS and a redirect; one
mail server per --per-server domains, its host in a managed zone. Prints the best of --repeat runs.

    python bench/desired_scale.py --domains 2000 10000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from email_infrastructure.core.inventory.loader import parse_inventory_text  # noqa: E402  # after sys.path
from email_infrastructure.core.inventory.schema import Inventory  # noqa: E402  # after sys.path
from email_infrastructure.dns.desired import desired_zones  # noqa: E402  # after sys.path
from email_infrastructure.dns.dkim import generate_keypair  # noqa: E402  # after sys.path


def inventory_data(domains: int, per_server: int) -> dict[str, Any]:
    """The inventory as plain data: what the loader hands to pydantic."""
    servers = [
        {"name": f"mx{i}", "hostname": f"mail.d{i * per_server}.test", "ipv4": f"127.0.{i // 250}.{i % 250 + 1}"}
        for i in range((domains + per_server - 1) // per_server)
    ]
    return {
        "version": 1,
        "providers": {"dns": {"z": {"type": "zonefile"}}},
        "servers": servers,
        "defaults": {
            "dns_provider": "z",
            "dmarc": {"policy": "quarantine", "rua": ["mailto:dmarc@reports.test"]},
            "tracking": {"platform": "instantly"},
            "mta_sts": {"enabled": True},
            "redirect": "https://www.example.org",
        },
        "domains": [{"name": "reports.test", "server": "mx0"}]
        + [{"name": f"d{i}.test", "server": f"mx{i // per_server}"} for i in range(domains - 1)],
    }


def to_yaml(data: dict[str, Any]) -> str:
    """A block-style YAML rendering of inventory_data (enough for its shapes)."""
    lines = ["version: 1", "providers: {dns: {z: {type: zonefile}}}", "servers:"]
    lines += [f"  - {{name: {s['name']}, hostname: {s['hostname']}, ipv4: {s['ipv4']}}}" for s in data["servers"]]
    lines += [
        "defaults:",
        "  dns_provider: z",
        '  dmarc: {policy: quarantine, rua: ["mailto:dmarc@reports.test"]}',
        "  tracking: {platform: instantly}",
        "  mta_sts: {enabled: true}",
        "  redirect: https://www.example.org",
        "domains:",
    ]
    lines += [f"  - {{name: {d['name']}, server: {d['server']}}}" for d in data["domains"]]
    return "\n".join(lines) + "\n"


def best(repeat: int, call: Any) -> tuple[float, Any]:
    """The fastest of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    """Time desired_zones (and optionally YAML loading) for each size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--per-server", type=int, default=50, help="domains sharing one mail server")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--yaml", action="store_true", help="also time loading the same inventory from YAML")
    args = parser.parse_args()

    key = generate_keypair(2048)[1]
    print(
        "| domains | servers | zones | records | desired_zones | per domain |" + (" YAML load |" if args.yaml else "")
    )
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.yaml else ""))
    for size in args.domains:
        data = inventory_data(size, args.per_server)
        inv = Inventory.model_validate(data)
        keys = {d.name: key for d in inv.domains}
        seconds, zones = best(args.repeat, lambda inv=inv, keys=keys: desired_zones(inv, keys))
        assert not [z.error for z in zones.values() if z.error]
        records = sum(len(z.records) for z in zones.values())
        row = (
            f"| {size:,} | {len(inv.servers):,} | {len(zones):,} | {records:,} | {seconds:.2f} s "
            f"| {seconds / size * 1e6:.0f} µs |"
        )
        if args.yaml:
            text = to_yaml(data)
            load, _ = best(1, lambda text=text: parse_inventory_text(text, "bench.yaml"))
            row += f" {load:.1f} s ({len(text) / 2**20:.1f} MiB) |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
