"""Benchmark: DMARC aggregate reports parsed and stored by us, parsed by parsedmarc — same files, same run.

Files (written by this script): one report with 100,000 records and 200 small reports of 50
records each. Two ways of running each side, each pair interleaved (ours, parsedmarc, ours, …)
`--rounds` times with the load average printed beside it:

- in process: our side parses and stores the files into a fresh SQLite database through the ingest
  service (reverse DNS and alerts off); parsedmarc's runs `parse_report_file(..., offline=True)` on
  each file (parsing only: it stores nothing). Each side runs in its own subprocess and times only
  the work (imports and our database's creation excluded); it also reports its peak RSS.
- CLI: the whole process, start-up included: `email-infra dmarc ingest --no-resolve --format json
  FILES` into a copy of an already migrated data directory, against `parsedmarc --offline --silent
  -o DIR FILES` (which writes its JSON and CSV output).

The ratio is parsedmarc's time over ours (higher is better for us): the median of the pairs, with
the lowest and highest; wall time, and CPU time (the timed work's, or the whole CLI process's),
which a busy machine disturbs less. `--flat` also runs our side on single reports of growing size to show
that memory does not grow with the report.

    python bench/dmarc_vs_parsedmarc.py [--records 100000] [--small 200] [--rounds 3] [--flat 10000,1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import shutil
import statistics
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
            start, cpu = time.perf_counter(), time.process_time()
            summary = await ingest_paths(app, files, options)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        stored = sum(i.records for i in summary.items if i.status == "ingested")
        return {"records": stored, "skipped": summary.count("skipped"), "seconds": seconds, "cpu": cpu}

    return asyncio.run(go())


def run_parsedmarc(files: list[Path]) -> dict[str, Any]:
    """parsedmarc's own file parser, offline (no DNS, no downloads), on every file."""
    import parsedmarc

    start, cpu = time.perf_counter(), time.process_time()
    records = 0
    for path in files:
        report = parsedmarc.parse_report_file(str(path), offline=True)
        records += len(report["report"]["records"])
    return {"records": records, "skipped": 0, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}


def migrate(data_dir: Path) -> None:
    """Create and migrate a database in `data_dir` (the CLI pairs start from copies of it)."""
    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import open_app

    async def go() -> None:
        async with open_app(Settings(data_dir=data_dir, _env_file=None)) as app:  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
            await app.database()

    asyncio.run(go())


def child(side: str, files: list[str], data_dir: str) -> None:
    if side == "migrate":
        migrate(Path(data_dir))
        return
    paths = [Path(f) for f in files]
    result = run_ours(paths, Path(data_dir)) if side == "ours" else run_parsedmarc(paths)
    result["peak_rss_mib"] = peak_rss_mib()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole child, imports included
    print(json.dumps(result))


def measure(side: str, files: list[Path], work: Path) -> dict[str, Any]:
    """One side in process (its own subprocess; only the work is timed)."""
    data_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"{side}-"))
    command = [sys.executable, __file__, "--child", side, "--data-dir", str(data_dir), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    shutil.rmtree(data_dir, ignore_errors=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["records_per_s"] = result["records"] / result["seconds"] if result["seconds"] else 0.0
    return result


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (the bench runs from the project's venv)."""
    return str(Path(sys.executable).with_name(name))


def migrated_template(work: Path) -> Path:
    """A data directory whose database is created and migrated: the CLI runs on copies of it."""
    template = work / "template"
    subprocess.run([sys.executable, __file__, "--child", "migrate", "--data-dir", str(template)], check=True)
    return template


def measure_cli(side: str, files: list[Path], work: Path, template: Path) -> dict[str, Any]:
    """One side's CLI as a user runs it: the whole process, start-up included."""
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"cli-{side}-"))
    env = dict(os.environ)
    if side == "ours":
        shutil.copytree(template, out / "data")
        env["EMAIL_INFRA_DATA_DIR"] = str(out / "data")
        command = [_bin("email-infra"), "dmarc", "ingest", "--no-resolve", "--format", "json", *map(str, files)]
    else:
        command = [_bin("parsedmarc"), "--offline", "--silent", "-o", str(out / "output"), *map(str, files)]
    start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=out)
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)
    try:
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
        if side == "ours":
            items = json.loads(done.stdout)["items"]
            records = sum(i["records"] for i in items if i["status"] == "ingested")
        else:
            # its CSV has a row per record: counted as a stream (its JSON, loaded whole, would
            # raise this process's peak RSS, which the next child would inherit across fork)
            with (out / "output" / "aggregate.csv").open(newline="", encoding="utf-8") as rows:
                records = sum(1 for _ in csv.reader(rows)) - 1
        return {"records": records, "seconds": seconds, "cpu": cpu}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def load() -> str:
    """The 1-minute load average (the machine may be shared: ratios of interleaved runs are what count)."""
    return f"{os.getloadavg()[0]:.2f}"


def row(name: str, ours: dict[str, Any], peer: dict[str, Any]) -> str:
    """A pair of runs: records, times, peak RSS (in process only), the ratio and the load average."""
    if "error" in ours or "error" in peer:
        return f"| {name} | failed: {ours.get('error') or peer.get('error')} | | | | | | |"
    rss = f"{ours['peak_rss_mib']:,.0f} / {peer['peak_rss_mib']:,.0f} MiB" if "peak_rss_mib" in ours else "—"
    return (
        f"| {name} | {ours['records']:,} / {peer['records']:,} | {ours['seconds']:.2f} s | {peer['seconds']:.2f} s "
        f"| {peer['seconds'] / ours['seconds']:.1f}x | {peer['cpu'] / ours['cpu']:.1f}x | {rss} | {load()} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pairs per workload and way of running")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI (whole process) pairs")
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
        template = None if args.no_cli else migrated_template(work)
        print(
            "| pair | records (ours / parsedmarc) | ours | parsedmarc | ratio (wall) | ratio (CPU) | peak RSS (ours / parsedmarc) | load |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        ratios: dict[str, list[float]] = {}
        cpu_ratios: dict[str, list[float]] = {}
        for label, files in ((f"{args.records:,}-record report", [big]), (f"{args.small} small reports", small)):
            ways = ["in process"] + ([] if template is None else ["CLI"])
            for way in ways:
                name = f"{label}, {way}"
                for n in range(args.rounds):
                    if way == "CLI":
                        assert template is not None
                        ours, peer = (
                            measure_cli("ours", files, work, template),
                            measure_cli("parsedmarc", files, work, template),
                        )
                    else:
                        ours, peer = measure("ours", files, work), measure("parsedmarc", files, work)
                    print(row(f"{name} #{n + 1}", ours, peer), flush=True)
                    if "error" not in ours and "error" not in peer:
                        ratios.setdefault(name, []).append(peer["seconds"] / ours["seconds"])
                        cpu_ratios.setdefault(name, []).append(peer["cpu"] / ours["cpu"])
        for name, values in ratios.items():
            cpu = cpu_ratios[name]
            print(f"{name}: ours {statistics.median(values):.1f}x parsedmarc (median of {len(values)}; "
                  f"{min(values):.1f}x to {max(values):.1f}x); CPU time {statistics.median(cpu):.1f}x "
                  f"({min(cpu):.1f}x to {max(cpu):.1f}x)")  # fmt: skip
        for count in [int(c) for c in args.flat.split(",") if c]:
            path = work / f"flat-{count}.xml"
            write_report(path, count, f"flat-{count}", 7)
            result = measure("ours", [path], work)
            if "error" in result:
                print(f"flat: {count:,}-record report, ours: failed: {result['error']}")
            else:
                print(f"flat: {count:,}-record report, ours: {result['records']:,} records in {result['seconds']:.1f} s, "
                      f"peak RSS {result['peak_rss_mib']:,.0f} MiB (load {load()})", flush=True)  # fmt: skip
            path.unlink()


if __name__ == "__main__":
    main()
