"""Sequencer providers, registered by the `type` used in the inventory (like vps.registry)."""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.sequencers.emailbison import EmailBisonProvider
from email_infrastructure.sequencers.instantly import InstantlyProvider
from email_infrastructure.sequencers.provider import SequencerProvider
from email_infrastructure.sequencers.reachinbox import ReachInboxProvider
from email_infrastructure.sequencers.smartlead import SmartleadProvider

PROVIDERS: dict[
    str, type[InstantlyProvider] | type[SmartleadProvider] | type[EmailBisonProvider] | type[ReachInboxProvider]
] = {
    "instantly": InstantlyProvider,
    "smartlead": SmartleadProvider,
    "emailbison": EmailBisonProvider,
    "reachinbox": ReachInboxProvider,
}


def build_sequencer(name: str, type_: str, token: str, **options: Any) -> SequencerProvider:
    """Instantiate the sequencer `name` of `type_` with its (already resolved) token and options."""
    cls = PROVIDERS.get(type_)
    if cls is None:
        raise UserError(f"sequencer {name}: unknown type {type_!r} (known: {', '.join(sorted(PROVIDERS))})")
    try:
        provider: SequencerProvider = cls(token, name=name, **options)
    except TypeError as exc:
        raise UserError(f"sequencer {name}: bad option for {type_}: {exc}") from None
    return provider


def from_spec(name: str, spec: ProviderSpec) -> SequencerProvider:
    """The provider of `providers.sequencers.<name>`, its token resolved from the environment."""
    settings = dict(spec.settings)
    token = resolve_secret(str(settings.pop("token")))
    settings.pop("rate_limit", None)  # the providers keep their vendors' documented limits
    return build_sequencer(name, spec.type, token, **settings)
