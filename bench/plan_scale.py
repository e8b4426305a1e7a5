"""Benchmark: `plan` of N domains on zone files from a fresh data dir (the whole service path).

Builds an inventory of N domains (one mail server per 100, DMARC reports to a shared domain,
tracking, a redirect), then times `services.plans.plan` with it as `-f FILE` would: the import
preview, the step graph (a DKIM step and a DNS step per domain), zone reads, diffs and the
checksum. Nothing is written. Prints seconds and steps per second.

    python bench/plan_scale.py --domains 2000 10000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, nargs="+", default=[2000, 10000])
    args = parser.parse_args()
    for n in args.domains:
        print(asyncio.run(one(n)), flush=True)


if __name__ == "__main__":
    main()
