"""Findings and check results: stable dotted ids, severities, evidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: one-line fix per finding id (docs/audit-format.md lists them); `<check>.internal_error` and
#: `<check>.deadline` exist for every check. A command in a hint is written in backticks and must be
#: a real one (tests/cli/test_hints.py parses each against the CLI)
HINTS = {
    "mailbox.login_failed": "the password in the vault and the server's differ, or AUTH/STARTTLS is off: "
    "check the mailbox on the server (apply sets the password it creates)",
    "mailbox.unreachable": "the mail host or port does not answer from here: a firewall, DNS of the host, "
    "or the server is down",
    "sequencer.disconnected": "the platform cannot log in to the mailbox: check the login with "
    "`email-infra mailbox check`, then reconnect the account in the platform",
    "sequencer.missing": "the account is not on the platform: push it with `email-infra sequencer sync` "
    "(ReachInbox: import the CSV of `email-infra export --format reachinbox`)",
    "sequencer.paused": "resume the account in the platform, unless the pause was meant",
    "sequencer.warmup": "look at the warmup in the platform: a banned or blocked warmup or a low score "
    "means slower, riskier sending until it recovers",
    "sequencer.unreachable": "check the sequencer's token (env:NAME) and that its API answers: "
    "`email-infra sequencer list`",
    "sequencer.unknown": "the platform does not report this account's connection: look at it in the platform",
    "spf.missing": "publish one TXT record 'v=spf1 ip4:<sending IP> -all' at the domain",
    "spf.multiple_records": "merge the SPF records into one TXT record",
    "spf.syntax": "fix the term as RFC 7208 §4.6.1 spells it (the message names it)",
    "spf.too_many_lookups": "flatten includes into ip4:/ip6: or drop unused ones: at most 10 lookups",
    "spf.void_lookups": "remove a:/mx:/include: names that do not exist (at most 2)",
    "spf.loop": "break the include/redirect cycle",
    "spf.include_missing": "fix or remove the include/redirect: its target publishes no SPF record",
    "spf.plus_all": "end the record with -all (or ~all while testing)",
    "spf.neutral_all": "end the record with -all (or ~all while testing)",
    "spf.no_all": "end the record with -all",
    "spf.ptr": "replace ptr with ip4:/ip6: or a: terms",
    "spf.too_long": "shorten the record (ip4 ranges, fewer includes) below 450 bytes",
    "spf.too_many_mx": "use a:/ip4: instead of mx, or publish at most 10 MX records",
    "spf.redirect_ignored": "remove redirect= or the all mechanism: with all, redirect= never applies",
    "spf.ip_not_covered": "add ip4:/ip6: for the sending IP (or the include that covers it)",
    "spf.not_static": "nothing to fix if the macros are intended; check with a real sender",
    "spf.timeout": "check the nameservers of the included domains: they answer too slowly",
    "spf.unknown": "check the domain's nameservers (the TXT query failed); re-run later",
    "spf.lookup_unknown": "check the nameservers of the included names; re-run later",
    "dkim.missing": "publish the key TXT at <selector>._domainkey (or pass --selector)",
    "dkim.multiple_records": "keep one key record per selector",
    "dkim.invalid": "republish the key record as 'v=DKIM1; k=rsa; p=<base64 key>'",
    "dkim.invalid_key": "republish p= with the mail server's base64 public key",
    "dkim.revoked": "publish the current key, or remove the selector from the inventory",
    "dkim.weak_key": "rotate to a 2048-bit RSA key",
    "dkim.weak_hash": "allow sha256 in h= (or drop h=)",
    "dkim.testing": "remove t=y once signing works",
    "dkim.key_mismatch": "republish the key the mail server signs with (`email-infra apply DOMAIN`)",
    "dkim.unknown": "check the domain's nameservers; re-run later",
    "dmarc.missing": "publish '_dmarc TXT v=DMARC1; p=none; rua=mailto:…' and tighten later",
    "dmarc.multiple_records": "keep one DMARC record at _dmarc",
    "dmarc.syntax": "write every tag as name=value, separated by ';' (the message names the part)",
    "dmarc.invalid_tag": "fix the tag value (RFC 9989 lists the values)",
    "dmarc.duplicate_tag": "give each tag once",
    "dmarc.unknown_tag": "remove the tag (receivers ignore it)",
    "dmarc.obsolete_tag": "remove pct=/rf=/ri= and the !size suffix (RFC 9989 dropped them)",
    "dmarc.missing_policy": "add p=none|quarantine|reject right after v=DMARC1",
    "dmarc.tag_order": "move p= right after v=DMARC1 (RFC 7489 receivers require it)",
    "dmarc.policy_none": "move to p=quarantine, then p=reject, once reports are clean",
    "dmarc.partial": "remove pct= (apply the policy to all mail)",
    "dmarc.strict_alignment": "use adkim=r/aspf=r unless every sender signs with this exact domain",
    "dmarc.testing": "remove t=y",
    "dmarc.no_rua": "add rua=mailto:<report mailbox>",
    "dmarc.inherited": "publish _dmarc at this name if it needs its own policy",
    "dmarc.unauthorized_destination": "publish '<domain>._report._dmarc.<destination> TXT v=DMARC1'",
    "dmarc.report_domain_no_mx": "use a report mailbox whose domain accepts mail",
    "dmarc.unknown": "check the domain's nameservers; re-run later",
    "mx.missing": "publish an MX record (or a null MX '0 .' if the domain takes no mail)",
    "mx.null": "publish a real MX if replies should arrive",
    "mx.null_mixed": "remove the null MX or the other MX records",
    "mx.cname": "point the MX at the host name itself, not a CNAME",
    "mx.unresolvable": "give the MX host an A/AAAA record",
    "mx.mismatch": "point the MX at the mail server (`email-infra apply DOMAIN`)",
    "mx.unknown": "check the domain's nameservers; re-run later",
    "mta_sts.missing": "publish _mta-sts TXT 'v=STSv1; id=…' and the policy",
    "mta_sts.multiple_records": "keep one _mta-sts record",
    "mta_sts.invalid_id": "use an id of 1-32 letters and digits",
    "mta_sts.policy_unreachable": "serve https://mta-sts.<domain>/.well-known/mta-sts.txt",
    "mta_sts.certificate": "give mta-sts.<domain> a valid certificate",
    "mta_sts.policy_invalid": "fix the policy file (version, mode, mx, max_age)",
    "mta_sts.mode_testing": "switch to mode: enforce once TLS reports are clean",
    "mta_sts.mode_none": "switch to mode: testing or enforce",
    "mta_sts.mx_mismatch": "list every MX host in the policy's mx: lines",
    "tls_rpt.missing": "publish _smtp._tls TXT 'v=TLSRPTv1; rua=mailto:…'",
    "tls_rpt.multiple_records": "keep one _smtp._tls record",
    "tls_rpt.invalid": "start the record with 'v=TLSRPTv1;' and use mailto:/https: URIs",
    "bimi.missing": "optional: publish default._bimi TXT 'v=BIMI1; l=<https SVG>'",
    "bimi.invalid": "fix the BIMI record (v=BIMI1; l=https://…svg)",
    "bimi.declined": "nothing to do unless you want BIMI",
    "ptr.missing": "ask the hosting provider to set the IP's reverse DNS to the mail host",
    "ptr.mismatch": "give the PTR name an A/AAAA record with this IP",
    "ptr.wrong_host": "set the PTR to the mail server's host name",
    "ptr.unknown": "check the reverse zone's nameservers; re-run later",
    "dnsbl.listed": "find the cause (the list's lookup page), fix it, request delisting",
    "dnsbl.policy": "send through a relay or an IP the provider marks static",
    "dnsbl.unknown": "query through your own resolver (or Spamhaus DQS), not a public one",
    "tls.expired": "renew the certificate",
    "tls.expiring": "renew the certificate (check the ACME timer)",
    "tls.not_yet_valid": "check the server clock and the certificate dates",
    "tls.name_mismatch": "issue a certificate for the mail host name",
    "tls.untrusted": "serve the full chain from a public CA",
    "tls.unreachable": "open the port in the firewall, or start the service",
    "drift.missing": "publish the desired records: `email-infra plan DOMAIN`, then `email-infra apply DOMAIN`",
    "drift.changed": "`email-infra plan DOMAIN`, then `email-infra apply DOMAIN` (or update the inventory)",
    "drift.extra_spf": "delete the extra SPF record",
    "drift.unknown": "check the domain's nameservers; re-run later",
    "registration.suspended": "ask the registrar why (unverified registrant email, abuse report, unpaid): "
    "`email-infra domain whois DOMAIN` shows the status",
    "registration.deleting": "restore or renew at the registrar now: the name is about to be released",
    "registration.status": "check the domain at the registrar (renewal, transfer or delegation)",
    "registration.age": "nothing to do: the domain's age beside the recommended minimum",
    "registration.registrar": "nothing to do: the registrar the registry names",
    "registration.young": "warm up only: cold sending waits until the domain reaches the minimum age",
    "registration.not_found": "check the name's spelling, or register it (the registry does not know it)",
    "registration.unknown": "the registry's RDAP did not answer usefully; re-run later "
    "(EMAIL_INFRA_RDAP_BOOTSTRAP overrides the bootstrap source)",
    "expiry.date": "nothing to do: the expiry date (and whether it auto-renews)",
    "expiry.expired": "renew at the registrar now (after the grace period a restore costs more)",
    "expiry.urgent": "renew now, or turn auto-renew on at the registrar and declare `register: {auto_renew: true}`",
    "expiry.soon": "renew, or turn auto-renew on at the registrar and declare `register: {auto_renew: true}`",
    "expiry.approaching": "renew, or turn auto-renew on at the registrar",
    "expiry.renewal_due": "check the registrar's balance or card: auto-renew has not run yet",
    "expiry.no_date": "read the expiry at the registrar",
    "expiry.not_found": "check the name's spelling, or register it (the registry does not know it)",
    "expiry.unknown": "the registry's RDAP did not answer usefully; re-run later",
    "delegation.ok": "nothing to do: the parent delegates to the desired nameservers",
    "delegation.no_desired": "declare the DNS provider's nameservers (or its zone) so the delegation can be compared",
    "delegation.missing": "register the domain, lift the hold, or renew it (`email-infra domain whois DOMAIN`)",
    "delegation.mismatch": "set the domain's nameservers at the registrar to the DNS provider's",
    "delegation.pending": "nothing to do: wait until the parent's TTL has passed",
    "delegation.inconsistent": "wait a few minutes: the registry is publishing the change",
    "delegation.suspended": "verify the registrant's email address at the registrar, then re-check",
    "delegation.lame": "serve the zone on that nameserver (apply), or remove it from the delegation",
    "delegation.unknown": "check the resolver and the network to the TLD's servers; re-run later",
    "compliance.gmail": "fix the failing rules named in the message (if not determined: the unknown checks first)",
    "compliance.yahoo": "fix the failing rules named in the message (if not determined: the unknown checks first)",
    "compliance.microsoft": "fix the failing rules named in the message (if not determined: the unknown checks first)",
}
_GENERIC_HINTS = {
    "internal_error": "a bug or an unforeseen answer: report it with the evidence",
    "deadline": "check the domain's nameservers (too slow), or raise the audit deadline",
    "resolver_silent": "check the resolver (--nameserver, monitoring.nameservers or EMAIL_INFRA_NAMESERVERS) "
    "and the network to it",
}


def hint(id: str) -> str:
    """The one-line fix for a finding id ('' if none is known)."""
    return HINTS.get(id) or _GENERIC_HINTS.get(id.rpartition(".")[2], "")


class Severity(StrEnum):
    """How bad one finding is."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class CheckStatus(StrEnum):
    """The outcome of a check (or of a domain, the worst of its checks)."""

    OK = "ok"
    WARNING = "warning"
    UNKNOWN = "unknown"
    ERROR = "error"


_RANK = {CheckStatus.OK: 0, CheckStatus.WARNING: 1, CheckStatus.UNKNOWN: 2, CheckStatus.ERROR: 3}


def worst(statuses: Iterable[CheckStatus]) -> CheckStatus:
    """error > unknown > warning > ok."""
    return max(statuses, key=_RANK.__getitem__, default=CheckStatus.OK)


@dataclass(frozen=True)
class Finding:
    """One observation: `spf.too_many_lookups`, its severity, a sentence and the records seen."""

    id: str
    severity: Severity
    message: str
    evidence: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        """The one-line fix for this finding's id."""
        return hint(self.id)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity.value,
            "message": self.message,
        }
        if self.hint:
            data["hint"] = self.hint
        if self.evidence:
            data["evidence"] = list(self.evidence)
        return data


@dataclass
class CheckResult:
    """What one check found about one subject."""

    check: str
    findings: list[Finding] = field(default_factory=list)
    unknown: bool = False
    #: the state's one line when nothing is wrong (else its worst finding is): a domain's age, its expiry
    summary: str | None = None
    #: a failing state whose worst error changes id alerts again (an expiry 30, then 14, then 7 days away)
    escalates: bool = False

    def add(self, id: str, severity: Severity, message: str, evidence: Iterable[str] = ()) -> None:
        """Record a finding."""
        self.findings.append(Finding(id, severity, message, tuple(evidence)))

    def error(self, id: str, message: str, evidence: Iterable[str] = ()) -> None:
        """Record an error."""
        self.add(id, Severity.ERROR, message, evidence)

    def warn(self, id: str, message: str, evidence: Iterable[str] = ()) -> None:
        """Record a warning."""
        self.add(id, Severity.WARNING, message, evidence)

    def info(self, id: str, message: str, evidence: Iterable[str] = ()) -> None:
        """Record an informational finding."""
        self.add(id, Severity.INFO, message, evidence)

    def cannot_tell(self, id: str, message: str) -> None:
        """The DNS did not answer: the result is unknown, never 'missing'."""
        self.unknown = True
        self.add(id, Severity.INFO, message)

    @property
    def status(self) -> CheckStatus:
        """error if any error; else unknown if undetermined; else warning if any; else ok."""
        severities = {f.severity for f in self.findings}
        if Severity.ERROR in severities:
            return CheckStatus.ERROR
        if self.unknown:
            return CheckStatus.UNKNOWN
        if Severity.WARNING in severities:
            return CheckStatus.WARNING
        return CheckStatus.OK

    def ids(self) -> set[str]:
        """Ids of every finding."""
        return {f.id for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {"status": self.status.value, "findings": [f.to_json() for f in self.findings]}
        if self.escalates:
            data["escalates"] = True
        return data
