"""Benchmark: how fast `email-infra` starts — `--version`, `--help`, a one-domain audit — as processes.

Each command runs `--runs` times (20 by default) from a fresh data dir; the figure is the median wall
time of the process (start-up, imports and the work). With `--baseline SRC` (another checkout's
`src`, e.g. a `git worktree` of main) each run of ours is paired with the same command run on that
code (interleaved A B A B), and the ratio baseline/ours is printed beside the load average. The
audit asks a local PowerDNS on a loopback address (bench/localdns.py) about one domain.

    python bench/cli_start.py [--runs 20] [--baseline /path/to/main/src]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localdns import start, write_zones  # noqa: E402  # after the sys.path insert above
from bench.measure import VENV_BIN, clean_env, load, run_process  # noqa: E402  # idem

DOMAIN = "one.test"
ZONE = [
    (DOMAIN, "TXT", '"v=spf1 ip4:127.0.0.10 -all"'),
    (f"_dmarc.{DOMAIN}", "TXT", '"v=DMARC1; p=none; rua=mailto:dmarc@one.test"'),
    (DOMAIN, "MX", f"10 mail.{DOMAIN}."),
    (f"mail.{DOMAIN}", "A", "127.0.0.10"),
]


def commands(address: str) -> dict[str, list[str]]:
    """The measured command lines (arguments after `email-infra`)."""
    audit = ["audit", DOMAIN, "--nameserver", address, "--checks", "spf,dmarc,mx", "--format", "json"]
    return {"--version": ["--version"], "--help": ["--help"], "audit one domain": audit}


def side_env(work: Path, src: Path) -> dict[str, str]:
    """A fresh install's environment, importing email_infrastructure from `src`."""
    env = clean_env(work)
    env["PYTHONPATH"] = str(src)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--address", default="127.0.0.3")
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory to compare with")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cli_start.json")
    args = parser.parse_args()
    sides = {"ours": ROOT / "src"}
    if args.baseline is not None:
        sides["baseline"] = args.baseline.resolve()
    report: dict[str, Any] = {"runs": args.runs, "commands": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_zones(work / "pdns.sqlite3", {DOMAIN: ZONE})
        server = start(work, args.address, 53)
        try:
            script = str(VENV_BIN / "email-infra")
            for name, argv in commands(args.address).items():
                times: dict[str, list[float]] = {side: [] for side in sides}
                loads = []
                for _ in range(args.runs):
                    loads.append(float(load()))
                    for side, src in sides.items():  # interleaved: ours, baseline, ours, baseline…
                        result = run_process([script, *argv], work / "out.txt", side_env(work, src))
                        if result["exit"] not in (0, 1, 3):  # an audit's findings exit 1 or 3, not a failure
                            raise SystemExit(f"{side} {name}: exit {result['exit']}")
                        times[side].append(result["seconds"])
                row: dict[str, Any] = {f"{s}_median_s": round(statistics.median(t), 3) for s, t in times.items()}
                row["load_median"] = round(statistics.median(loads), 2)
                if "baseline" in times:
                    row["ratio"] = round(
                        statistics.median(b / o for o, b in zip(times["ours"], times["baseline"], strict=True)), 2
                    )
                report["commands"][name] = row
                print(f"{name}: {row}", flush=True)
        finally:
            server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
