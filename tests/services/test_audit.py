"""Audits read the stored state at most: `audit -f` leaves the data dir as it was, byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cli
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import QUICKSTART


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_audit_from_a_file_writes_nothing(cli: Cli, pdns: PowerDns, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART)
    data = tmp_path / "data"
    ns = f"{pdns.address}:{pdns.dns_port}"
    audit = ("audit", "-f", str(inventory), "--nameserver", ns, "--checks", "spf,dkim,dmarc,drift", "--format", "json")

    fresh = cli(*audit)
    assert fresh.returncode in (0, 1, 3), fresh.stderr
    assert {d["domain"] for d in json.loads(fresh.stdout)["domains"]} == {"acme-outreach.test", "acme-mail.test"}
    assert not data.exists(), "an audit on a fresh data dir created it"

    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0
    before = snapshot(data)
    assert "email-infra.db" in before and "secret.key" in before
    again = cli(*audit)
    assert again.returncode in (0, 1, 3), again.stderr
    assert snapshot(data) == before


def test_a_blocklist_lookup_on_a_fresh_install_does_not_load_the_storage_layer(pdns: PowerDns, tmp_path: Path) -> None:
    """No stored state (the default SQLite file absent): the models and SQLAlchemy are not imported."""
    script = f"""
import asyncio, sys
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import open_app
from email_infrastructure.services.audit import BlocklistRequest, blocklist_lookup

async def main():
    async with open_app(Settings(data_dir={str(tmp_path / "data")!r})) as app:
        request = BlocklistRequest(targets=["127.0.0.2"], nameservers=["{pdns.address}:{pdns.dns_port}"], zones=["bl.test"])
        await blocklist_lookup(app, request)
asyncio.run(main())
print(sorted(m for m in ("sqlalchemy", "email_infrastructure.storage.models") if m in sys.modules))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]", done.stderr
    assert not (tmp_path / "data").exists()


def test_nothing_stored_only_for_an_absent_default_sqlite_file(tmp_path: Path) -> None:
    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import App
    from email_infrastructure.services.audit import nothing_stored

    assert nothing_stored(App(Settings(data_dir=tmp_path)))
    (tmp_path / "email-infra.db").write_bytes(b"")
    assert not nothing_stored(App(Settings(data_dir=tmp_path)))
    other = Settings(data_dir=tmp_path / "empty", database_url="postgresql://nobody@127.0.0.1/none")
    assert not nothing_stored(App(other))  # another database: App.has_state decides
