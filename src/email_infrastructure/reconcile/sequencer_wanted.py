"""Which accounts the desired state asks of each sequencer: a mailbox at a sequencer, with its settings.

A domain's `sequencers:` (or the defaults') apply to each of its mailboxes; a mailbox's own list,
where a file gave one, replaces it (`[]`: none). Read by the push step, the views and the health
family alike; here, not in `sequencers/`, because it joins three components' views of a domain
(its personas, its tracking host, a sequencer's settings) and a component imports no other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from email_infrastructure.core.inventory import Inventory, ResolvedDomain
from email_infrastructure.core.inventory.schema import SequencerUseSpec
from email_infrastructure.dns.desired import tracking_host
from email_infrastructure.mailcow.naming import Persona, personas
from email_infrastructure.sequencers.provider import AccountSettings


def wanted_settings(domain: ResolvedDomain, use: SequencerUseSpec) -> AccountSettings:
    """The settings an account of `domain` should have at `use`'s sequencer (the domain's defaults filled in)."""
    return AccountSettings(
        daily_limit=use.daily_limit or domain.daily_send_limit,
        warmup=use.warmup,
        warmup_per_day=use.warmup_per_day,
        ramp_up=use.ramp_up,
        reply_rate=use.reply_rate,
        tracking_domain=use.tracking_domain or tracking_host(domain) or None,
        signature=use.signature,
        sending_gap=use.sending_gap,
        tags=tuple(use.tags),
    )


@dataclass(frozen=True)
class Wanted:
    """One account the desired state asks for: a mailbox at a sequencer, with its settings."""

    address: str
    domain: str
    sequencer: str
    settings: AccountSettings
    person: Persona | None = None


def domain_accounts(domain: ResolvedDomain) -> list[Wanted]:
    """Every (mailbox, sequencer) pair of one domain, in mailbox order."""
    own = {m.address_local_part: m.sequencers for m in domain.mailboxes}
    out: list[Wanted] = []
    for person in personas(domain):
        uses = own.get(person.local_part)
        for use in domain.sequencers if uses is None else uses:
            address = person.address(domain.name)
            out.append(Wanted(address, domain.name, use.name, wanted_settings(domain, use), person))
    return out


def wanted_accounts(inventory: Inventory, domains: Sequence[str] = ()) -> list[Wanted]:
    """Every (mailbox, sequencer) pair of the desired state (of `domains` when given), in domain order."""
    return [
        wanted
        for domain in inventory.resolved_domains()
        if not domains or domain.name in domains
        for wanted in domain_accounts(domain)
    ]
