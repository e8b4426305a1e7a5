"""File modes do not depend on the umask: private data stays private, zone files are never world-writable."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from email_infrastructure.core.database import create_engine
from email_infrastructure.core.settings import Settings
from email_infrastructure.core.vault import Vault
from email_infrastructure.dns.config import ZonefileSettings
from email_infrastructure.dns.providers import ProviderContext
from email_infrastructure.dns.providers.zonefile import ZonefileProvider
from email_infrastructure.dns.records import Record
from email_infrastructure.storage.db import open_database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The worst umask: everything created is world-writable unless the code says otherwise."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
async def test_the_sqlite_database_and_its_directory_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    database = await open_database(settings)  # creates the data dir, the file, and migrates
    try:
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM sqlite_master"))
            data = settings.data_dir
            assert mode(data) == 0o700
            files = sorted(p.name for p in data.iterdir())
            assert "email-infra.db" in files
            assert {p for p in files if p.startswith("email-infra.db")} >= {"email-infra.db-wal", "email-infra.db-shm"}
            assert {name: mode(data / name) for name in files} == dict.fromkeys(files, 0o600)
    finally:
        await database.close()


@pytest.mark.usefixtures("open_umask")
async def test_a_database_in_nested_new_directories_is_private_at_every_new_level(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "app.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.commit()
    finally:
        await engine.dispose()
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(path)) == (0o700, 0o700, 0o600)


@pytest.mark.usefixtures("open_umask")
async def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    engine = create_engine(f"sqlite:///{shared / 'app.db'}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await engine.dispose()
    assert (mode(shared), mode(shared / "app.db")) == (0o750, 0o600)


@pytest.mark.usefixtures("open_umask")
def test_the_vault_key_and_its_directory_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
    Vault.from_settings(settings)
    assert mode(settings.data_dir) == 0o700
    assert mode(settings.data_dir / "secret.key") == 0o600


@pytest.mark.usefixtures("open_umask")
def test_zone_files_are_readable_but_never_writable_by_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    zonefile = ZonefileProvider("local", ZonefileSettings(), ProviderContext(data))
    zonefile.write("example.test", [Record.make("a.example.test", "A", ["192.0.2.1"])])
    assert mode(data) == 0o700  # the data directory also holds the database and the vault key
    assert mode(data / "zones") == 0o755
    assert mode(zonefile.path("example.test")) == 0o644
    zonefile.write("example.test", [Record.make("a.example.test", "A", ["192.0.2.2"])])  # the rewrite too
    assert mode(zonefile.path("example.test")) == 0o644
    assert sorted(p.name for p in (data / "zones").iterdir()) == ["example.test.zone"]


@pytest.mark.usefixtures("open_umask")
def test_zone_files_in_an_absolute_directory(tmp_path: Path) -> None:
    zones = tmp_path / "srv" / "zones"
    zonefile = ZonefileProvider("local", ZonefileSettings(directory=str(zones)), ProviderContext(tmp_path / "data"))
    zonefile.write("example.test", [])
    assert (mode(tmp_path / "srv"), mode(zones), mode(zonefile.path("example.test"))) == (0o755, 0o755, 0o644)
    assert not (tmp_path / "data").exists()
