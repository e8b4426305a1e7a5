"""Benchmark: audit N domains served by a local PowerDNS — ours, checkdmarc and a raw DNS client, same run.

Three command lines, run `--runs` times interleaved (ours, checkdmarc, raw, ours without DKIM, …)
after one untimed in-process audit that records the queries ours sends and warms PowerDNS's caches:
- ours: `email-infra audit --domains-file … --checks spf,dkim,dmarc,mx --format json` (fresh data dir);
- checkdmarc 6.0.4: `checkdmarc -n ADDRESS --skip-tls -f json domains.txt`;
- raw: `bench/rawdns.py`, the same queries ours sent at the same concurrency (64 in flight), each
  reply parsed by dnspython and nothing more: the rate a Python DNS client reaches here;
- ours without DKIM: what the DKIM check adds per 1,000 domains.
Wall time (the process, start-up included), peak RSS and the queries PowerDNS answered are measured
for each; the load average is printed beside each round; findings are compared domain by domain
(SPF and DMARC errors; DKIM is ours alone). The engine alone (in this process, after its imports)
is compared with the raw client's query phase as well.

    python bench/audit_vs_checkdmarc.py --domains 1000 [--runs 3]
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

from bench.localdns import queries_answered, start, write_zones  # noqa: E402  # after the sys.path insert above
from bench.measure import VENV_BIN, clean_env, load, run_process  # noqa: E402  # idem
from email_infrastructure.core.rsa_keys import generate_keypair  # noqa: E402  # idem
from email_infrastructure.dns.records import txt_presentation  # noqa: E402  # idem

CHECKS = "spf,dkim,dmarc,mx"
#: ours' resolver default (queries in flight): the raw client gets the same
CONCURRENCY = 64


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


def measure(command: list[str], out: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`run_process`, seconds rounded (bench/audit_scale.py uses it)."""
    result = run_process(command, out, env)
    return {**result, "seconds": round(result["seconds"], 2)}


async def engine(address: str, domains: list[str], record: list[tuple[str, str]] | None = None) -> float:
    """Ours in this process (imports paid): seconds for the audit alone; `record` gets each query sent."""
    from email_infrastructure.monitoring.audit import audit
    from email_infrastructure.monitoring.context import AuditContext
    from email_infrastructure.monitoring.resolver import Resolver
    from email_infrastructure.monitoring.targets import plain_target

    class Recording(Resolver):
        async def _exchange(self, name: str, rtype: str) -> bytes | None:
            if record is not None:
                record.append((name, rtype))
            return await super()._exchange(name, rtype)

    resolver = Recording([(address, 53)], shared_cache=None)
    targets = [plain_target(d, ["s1"]) for d in domains]
    started = time.perf_counter()
    await audit(targets, AuditContext(resolver), set(CHECKS.split(",")), [])
    seconds = time.perf_counter() - started
    await resolver.close()
    return seconds


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


def counted(server: Any, command: list[str], out: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one side; its wall time, peak RSS and the queries PowerDNS answered for it."""
    before = queries_answered(server)
    result = run_process(command, out, env)
    result["queries"] = queries_answered(server) - before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "audit_vs_checkdmarc.json")
    args = parser.parse_args()
    zones, domains, expected = build_zones(args.domains)
    report: dict[str, Any] = {"domains": args.domains, "rounds": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report["records"] = write_zones(work / "pdns.sqlite3", zones)
        env = clean_env(work)
        server = start(work, args.address, 53)
        try:
            (work / "domains.txt").write_text("\n".join(domains) + "\n")
            sent: list[tuple[str, str]] = []
            asyncio.run(engine(args.address, domains, sent))  # untimed: records the queries, warms the caches
            (work / "queries.txt").write_text("".join(f"{name} {rtype}\n" for name, rtype in sent))
            report["queries_ours_sends"] = len(sent)
            ours_cmd = [str(VENV_BIN / "email-infra"), "audit", "--domains-file", str(work / "domains.txt")]
            ours_cmd += ["--nameserver", args.address, "--selector", "s1", "--format", "json", "--checks"]
            theirs_cmd = [str(VENV_BIN / "checkdmarc"), "-n", args.address, "--skip-tls", "-f", "json"]
            theirs_cmd.append(str(work / "domains.txt"))
            raw_cmd = [sys.executable, str(ROOT / "bench" / "rawdns.py"), str(work / "queries.txt"), args.address]
            raw_cmd += ["--concurrency", str(CONCURRENCY)]
            for run in range(args.runs):
                row: dict[str, Any] = {"load": load()}
                row["ours"] = counted(server, [*ours_cmd, CHECKS], work / "ours.json", env)
                row["checkdmarc"] = counted(server, theirs_cmd, work / "theirs.json", env)
                row["raw"] = counted(server, raw_cmd, work / "raw.txt", env)
                row["raw"]["query_phase_seconds"] = float((work / "raw.txt").read_text().split()[2])
                row["ours_without_dkim"] = counted(server, [*ours_cmd, "spf,dmarc,mx"], work / "nodkim.json", env)
                row["engine_seconds"] = asyncio.run(engine(args.address, domains))
                row["load_after"] = load()
                report["rounds"].append(row)
                print(
                    f"round {run}: load {row['load']}→{row['load_after']}  ours {row['ours']['seconds']:.2f}s"
                    f"  checkdmarc {row['checkdmarc']['seconds']:.2f}s  raw {row['raw']['seconds']:.2f}s"
                    f" (query phase {row['raw']['query_phase_seconds']:.2f}s)  ours without DKIM"
                    f" {row['ours_without_dkim']['seconds']:.2f}s  engine {row['engine_seconds']:.2f}s",
                    flush=True,
                )
            ours_found = ours_errors(json.loads((work / "ours.json").read_text()))
            theirs_found = checkdmarc_errors(json.loads((work / "theirs.json").read_text()))
        finally:
            server.stop()
    agree = sum(theirs_found.get(d, set()) <= ours_found.get(d, set()) for d in domains)
    planted = sum(1 for d in domains for x in expected[d] if x.split(".")[0] in ours_found.get(d, set()))
    planted_theirs = sum(1 for d in domains for x in expected[d] if x.split(".")[0] in theirs_found.get(d, set()))
    report["findings"] = {
        "planted_defects": sum(len(v) for v in expected.values()),
        "found_by_ours": planted,
        "found_by_checkdmarc": planted_theirs,
        "domains_where_ours_covers_every_checkdmarc_error": agree,
        "dkim_errors_ours": sum("dkim" in v for v in ours_found.values()),
    }
    rounds = report["rounds"]

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    queries = rounds[-1]["ours"]["queries"]
    report["summary"] = {
        "speedup_vs_checkdmarc": median([r["checkdmarc"]["seconds"] / r["ours"]["seconds"] for r in rounds]),
        # the same queries: the ratio of the rates is the inverse ratio of the times
        "cli_share_of_raw_client_rate": median([r["raw"]["seconds"] / r["ours"]["seconds"] for r in rounds]),
        "engine_share_of_raw_client_rate": median(
            [r["raw"]["query_phase_seconds"] / r["engine_seconds"] for r in rounds]
        ),
        "dkim_seconds_per_1000_domains": median(
            [(r["ours"]["seconds"] - r["ours_without_dkim"]["seconds"]) * 1000 / args.domains for r in rounds]
        ),
        "queries_per_domain": {
            "ours": round(queries / args.domains, 1),
            "checkdmarc": round(rounds[-1]["checkdmarc"]["queries"] / args.domains, 1),
            "raw": round(rounds[-1]["raw"]["queries"] / args.domains, 1),
        },
        "target": {"speedup_vs_checkdmarc": 25, "share_of_raw_client_rate": 0.40},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({"findings": report["findings"], "summary": report["summary"]}, indent=2))


if __name__ == "__main__":
    main()
