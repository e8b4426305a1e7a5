"""Finding ids: every id the checks can report has a fix hint and is documented."""

from __future__ import annotations

import re
from pathlib import Path

from email_infrastructure.monitoring.findings import HINTS, Finding, Severity, hint

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "spf|dkim|dmarc|mx|mta_sts|tls_rpt|bimi|ptr|dnsbl|tls|drift|compliance|mailbox|sequencer|registration|expiry|delegation"


def ids_in_source() -> set[str]:
    """Ids written out as string literals in the monitoring code (f-strings included)."""
    found = set()
    sources = [
        *(ROOT / "src/email_infrastructure/monitoring").rglob("*.py"),
        ROOT / "src/email_infrastructure/services/monitoring.py",
        ROOT / "src/email_infrastructure/services/sequencer_health.py",
    ]
    for path in sources:
        found |= set(re.findall(rf'"((?:{CHECKS})\.[a-z_]+)"', path.read_text()))
    return found - {"tls.py"}


def test_every_reported_id_has_a_hint_and_a_line_in_the_docs() -> None:
    docs = (ROOT / "docs/audit-format.md").read_text()
    documented = set(re.findall(rf"`((?:{CHECKS})\.[a-z_]+)`", docs))
    assert ids_in_source() - set(HINTS) == set()
    assert set(HINTS) - documented == set()
    assert documented - set(HINTS) == set()


def test_hints_reach_the_json() -> None:
    assert Finding("spf.plus_all", Severity.ERROR, "…").to_json()["hint"] == HINTS["spf.plus_all"]
    assert "deadline" in hint("mta_sts.deadline")
    assert hint("spf.internal_error")
