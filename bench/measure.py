"""What the side-by-side benchmarks share: timing a command as a process, the load, the CLI's clean environment."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
# the child times itself: the parent's own start-up is not in the figure; ru_maxrss is the command's peak
MEASURE = (
    "import resource, subprocess, sys, time;"
    "t=time.perf_counter(); p=subprocess.run(sys.argv[2:], stdout=open(sys.argv[1],'wb'), stderr=subprocess.DEVNULL);"
    "print(p.returncode, time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def clean_env(work: Path) -> dict[str, str]:
    """The environment of a fresh install: no stored state, no config, no Redis (what a first user runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(EMAIL_INFRA_DATA_DIR=str(work / "data"), EMAIL_INFRA_CONFIG_DIR=str(work / "no-config"))
    return env


def run_process(command: list[str], out: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall seconds, exit code and peak RSS of `command` (its stdout written to `out`)."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(out), *command], capture_output=True, text=True, check=True, env=env
    )
    code, seconds, rss_kib = result.stdout.split()
    return {"exit": int(code), "seconds": float(seconds), "peak_rss_mib": round(int(rss_kib) / 1024, 1)}


def load() -> str:
    """The 1-minute load average, to print beside each pair (the machine is shared)."""
    return f"{os.getloadavg()[0]:.2f}"


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    """The median of peer/ours over interleaved pairs (above 1: ours is faster)."""
    return round(statistics.median(theirs / ours for ours, theirs in pairs), 2)
