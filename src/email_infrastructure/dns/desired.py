"""What records each sending domain needs, computed from the inventory and the DKIM keys."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from email_infrastructure.core.inventory import Inventory, ResolvedDomain
from email_infrastructure.dns.dkim import dkim_txt
from email_infrastructure.dns.records import Record, RecordError, check_conflicts

#: platform → (host label, CNAME target); see README "Tracking domains"
TRACKING_PLATFORMS: dict[str, tuple[str, str]] = {
    "instantly": ("inst", "prox.itrackly.com"),
    "smartlead": ("emailtracking", "open.sleadtrack.com"),
}
SPF_LOOKUP_LIMIT = 10
#: note on the apex/www records that exist for the redirect (a proxying provider proxies them)
REDIRECT = "redirect"


@dataclass
class DesiredZone:
    """The records one zone should hold, with notes for the plan."""

    zone: str
    provider: str
    purge: bool
    records: list[Record] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: where apex and www should redirect (the records for the redirect host are in `records`)
    redirect: str | None = None
    #: the host those records point at
    redirect_host: str | None = None


def tracking_host(domain: ResolvedDomain) -> str:
    """The tracking CNAME's host name of `domain` (empty when it has none)."""
    spec = domain.tracking
    if spec is None:
        return ""
    host = spec.host or TRACKING_PLATFORMS.get(spec.platform or "", ("", ""))[0]
    return f"{host}.{domain.name}" if host else ""


def spf_value(domain: ResolvedDomain) -> tuple[str, int]:
    """The SPF record and its DNS-lookup count (ip4/ip6 cost none; each include costs one)."""
    terms = ["v=spf1"]
    if domain.server is not None:
        terms += [f"ip4:{domain.server.ipv4}"] if domain.server.ipv4 else []
        terms += [f"ip6:{domain.server.ipv6}"] if domain.server.ipv6 else []
    terms += [f"include:{inc}" for inc in domain.spf_includes]
    terms.append(domain.spf_all)
    return " ".join(terms), len(domain.spf_includes)


def dmarc_value(domain: ResolvedDomain) -> str:
    """The DMARC record: only tags that differ from their defaults (RFC 7489 / RFC 9989)."""
    d = domain.dmarc
    tags = ["v=DMARC1", f"p={d.policy}"]
    if d.subdomain_policy and d.subdomain_policy != d.policy:
        tags.append(f"sp={d.subdomain_policy}")
    if d.adkim != "r":
        tags.append(f"adkim={d.adkim}")
    if d.aspf != "r":
        tags.append(f"aspf={d.aspf}")
    if d.rua:
        tags.append("rua=" + ",".join(d.rua))
    if d.ruf:
        tags.append("ruf=" + ",".join(d.ruf))
    if d.testing:
        tags.append("t=y")
    return "; ".join(tags)


def mta_sts_policy(domain: ResolvedDomain) -> str:
    """The policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    mx = domain.server.hostname if domain.server else ""
    lines = ["version: STSv1", f"mode: {domain.mta_sts.mode}"]
    lines += [f"mx: {mx}"] if mx else []
    lines.append(f"max_age: {domain.mta_sts.max_age}")
    return "\r\n".join(lines) + "\r\n"


def mta_sts_id(policy: str) -> str:
    """An id that changes exactly when the policy text changes (RFC 8461 §3.1)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def report_domains(domain: ResolvedDomain) -> set[str]:
    """Domains of the rua/ruf mailboxes other than the domain itself."""
    addresses = [*domain.dmarc.rua, *domain.dmarc.ruf]
    domains = {a.rsplit("@", 1)[1].lower().rstrip(".") for a in addresses}
    return {d for d in domains if d != domain.name}


def domain_records(domain: ResolvedDomain, dkim_public_key: str | None) -> tuple[list[Record], list[str]]:
    """Records that live in the domain's own zone or below it, and notes for the plan."""
    name, ttl, server = domain.name, domain.ttl, domain.server
    records: list[Record] = []
    notes: list[str] = []

    def add(host: str, rtype: str, *values: str, note: str = "") -> None:
        fq = name if host == "@" else f"{host}.{name}"
        try:
            records.append(Record.make(fq, rtype, values, ttl, note))
        except RecordError as exc:
            raise RecordError(f"{name}: {exc}") from None

    if server is not None:
        add("@", "MX", f"10 {server.hostname}")
        add("autodiscover", "CNAME", server.hostname)
        add("autoconfig", "CNAME", server.hostname)
        add("_autodiscover._tcp", "SRV", f"0 1 443 {server.hostname}")
    else:
        notes.append("no mail server: MX and autoconfiguration records are not published")

    spf, lookups = spf_value(domain)
    if lookups > SPF_LOOKUP_LIMIT:
        raise RecordError(
            f"{name}: SPF needs {lookups} DNS lookups through its includes; the limit is "
            f"{SPF_LOOKUP_LIMIT} (RFC 7208 §4.6.4)"
        )
    add("@", "TXT", spf)

    if dkim_public_key is not None:
        records.append(dkim_record(domain, dkim_public_key))
    add("_dmarc", "TXT", dmarc_value(domain))

    if domain.mta_sts.enabled:
        if server is None:
            raise RecordError(f"{name}: MTA-STS needs a mail server (mx) to name in its policy")
        add("_mta-sts", "TXT", f"v=STSv1; id={mta_sts_id(mta_sts_policy(domain))}")
        add("mta-sts", "CNAME", server.hostname)
        notes.append(f"MTA-STS: the mail host must serve the policy at https://mta-sts.{name}/.well-known/mta-sts.txt")
    if domain.tls_rpt:
        add("_smtp._tls", "TXT", "v=TLSRPTv1; rua=" + ",".join(domain.tls_rpt))

    if domain.tracking is not None:
        host, target = _tracking(domain)
        add(host, "CNAME", target, note="tracking: never proxied")

    if domain.redirect:
        if server is None or not server.ips:
            notes.append(f"redirect to {domain.redirect}: no server address for the redirect host; skipped")
        else:
            if server.ipv4:
                add("@", "A", str(server.ipv4), note=REDIRECT)
            if server.ipv6:
                add("@", "AAAA", str(server.ipv6), note=REDIRECT)
            add("www", "CNAME", name, note=REDIRECT)
    return records, notes


#: the DKIM record's value while the key is known only after apply (a plan generates nothing)
DKIM_PENDING = "v=DKIM1; k=rsa; p=(known after apply)"


def dkim_record(domain: ResolvedDomain, public_key: str | None) -> Record:
    """The DKIM key record of a domain; `None` for a key that will be generated at apply."""
    name = f"{domain.dkim_selector}._domainkey.{domain.name}"
    if public_key is None:
        return Record.make(name, "TXT", [DKIM_PENDING], domain.ttl)
    try:
        return Record.make(name, "TXT", [dkim_txt(public_key)], domain.ttl)
    except RecordError as exc:
        raise RecordError(f"{domain.name}: DKIM record {domain.dkim_selector}._domainkey: {exc}") from None


def _tracking(domain: ResolvedDomain) -> tuple[str, str]:
    spec = domain.tracking
    assert spec is not None
    platform = TRACKING_PLATFORMS.get(spec.platform or "")
    if spec.platform and platform is None and not (spec.host and spec.target):
        known = ", ".join(sorted(TRACKING_PLATFORMS))
        raise RecordError(
            f"{domain.name}: unknown tracking platform {spec.platform!r} (known: {known}); give host and target"
        )
    host = spec.host or (platform[0] if platform else "")
    target = spec.target or (platform[1] if platform else "")
    return host, target


def desired_zones(inventory: Inventory, dkim_keys: Mapping[str, str | None]) -> dict[str, DesiredZone]:
    """Every managed zone with its records; records for names in other managed zones go there."""
    zones: dict[str, DesiredZone] = {}
    resolved = inventory.resolved_domains()
    for domain in resolved:
        zones[domain.name] = DesiredZone(domain.name, domain.dns_provider or "", domain.purge)

    def zone_for(name: str) -> DesiredZone | None:
        # The most specific zone is the longest managed suffix: try the name, then drop one
        # label at a time, one dict lookup each (scanning every zone per record was quadratic).
        suffix = name
        while True:
            if (zone := zones.get(suffix)) is not None:
                return zone
            dot = suffix.find(".")
            if dot < 0:
                return None
            suffix = suffix[dot + 1 :]

    extra: list[Record] = []
    for server in inventory.servers:
        if zone_for(server.hostname) is not None:
            if server.ipv4:
                extra.append(Record.make(server.hostname, "A", [str(server.ipv4)], 3600))
            if server.ipv6:
                extra.append(Record.make(server.hostname, "AAAA", [str(server.ipv6)], 3600))
    for domain in resolved:
        # another zone's authorisation for this domain's reports needs its DMARC addresses alone: it is
        # made even when this domain's own records cannot be (a partial inventory lacks its server)
        for report_domain in sorted(report_domains(domain)):
            if zone_for(report_domain) is not None:
                extra.append(
                    Record.make(f"{domain.name}._report._dmarc.{report_domain}", "TXT", ["v=DMARC1"], domain.ttl)
                )
        try:
            records, notes = domain_records(domain, dkim_keys.get(domain.name))
        except RecordError as exc:
            # One broken domain must not stop the others; its zone is reported failed.
            zones[domain.name].error = str(exc)
            continue
        zones[domain.name].notes.extend(notes)
        if domain.redirect and domain.server is not None and domain.server.ips:
            zones[domain.name].redirect = domain.redirect
            zones[domain.name].redirect_host = domain.server.hostname
        for record in records:
            target = zone_for(record.name)
            assert target is not None
            target.records.append(record)
    for record in extra:
        target = zone_for(record.name)
        assert target is not None
        target.records.append(record)
    for zone in zones.values():
        try:
            zone.records = _merge(zone.records, zone.zone)
            check_conflicts(zone.records, zone.zone)
        except RecordError as exc:
            zone.error = zone.error or str(exc)
    return zones


def _merge(records: list[Record], zone: str) -> list[Record]:
    """One RRset per (name, type): values of duplicates are united; differing TTLs take the lowest."""
    merged: dict[tuple[str, str], Record] = {}
    for record in records:
        old = merged.get(record.key)
        if old is None:
            merged[record.key] = record
        elif record.type == "CNAME" and old.values != record.values:
            raise RecordError(f"{zone}: {record.name} is wanted as CNAME to {old.values[0]} and to {record.values[0]}")
        else:
            merged[record.key] = Record.make(
                record.name,
                record.type,
                [*old.values, *record.values],
                min(old.ttl, record.ttl),
                old.note,
            )
    return sorted(merged.values())
