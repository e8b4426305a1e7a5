"""The receiving side's verdicts on one message (delivery/verdicts.py), asked of the project's DNS:
its resolver, the audit's SPF walker (monitoring/checks/spf.py) and its Public Suffix List."""

from __future__ import annotations

from collections.abc import Sequence

from email_infrastructure.delivery.verdicts import (
    Address,
    AuthStatus,
    SpfWalk,
    TxtAnswer,
    Verdict,
    Verification,
    dkimpy,
)
from email_infrastructure.delivery.verdicts import verify_message as _verify
from email_infrastructure.monitoring.checks.spf import expand_record, spf_records, verdict
from email_infrastructure.monitoring.context import organizational_domain
from email_infrastructure.monitoring.resolver import Resolver

__all__ = ["AuthStatus", "ResolverDns", "Verdict", "Verification", "dkimpy", "verify_message"]

SPF_TIMEOUT = 10.0


class ResolverDns:
    """The verifier's DNS (delivery.verdicts.VerifierDns) over the project's resolver."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    async def txt(self, name: str) -> TxtAnswer:
        """The TXT records at `name`; the status when the server did not answer."""
        answer = await self.resolver.query(name, "TXT")
        if answer.status.unknown:
            return TxtAnswer(error=answer.status.value)
        return TxtAnswer(answer.texts() if answer.found else [])

    def spf_records(self, texts: list[str]) -> list[str]:
        """The SPF records among `texts`, as the audit reads them."""
        return spf_records(texts)

    async def walk_spf(self, domain: str, record: str, ip: Address) -> SpfWalk:
        """The audit's SPF walker on `record`, then the first term matching `ip`."""
        expansion = await expand_record(self.resolver, domain, record, SPF_TIMEOUT)
        if expansion.stopped:
            return SpfWalk(stopped="; ".join(m for _, _, m in expansion.problems))
        qualifier, why = verdict(expansion.steps, ip)
        return SpfWalk(qualifier, why)

    def organizational_domain(self, name: str) -> str:
        """The registrable domain (Public Suffix List)."""
        return organizational_domain(name)


async def verify_message(raw: bytes, *, ip: str, mail_from: str, helo: str, resolver: Resolver) -> Verification:
    """SPF, DKIM and DMARC of a message as received from `ip` with this envelope and HELO."""
    return await _verify(raw, ip=ip, mail_from=mail_from, helo=helo, dns=ResolverDns(resolver))


async def verify_received(
    raw: bytes, *, ip: str, mail_from: str, helo: str, nameservers: Sequence[str] = ()
) -> Verification:
    """`verify_message` asking these DNS servers (`IP[:PORT]`; none: the system's resolvers)."""
    resolver = Resolver.from_strings(list(nameservers))
    try:
        return await verify_message(raw, ip=ip, mail_from=mail_from, helo=helo, resolver=resolver)
    finally:
        await resolver.close()
