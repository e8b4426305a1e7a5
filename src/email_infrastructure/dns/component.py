"""The DNS component."""

from __future__ import annotations

from email_infrastructure.core.component import CredentialsOnlyComponent


class DnsComponent(CredentialsOnlyComponent):
    """Records of sending domains at DNS providers."""

    name = "dns"
    kind = "dns"
