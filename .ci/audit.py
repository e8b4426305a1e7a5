"""CI: audit the pinned dependencies (constraints.txt) for known vulnerabilities.

pip-audit asks PyPI for each pin's vulnerabilities (/pypi/NAME/VERSION/json). Where that answers
404 for every release (as on mirrors that only serve the project JSON), pip-audit skips the pin and
reports "no known vulnerabilities" — a pass that audited nothing. So each pin pip-audit skips is
checked against the project JSON (/pypi/NAME/json), whose `vulnerabilities` describe the latest
release: exact when the pin is that release. A pin that neither could audit is listed; when no pin
at all could be audited, the audit fails.

A vulnerability fails CI unless .ci/pip-audit-ignore.txt lists it: `ID  REVISIT-DATE  reason`
(one a line, # comments). An entry past its revisit date fails CI until it is re-decided.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
IGNORE = ROOT / ".ci" / "pip-audit-ignore.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
JSON_OUT = ("--progress-spinner", "off", "--format", "json", "--output", "-")
IGNORE_LINE = re.compile(r"^(\S+)\s+(\d{4}-\d{2}-\d{2})\s+(\S.*)$")


def canonical(name: str) -> str:
    """PEP 503 name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def ignored(today: dt.date) -> tuple[dict[str, str], list[str]]:
    """Accepted vulnerability ids (→ reason), and problems with the ignore file."""
    accepted: dict[str, str] = {}
    problems: list[str] = []
    lines = IGNORE.read_text(encoding="utf-8").splitlines() if IGNORE.exists() else []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = IGNORE_LINE.match(text)
        if not match:
            problems.append(f"{IGNORE.name}:{number}: expected 'ID  YYYY-MM-DD  reason'")
            continue
        vuln, date, reason = match.groups()
        try:
            revisit = dt.date.fromisoformat(date)
        except ValueError:
            problems.append(f"{IGNORE.name}:{number}: {date} is not a date")
            continue
        if revisit < today:
            problems.append(f"{IGNORE.name}:{number}: the exception for {vuln} expired on {date}: decide again")
        accepted[vuln] = reason
    return accepted, problems


def pip_audit() -> list[dict[str, Any]]:
    """pip-audit's verdict per pin (JSON `dependencies`)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(CONSTRAINTS), "--no-deps", "--disable-pip", *JSON_OUT],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return list(json.loads(result.stdout)["dependencies"])
    except (ValueError, KeyError):
        sys.exit(f"audit: pip-audit failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


def latest_release_vulns(name: str, version: str) -> list[dict[str, Any]] | None:
    """Vulnerabilities of `version` from PyPI's project JSON, or None when it cannot tell."""
    url = f"https://pypi.org/pypi/{canonical(name)}/json"
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            data = json.load(answer)
    except (urllib.error.URLError, TimeoutError, ValueError):
        return None
    if data.get("info", {}).get("version") != version:
        return None
    return [v for v in data.get("vulnerabilities", []) if not v.get("withdrawn")]


def ids(vuln: dict[str, Any]) -> list[str]:
    """A vulnerability's id and its aliases (PYSEC, GHSA, CVE): an exception may name any of them."""
    return [vuln["id"], *vuln.get("aliases", [])]


def main() -> int:
    """Exit 1 on an unaccepted vulnerability, an expired exception, or an audit that audited nothing."""
    today = dt.date.today()
    accepted, failures = ignored(today)
    lines = CONSTRAINTS.read_text(encoding="utf-8").splitlines()
    pins = {canonical(m.group(1)): m.group(2) for line in lines if (m := PIN.match(line))}
    found: list[tuple[str, str, list[str], str]] = []  # (name, version, id and aliases, fixed in)
    unaudited: list[str] = []
    audited = 0
    for dep in pip_audit():
        name = canonical(dep["name"])
        version = dep.get("version") or pins.get(name, "?")
        if "skip_reason" not in dep:
            audited += 1
            found += [(name, version, ids(v), ", ".join(v.get("fix_versions", []))) for v in dep.get("vulns", [])]
            continue
        vulns = latest_release_vulns(name, version)
        if vulns is None:
            unaudited.append(f"{name}=={version}")
            continue
        audited += 1
        found += [(name, version, ids(v), ", ".join(v.get("fixed_in", []))) for v in vulns]
    for name, version, names, fixed in found:
        if match := next((n for n in names if n in accepted), None):
            print(f"audit: accepted {match} in {name}=={version}: {accepted[match]}")
        else:
            failures.append(f"{name}=={version}: {' / '.join(names)} (fixed in {fixed or 'no release yet'})")
    if unaudited:
        print(
            f"audit: WARNING: {len(unaudited)} pin(s) not audited (no vulnerability data for that release): "
            + ", ".join(unaudited)
        )
    if audited == 0:
        failures.append("no pin could be audited: is PyPI reachable?")
    for failure in failures:
        print(f"audit: FAIL: {failure}")
    print(f"audit: {audited} of {len(pins)} pins audited, {len(found)} known vulnerabilities, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
