"""The VPS component."""

from __future__ import annotations

from email_infrastructure.core.component import CredentialsOnlyComponent


class VpsComponent(CredentialsOnlyComponent):
    """Servers at VPS providers and their reverse DNS."""

    name = "vps"
    kind = "vps"
