"""Benchmark: DMARC aggregate reports parsed and stored by us, parsed by parsedmarc — same files, same run.

Files (written by this script): one report with 100,000 records and 200 small reports of 50
records each. Our side parses and stores them into a fresh SQLite database through the ingest
service (reverse DNS off); parsedmarc's side runs `parse_report_file(..., offline=True)` on each
file (parsing only: it stores nothing). Each side runs in its own subprocess, which reports its
wall time and peak RSS (ru_maxrss). `--flat` also runs our side on single reports of growing size
to show that memory does not grow with the report.

    python bench/dmarc_vs_parsedmarc.py [--records 100000] [--small 200] [--flat 10000,1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOMAIN = "bench-dmarc.test"


def write_report(path: Path, records: int, report_id: str, seed: int) -> None:
    """An RFC 7489 report with `records` records from a pool of 5,000 sources (80 % DMARC pass)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<feedback><version>1.0</version><report_metadata>'
            f"<org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>"
            f"<report_id>{report_id}</report_id><date_range><begin>1764460800</begin><end>1764547199</end>"
            f"</date_range></report_metadata><policy_published><domain>{DOMAIN}</domain><adkim>r</adkim>"
            "<aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct></policy_published>\n"
        )
        for _ in range(records):
            n = rng.randrange(5000)
            dkim = "pass" if rng.random() < 0.8 else "fail"
            spf = "pass" if rng.random() < 0.6 else "fail"
            out.write(
                f"<record><row><source_ip>198.18.{n // 250}.{n % 250 + 1}</source_ip><count>{rng.randint(1, 40)}"
                f"</count><policy_evaluated><disposition>none</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>"
                f"</policy_evaluated></row><identifiers><envelope_from>bounce.{DOMAIN}</envelope_from>"
                f"<header_from>{DOMAIN}</header_from></identifiers><auth_results><dkim><domain>{DOMAIN}</domain>"
                f"<selector>s1</selector><result>{dkim}</result></dkim><spf><domain>bounce.{DOMAIN}</domain>"
                f"<scope>mfrom</scope><result>{spf}</result></spf></auth_results></record>\n"
            )
        out.write("</feedback>\n")


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(files: list[Path], data_dir: Path) -> dict[str, Any]:
    """Parse and store every file through the ingest service into a fresh SQLite file."""
    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import open_app
    from email_infrastructure.services.dmarc import IngestOptions, ingest_paths

    async def go() -> dict[str, Any]:
        settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file
        async with open_app(settings) as app:
            await app.database()  # create and migrate before the clock starts
            options = IngestOptions(resolve=False, alerts=False, domains={DOMAIN})
            start = time.perf_counter()
            summary = await ingest_paths(app, files, options)
            seconds = time.perf_counter() - start
        stored = sum(i.records for i in summary.items if i.status == "ingested")
        return {"records": stored, "skipped": summary.count("skipped"), "seconds": seconds}

    return asyncio.run(go())


def run_parsedmarc(files: list[Path]) -> dict[str, Any]:
    """parsedmarc's own file parser, offline (no DNS, no downloads), on every file."""
    import parsedmarc

    start = time.perf_counter()
    records = 0
    for path in files:
        report = parsedmarc.parse_report_file(str(path), offline=True)
        records += len(report["report"]["records"])
    return {"records": records, "skipped": 0, "seconds": time.perf_counter() - start}


def child(side: str, files: list[str], data_dir: str) -> None:
    paths = [Path(f) for f in files]
    result = run_ours(paths, Path(data_dir)) if side == "ours" else run_parsedmarc(paths)
    result["peak_rss_mib"] = peak_rss_mib()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole child, imports included
    print(json.dumps(result))


def measure(side: str, files: list[Path], work: Path) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"{side}-"))
    command = [sys.executable, __file__, "--child", side, "--data-dir", str(data_dir), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["records_per_s"] = result["records"] / result["seconds"] if result["seconds"] else 0.0
    return result


def row(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"| {name} | failed: {result['error']} | | | | |"
    return (
        f"| {name} | {result['records']:,} | {result['seconds']:.1f} s | {result['cpu_seconds']:.1f} s "
        f"| {result['records_per_s']:,.0f} | {result['peak_rss_mib']:,.0f} MiB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--flat", default="10000,1000000", help="record counts for the flat-memory runs ('' skips)")
    parser.add_argument("--child")
    parser.add_argument("--data-dir")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.files, args.data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="dmarc-bench-") as tmp:
        work = Path(tmp)
        big = work / f"google.com!{DOMAIN}!1764460800!1764547199!big.xml"
        write_report(big, args.records, "big", 1)
        small = []
        for n in range(args.small):
            path = work / f"receiver{n}.example!{DOMAIN}!1764460800!1764547199!{n}.xml"
            write_report(path, 50, f"small-{n}", 100 + n)
            small.append(path)
        print("| run | records | wall time | CPU time (process) | records/s (wall) | peak RSS |")
        print("|---|---:|---:|---:|---:|---:|")
        results = {}
        for label, files in ((f"{args.records:,}-record report", [big]), (f"{args.small} small reports", small)):
            for side in ("ours", "parsedmarc"):
                results[(label, side)] = measure(side, files, work)
                print(row(f"{label}, {side}", results[(label, side)]), flush=True)
        for label in dict.fromkeys(k[0] for k in results):
            a, b = results[(label, "ours")], results[(label, "parsedmarc")]
            if "error" not in a and "error" not in b and b["records_per_s"]:
                print(f"{label}: ours {a['records_per_s'] / b['records_per_s']:.1f}x parsedmarc's records/s "
                      f"(CPU: {b['cpu_seconds'] / a['cpu_seconds']:.1f}x); parsedmarc's peak RSS is "
                      f"{b['peak_rss_mib'] / a['peak_rss_mib']:.1f}x ours")  # fmt: skip
        for count in [int(c) for c in args.flat.split(",") if c]:
            path = work / f"flat-{count}.xml"
            write_report(path, count, f"flat-{count}", 7)
            result = measure("ours", [path], work)
            print(row(f"flat: {count:,}-record report, ours", result), flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
