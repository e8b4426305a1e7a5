"""Settings: environment variables over the environment's YAML file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import ConfigError
from email_infrastructure.core.settings import load_settings, normalise_database_url


def test_environment_yaml_is_read_and_variables_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config" / "environments"
    config.mkdir(parents=True)
    (config / "testing.yaml").write_text("log_level: DEBUG\ndata_dir: /srv/email-infra\n")
    monkeypatch.setenv("EMAIL_INFRA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("EMAIL_INFRA_ENV", "testing")
    settings = load_settings(_env_file=None)
    assert (settings.env, settings.log_level, settings.data_dir) == ("testing", "DEBUG", Path("/srv/email-infra"))
    monkeypatch.setenv("EMAIL_INFRA_LOG_LEVEL", "ERROR")
    assert load_settings(_env_file=None).log_level == "ERROR"


def test_database_url_aliases_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_INFRA_DATA_DIR", str(tmp_path))
    assert load_settings(_env_file=None).database_url_effective == f"sqlite+aiosqlite:///{tmp_path / 'email-infra.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db")
    assert load_settings(_env_file=None).database_url_effective == "postgresql+asyncpg://u@127.0.0.1/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ConfigError, match="DATABASE_URL must start with"):
        normalise_database_url("mysql://u@h/db")


def test_bad_yaml_settings_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "development.yaml").write_text("- not a mapping\n")
    monkeypatch.setenv("EMAIL_INFRA_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="settings must be a mapping"):
        load_settings(_env_file=None)
    monkeypatch.setenv("EMAIL_INFRA_ENV", "staging")
    with pytest.raises(ConfigError, match="invalid settings: env"):
        load_settings(_env_file=None)
