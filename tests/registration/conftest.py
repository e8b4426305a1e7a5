"""Registration checks (issue 26): the loopback RDAP registry and the parent DNS (lead: wire into tests/registrars)."""

from tests.fixtures.parent_dns import parent_dns  # noqa: F401
from tests.fixtures.rdap_fixtures import rdap, rdap_tls  # noqa: F401
