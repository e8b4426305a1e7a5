"""A/B: our lean reply decoder (monitoring/wire.py) against dnspython's `dns.message.from_wire`, same replies.

The replies are the real ones of a 1,000-domain audit: PowerDNS on loopback serves the fleet of
`audit_vs_checkdmarc.build_zones`, the audit engine runs once recording every reply it gets, then
both decoders read all of them, `--runs` times interleaved (ours, dnspython, ours, …), in this
process; the load average is printed beside each pair. Issue 22 asks for this figure before a
hand-written replacement of a well-kept library is kept.

    python bench/wire_vs_dnspython.py [--domains 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dns.message  # noqa: E402  # after the sys.path insert above

from bench.audit_vs_checkdmarc import CHECKS, build_zones  # noqa: E402  # idem
from bench.localdns import start, write_zones  # noqa: E402  # idem
from bench.measure import load  # noqa: E402  # idem
from email_infrastructure.monitoring import wire  # noqa: E402  # idem


async def replies(address: str, domains: list[str]) -> list[bytes]:
    """Every reply the audit engine received for these domains."""
    from email_infrastructure.monitoring.audit import audit
    from email_infrastructure.monitoring.context import AuditContext
    from email_infrastructure.monitoring.resolver import Resolver
    from email_infrastructure.monitoring.targets import plain_target

    seen: list[bytes] = []

    class Recording(Resolver):
        async def _exchange(self, name: str, rtype: str) -> bytes | None:
            reply = await super()._exchange(name, rtype)
            if reply is not None:
                seen.append(reply)
            return reply

    resolver = Recording([(address, 53)], shared_cache=None)
    await audit([plain_target(d, ["s1"]) for d in domains], AuditContext(resolver), set(CHECKS.split(",")), [])
    await resolver.close()
    return seen


def timed(decode: Any, data: list[bytes]) -> float:
    started = time.perf_counter()
    for reply in data:
        decode(reply)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "wire_vs_dnspython.json")
    args = parser.parse_args()
    zones, domains, _ = build_zones(args.domains)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_zones(work / "pdns.sqlite3", zones)
        server = start(work, args.address, 53)
        try:
            data = asyncio.run(replies(args.address, domains))
        finally:
            server.stop()
    pairs = []
    for run in range(args.runs):
        ours, theirs = timed(wire.decode, data), timed(dns.message.from_wire, data)
        pairs.append({"load": load(), "ours_s": round(ours, 4), "dnspython_s": round(theirs, 4)})
        print("pair", run, json.dumps(pairs[-1]), flush=True)
    report = {
        "replies": len(data),
        "pairs": pairs,
        "speedup_median": round(statistics.median(p["dnspython_s"] / p["ours_s"] for p in pairs), 2),
        "ours_us_per_reply": round(statistics.median(p["ours_s"] for p in pairs) / len(data) * 1e6, 1),
        "dnspython_us_per_reply": round(statistics.median(p["dnspython_s"] for p in pairs) / len(data) * 1e6, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "pairs"}, indent=2))


if __name__ == "__main__":
    main()
