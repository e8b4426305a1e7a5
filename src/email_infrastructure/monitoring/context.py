"""What a check gets: the target it looks at, and the shared resolver and options."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from publicsuffixlist import PublicSuffixList

from email_infrastructure.dns.records import Record
from email_infrastructure.monitoring.resolver import Resolver

if TYPE_CHECKING:
    from email_infrastructure.monitoring.checks.delegation import DelegationOptions
    from email_infrastructure.registrars.rdap import RdapClient

COMMON_SELECTORS = (
    "dkim",
    "default",
    "mail",
    "selector1",
    "selector2",
    "google",
    "k1",
    "s1",
    "s2",
    "smtp",
    "dkim1",
    "key1",
    "mx",
)


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # parsing the list takes ~30 ms: only when first needed


def organizational_domain(name: str) -> str:
    """The registrable domain of a name (Public Suffix List); the name itself if unknown."""
    return _psl().privatesuffix(name.lower().rstrip(".")) or name.lower().rstrip(".")


@dataclass
class DomainTarget:
    """A domain to audit, with what the inventory expects of it (when audited with -f)."""

    name: str
    selectors: list[str] = field(default_factory=lambda: list(COMMON_SELECTORS))
    selectors_declared: bool = False
    sending_ips: list[str] | None = None
    mail_host: str | None = None
    expected_dkim: dict[str, str] = field(default_factory=dict)
    desired: list[Record] | None = None
    mta_sts_expected: bool = False
    tracking_hosts: list[str] = field(default_factory=list)


@dataclass
class AuditOptions:
    """Knobs of an audit run."""

    https_port: int = 443
    smtp_ports: tuple[int, ...] = (25, 587)
    tls_ports: tuple[int, ...] = (465, 993)
    ca_file: Path | None = None
    connect_timeout: float = 5.0
    #: bound on one SPF record's walk (below the audit's per-domain deadline, so SPF says why)
    spf_timeout: float = 20.0


@dataclass
class DomainProbe:
    """What the opt-in `registration` and `delegation` audit checks reach out with (services/audit.py makes it)."""

    rdap: RdapClient
    delegation: DelegationOptions
    min_age_days: int = 30


@dataclass
class AuditContext:
    """Shared by every check of a run."""

    resolver: Resolver
    options: AuditOptions = field(default_factory=AuditOptions)
    #: set when the run asks for `registration`/`expiry`/`delegation` (RDAP and the parent's servers)
    probe: DomainProbe | None = None
