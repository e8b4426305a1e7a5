"""Mail backends, registered by the `type` used in the inventory (like dns.providers)."""

from __future__ import annotations

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.mailcow.backend import MailBackend
from email_infrastructure.mailcow.config import MailcowSettings
from email_infrastructure.mailcow.mailcow_backend import MailcowBackend


def build_backend(name: str, spec: ProviderSpec, *, api_key: str | None = None) -> MailBackend:
    """Instantiate the mail provider declared under `name` (`api_key`: the vault's, when it declares none)."""
    if spec.type == "mailcow":
        return MailcowBackend(name, MailcowSettings.model_validate(spec.settings), api_key=api_key)
    raise UserError(f"mail provider {name}: unknown type {spec.type!r} (known: mailcow)")
