"""Monitoring fixtures: the defect zones loaded into the session's real PowerDNS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.resolver import Resolver
from tests.fixtures.pdns import PowerDns


@pytest.fixture
async def ctx(audit_dns: PowerDns) -> AsyncIterator[AuditContext]:
    resolver = Resolver([(audit_dns.address, audit_dns.dns_port)], timeout=2.0)
    yield AuditContext(resolver)
    await resolver.close()
