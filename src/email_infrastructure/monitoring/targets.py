"""Audit targets: any domain (like checkdmarc), or an inventory's domains with what they should be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from email_infrastructure.monitoring.context import COMMON_SELECTORS, DomainTarget

if TYPE_CHECKING:
    # the inventory's schema and the desired zones: imported for inventory audits only (start-up)
    from email_infrastructure.core.inventory import Inventory
    from email_infrastructure.dns.desired import DesiredZone


def plain_target(domain: str, selectors: list[str] | None) -> DomainTarget:
    """A domain we know nothing about: common selectors unless given, IPs found from MX and SPF."""
    if selectors:
        return DomainTarget(domain, selectors=list(selectors), selectors_declared=True)
    return DomainTarget(domain, selectors=list(COMMON_SELECTORS))


def inventory_targets(
    inventory: Inventory, zones: Mapping[str, DesiredZone], dkim_keys: Mapping[str, str | None]
) -> list[DomainTarget]:
    """One target per inventory domain: its selector, server IPs, mail host, key and records."""
    from email_infrastructure.dns.desired import TRACKING_PLATFORMS

    targets = []
    for domain in inventory.resolved_domains():
        tracking: list[str] = []
        if domain.tracking is not None:
            host = domain.tracking.host or TRACKING_PLATFORMS.get(domain.tracking.platform or "", ("", ""))[0]
            if host:
                tracking.append(f"{host}.{domain.name}")
        key = dkim_keys.get(domain.name)
        zone = zones.get(domain.name)
        targets.append(
            DomainTarget(
                name=domain.name,
                selectors=[domain.dkim_selector],
                selectors_declared=True,
                sending_ips=domain.server.ips if domain.server else [],
                mail_host=domain.server.hostname if domain.server else None,
                expected_dkim={domain.dkim_selector: key} if key else {},
                desired=list(zone.records) if zone is not None and zone.error is None else None,
                mta_sts_expected=domain.mta_sts.enabled,
                tracking_hosts=tracking,
            )
        )
    return targets
