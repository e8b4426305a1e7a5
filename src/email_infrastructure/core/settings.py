"""Settings from EMAIL_INFRA_* variables, a .env file and config/environments/<env>.yaml."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from email_infrastructure.core.errors import ConfigError
from email_infrastructure.core.names import DEFAULT_WORKSPACE, WORKSPACE_NAME_PATTERN

Environment = Literal["development", "testing", "production"]

# Values people paste from examples; refusing them in production is cheaper than a leak.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changethis", "changeme", "change-me", "secret", "placeholder", "your-secret-key", "xxx"}
)


class _EnvironmentYamlSource(PydanticBaseSettingsSource):
    """Reads config/environments/<env>.yaml, chosen by EMAIL_INFRA_ENV."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
            except (OSError, YAMLError) as exc:
                raise ConfigError(f"{path}: cannot read settings: {exc}") from None
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: settings must be a mapping of keys to values")
            self._data = {str(k): v for k, v in loaded.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Return the YAML value of one field."""
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


def check_nameserver(text: str) -> tuple[str, int]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT` → (ip, port); ValueError in words a user can act on."""
    host, port_text = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port_text = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {text!r}: {host!r} is not an IP address (IP, IP:PORT or [IPv6]:PORT)") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"nameserver {text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def default_data_dir() -> Path:
    """Where state lives unless EMAIL_INFRA_DATA_DIR says: the user's data directory (XDG), the same
    whichever folder a command runs from."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "email-infra"


class Settings(BaseSettings):
    """Process-wide settings; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="EMAIL_INFRA_", env_file=".env", extra="ignore", populate_by_name=True)

    env: Environment = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: str = "INFO"
    #: the workspace commands act in when they name none (`--workspace`, an inventory's `workspace:`)
    workspace: str = Field(default=DEFAULT_WORKSPACE, pattern=WORKSPACE_NAME_PATTERN)
    config_dir: Path = Path("config")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("EMAIL_INFRA_DATABASE_URL", "DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("EMAIL_INFRA_REDIS_URL", "REDIS_URL"))
    #: every Redis key (queues, caches, limits, event streams) starts with it: several fleets share one Redis
    redis_prefix: str = "email-infra"
    #: how often a worker or scheduler tries Redis before it gives up (exit 2), and the first pause
    #: between tries (doubled each time, at most 30 s): 5 and 1 s give up after about 15 s
    redis_connect_attempts: int = Field(default=5, ge=1, le=1000)
    redis_retry_delay: float = Field(default=1.0, gt=0, le=60)
    #: seconds between a running worker's looks at Redis (an outage stops it after the tries above)
    redis_watch_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: seconds between sweeps of jobs whose worker stopped heart-beating (saq's default is 60)
    worker_sweep_seconds: int = 60
    #: share the audits' DNS answers between processes through Redis: worth it when the DNS server
    #: is remote (a query costs more than a Redis round trip), not when it answers on loopback
    shared_dns_cache: bool = True
    #: domains per monitoring job the scheduler enqueues (1: a job per domain and family)
    scheduler_batch: int = Field(default=50, ge=1, le=1000)
    secret_key: SecretStr | None = None
    #: DNS servers for audits and monitoring (IP[:PORT]); the inventory's, then the system's, otherwise
    nameservers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: DMARC reports (docs/dmarc.md): alert when a domain's DMARC pass rate falls below this share
    dmarc_pass_rate_threshold: float = Field(default=0.9, ge=0, le=1)
    #: days of records the alert looks at, and the fewest messages it judges a domain on
    dmarc_alert_window_days: int = Field(default=7, ge=1, le=366)
    dmarc_alert_min_messages: int = Field(default=20, ge=1)
    #: limits against oversized input and compression bombs
    dmarc_max_report_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    dmarc_max_ratio: int = Field(default=200, ge=2)
    dmarc_max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: a record's message count above this is absurd (the report is skipped)
    dmarc_max_count: int = Field(default=10_000_000, ge=1)
    #: store only the reports of the desired state's domains (and their subdomains); by default every
    #: report is kept and those of other domains are marked unmanaged in summaries
    dmarc_managed_only: bool = False

    #: REST API (`email-infra serve`): rate limits per key and route ("N/second|minute|hour|day")
    api_rate_limit_read: str = "60/minute"
    api_rate_limit_write: str = "10/minute"
    #: failed API-key attempts allowed per client address in a moving window; past it, 429 with
    #: Retry-After (a valid key is never counted)
    api_auth_failure_limit: str = "20/minute"
    #: the rate-limit counters' key prefix (in Redis when REDIS_URL is set, else in memory)
    api_rate_limit_prefix: str = "email-infra"
    #: origins allowed by CORS (a JSON list or comma-separated); empty: CORS closed
    api_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: the largest request body accepted, in bytes
    api_max_body_bytes: int = Field(default=1_048_576, ge=1)

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> Any:
        """A JSON list or a comma-separated string of origins."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_rate_limit_read", "api_rate_limit_write", "api_auth_failure_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        """`N/unit` as the `limits` library reads it (`60/minute`, `10 per hour`)."""
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit (write e.g. 60/minute)") from None
        return value

    @field_validator("nameservers", mode="before")
    @classmethod
    def _nameserver_list(cls, value: Any) -> Any:
        """A JSON list or a comma-separated string; each entry IP, IP:PORT or [IPv6]:PORT."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("write a JSON list of strings, or IP[:PORT] separated by commas") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                check_nameserver(str(item))
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order: arguments, environment, .env, the environment's YAML file, defaults."""
        env = os.environ.get("EMAIL_INFRA_ENV", "development")
        config_dir = Path(os.environ.get("EMAIL_INFRA_CONFIG_DIR", "config"))
        yaml_source = _EnvironmentYamlSource(settings_cls, config_dir / "environments" / f"{env}.yaml")
        return (init_settings, env_settings, dotenv_settings, yaml_source)

    @model_validator(mode="after")
    def _production_needs_a_real_key(self) -> Settings:
        if self.env == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if key.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "EMAIL_INFRA_SECRET_KEY must be set to a real key in production "
                    "(generate one with `email-infra vault generate-key`)"
                )
        return self

    @property
    def database_url_effective(self) -> str:
        """The SQLAlchemy async URL: DATABASE_URL, or a SQLite file in the data directory."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'email-infra.db').resolve()}"
        return normalise_database_url(self.database_url)


def normalise_database_url(url: str) -> str:
    """Map plain postgres/sqlite URLs to the async drivers we ship."""
    for prefix, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ConfigError(f"DATABASE_URL must start with postgresql:// or sqlite:/// (got scheme {url.split(':', 1)[0]!r})")


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """`env (EMAIL_INFRA_ENV)`: the key of the settings file and the variable that sets it."""
    name = ".".join(str(p) for p in loc)
    return f"{name} (EMAIL_INFRA_{name.upper()})" if name else "settings"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation problems into one clear ConfigError."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        raise ConfigError(f"invalid settings: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{_setting_name(err['loc'])}: {str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from None
