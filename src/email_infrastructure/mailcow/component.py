"""The Mailcow component."""

from __future__ import annotations

from email_infrastructure.core.component import CredentialsOnlyComponent, Health, HealthStatus
from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.mailcow.registry import build_backend


class MailcowComponent(CredentialsOnlyComponent):
    """Mail domains, mailboxes and DKIM keys on Mailcow servers."""

    name = "mailcow"
    kind = "mail"

    async def health_check(self) -> Health:
        """Each mail provider's `status/version` and `status/containers`; the worst one wins."""
        configured = await super().health_check()
        inventory = self.context.inventory
        if configured.status in (HealthStatus.UNCONFIGURED, HealthStatus.DOWN) or inventory is None:
            return configured
        results: dict[str, Health] = {}
        for name, spec in inventory.providers.mail.items():
            try:
                backend = build_backend(name, spec)
            except EmailInfraError as exc:
                results[name] = Health(HealthStatus.DOWN, str(exc))
                continue
            try:
                results[name] = await backend.health()
            finally:
                await backend.close()
        order = [HealthStatus.DOWN, HealthStatus.DEGRADED, HealthStatus.OK]
        worst = next(s for s in order if s in {h.status for h in results.values()} or s is HealthStatus.OK)
        detail = "; ".join(f"{n}: {h.detail}" for n, h in results.items())
        return Health(worst, detail, {n: h.status.value for n, h in results.items()})
