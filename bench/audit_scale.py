"""Benchmark: `email-infra audit --format jsonl` over 1k/10k/100k domains — wall time and peak RSS.

PowerDNS on 127.0.0.2:53 serves the fleet of `audit_vs_checkdmarc.build_zones`; the CLI reads the
domains from a file and streams one line per domain. `--compare-json` also runs `--format json`
(the whole report kept until the end) at each size, for the memory it needs.

    python bench/audit_scale.py --domains 1000 10000 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.audit_vs_checkdmarc import VENV_BIN, build_zones, measure  # noqa: E402  # after the path fix
from bench.localdns import queries_answered, start, write_zones  # noqa: E402  # after the path fix
from bench.measure import clean_env  # noqa: E402  # after the path fix


def run(count: int, address: str, formats: list[str]) -> dict[str, Any]:
    """One size: serve the zones, audit them in each format."""
    zones, domains, _expected = build_zones(count)
    out: dict[str, Any] = {"domains": count}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out["records"] = write_zones(work / "pdns.sqlite3", zones)
        (work / "domains.txt").write_text("\n".join(domains) + "\n")
        server = start(work, address, 53)
        try:
            for fmt in formats:
                before = queries_answered(server)
                result = measure(
                    [
                        str(VENV_BIN / "email-infra"),
                        "audit",
                        "--domains-file",
                        str(work / "domains.txt"),
                        "--nameserver",
                        address,
                        "--selector",
                        "s1",
                        "--checks",
                        "spf,dkim,dmarc,mx",
                        "--format",
                        fmt,
                    ],
                    work / f"out.{fmt}",
                    clean_env(work),  # a fresh install: no stored state read, whatever this machine has
                )
                result["queries"] = queries_answered(server) - before
                text = (work / f"out.{fmt}").read_text()
                result["lines"] = text.count("\n")
                result["domains_per_second"] = round(count / result["seconds"])
                out[fmt] = result
        finally:
            server.stop()
    return out


def main() -> None:
    """Run the sizes asked for and print (and store) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--compare-json", action="store_true", help="Also run --format json at each size.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "audit_scale.json")
    args = parser.parse_args()
    formats = ["jsonl", "json"] if args.compare_json else ["jsonl"]
    results = [run(n, args.address, formats) for n in args.domains]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
