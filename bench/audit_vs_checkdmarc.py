"""Benchmark: audit N domains served by a local PowerDNS — ours against checkdmarc, same run.

Both tools are run as their command-line programs against PowerDNS on 127.0.0.2:53; wall time,
peak RSS and the queries PowerDNS answered are measured for each; findings are compared domain by
domain (SPF and DMARC errors; DKIM is ours alone). If dnsperf is installed, the server alone is
measured on the same query mix.

    python bench/audit_vs_checkdmarc.py --domains 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localdns import queries_answered, start, write_zones  # noqa: E402  # after the sys.path insert above
from email_infrastructure.core.rsa_keys import generate_keypair  # noqa: E402  # after the sys.path insert above
from email_infrastructure.dns.records import txt_presentation  # noqa: E402  # after the sys.path insert above

VENV_BIN = Path(sys.executable).parent
MEASURE = (
    "import resource, subprocess, sys, time;"
    "t=time.perf_counter(); p=subprocess.run(sys.argv[2:], stdout=open(sys.argv[1],'wb'), stderr=subprocess.DEVNULL);"
    "print(p.returncode, time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def build_zones(count: int) -> tuple[dict[str, list[tuple[str, str, str]]], list[str], dict[str, set[str]]]:
    """Fleet-like domains with shared ESP include chains and MX hosts, and some defects."""
    key = generate_keypair(2048)[1]
    zones: dict[str, list[tuple[str, str, str]]] = {
        "mailhost.test": [(f"mx{i}.mailhost.test", "A", f"127.0.0.{10 + i}") for i in range(10)]
    }
    for k in range(5):
        zones[f"esp{k}.test"] = [
            (
                f"_spf.esp{k}.test",
                "TXT",
                txt_presentation(f"v=spf1 include:_netblocks.esp{k}.test include:_netblocks2.esp{k}.test ~all"),
            ),
            (f"_netblocks.esp{k}.test", "TXT", txt_presentation(f"v=spf1 ip4:127.0.{k + 1}.0/24 -all")),
            (f"_netblocks2.esp{k}.test", "TXT", txt_presentation(f"v=spf1 ip4:127.0.{k + 101}.0/24 -all")),
        ]
    deep = " ".join(f"include:_spf.esp{k}.test" for k in range(5))
    domains, expected = [], {}
    for n in range(count):
        name = f"shop{n:04d}.test"
        domains.append(name)
        spf = f"v=spf1 ip4:127.0.0.{10 + n % 10} include:_spf.esp{n % 5}.test -all"
        defects: set[str] = set()
        if n % 25 == 3:
            spf = spf.replace("-all", "+all")
            defects.add("spf.plus_all")
        if n % 50 == 7:
            spf = f"v=spf1 {deep} a mx -all"
            defects.add("spf.too_many_lookups")
        rows = [
            (name, "MX", f"10 mx{n % 10}.mailhost.test."),
            (name, "TXT", txt_presentation(spf)),
            (f"s1._domainkey.{name}", "TXT", txt_presentation(f"v=DKIM1; k=rsa; p={key}")),
        ]
        if n % 10 != 5:
            rows.append((f"_dmarc.{name}", "TXT", txt_presentation(f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{name}")))
        else:
            defects.add("dmarc.missing")
        if n % 40 == 9:
            rows = [r for r in rows if "_domainkey" not in r[0]]
            defects.add("dkim.missing")
        zones[name] = rows
        expected[name] = defects
    return zones, domains, expected


def measure(command: list[str], out: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(out), *command], capture_output=True, text=True, check=True
    )
    code, seconds, rss_kib = result.stdout.split()
    return {"exit": int(code), "seconds": round(float(seconds), 2), "peak_rss_mib": round(int(rss_kib) / 1024, 1)}


def checkdmarc_errors(data: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in data if isinstance(data, list) else [data]:
        found = set()
        if not item.get("spf", {}).get("valid", True):
            found.add("spf")
        if not item.get("dmarc", {}).get("valid", True):
            found.add("dmarc")
        out[item["domain"]] = found
    return out


def ours_errors(data: Any) -> dict[str, set[str]]:
    return {d["domain"]: {c for c, r in d["checks"].items() if r["status"] == "error"} for d in data["domains"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "audit_vs_checkdmarc.json")
    args = parser.parse_args()
    zones, domains, expected = build_zones(args.domains)
    report: dict[str, Any] = {"domains": args.domains}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report["records"] = write_zones(work / "pdns.sqlite3", zones)
        server = start(work, args.address, 53)
        try:
            (work / "domains.txt").write_text("\n".join(domains) + "\n")
            before = queries_answered(server)
            ours = measure(
                [
                    str(VENV_BIN / "email-infra"),
                    "audit",
                    *domains,
                    "--nameserver",
                    args.address,
                    "--selector",
                    "s1",
                    "--checks",
                    "spf,dkim,dmarc,mx",
                    "--format",
                    "json",
                ],
                work / "ours.json",
            )
            ours["queries"] = queries_answered(server) - before
            before = queries_answered(server)
            theirs = measure(
                [
                    str(VENV_BIN / "checkdmarc"),
                    "-n",
                    args.address,
                    "--skip-tls",
                    "-f",
                    "json",
                    str(work / "domains.txt"),
                ],
                work / "theirs.json",
            )
            theirs["queries"] = queries_answered(server) - before
            for tool in (ours, theirs):
                tool["queries_per_domain"] = round(tool["queries"] / args.domains, 1)
                tool["queries_per_second"] = round(tool["queries"] / tool["seconds"])
            ours_found = ours_errors(json.loads((work / "ours.json").read_text()))
            theirs_found = checkdmarc_errors(json.loads((work / "theirs.json").read_text()))
            agree = sum(theirs_found.get(d, set()) <= ours_found.get(d, set()) for d in domains)
            planted = sum(1 for d in domains for x in expected[d] if x.split(".")[0] in ours_found.get(d, set()))
            planted_theirs = sum(
                1 for d in domains for x in expected[d] if x.split(".")[0] in theirs_found.get(d, set())
            )
            report["findings"] = {
                "planted_defects": sum(len(v) for v in expected.values()),
                "found_by_ours": planted,
                "found_by_checkdmarc": planted_theirs,
                "domains_where_ours_covers_every_checkdmarc_error": agree,
                "dkim_errors_ours": sum("dkim" in v for v in ours_found.values()),
            }
            if shutil.which("dnsperf"):
                lines = [f"{d} TXT\n_dmarc.{d} TXT\ns1._domainkey.{d} TXT\n{d} MX\n" for d in domains]
                (work / "queries.txt").write_text("".join(lines))
                perf = subprocess.run(
                    [
                        "dnsperf",
                        "-s",
                        args.address,
                        "-d",
                        str(work / "queries.txt"),
                        "-l",
                        "5",
                        "-c",
                        "4",
                        "-Q",
                        "100000",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                qps = [line for line in perf.stdout.splitlines() if "Queries per second" in line]
                report["server_alone_qps"] = float(qps[0].split()[-1]) if qps else None
            report["ours"], report["checkdmarc"] = ours, theirs
            report["speedup"] = round(theirs["seconds"] / ours["seconds"], 1)
        finally:
            server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
