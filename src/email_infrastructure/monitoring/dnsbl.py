"""DNS blocklists: query names, per-list decoding of answers, self-tests, curated default zones.

Never a false listing: error answers in 127.255.255.0/24 from any list (Spamhaus's codes, and
the lists that mirror its data such as CBL), Spamhaus DBL's 127.0.1.255, URIBL's
127.0.0.1 "refused", answers outside 127.0.0.0/8, timeouts and refusals are `unknown` with a
reason; a zone that fails its self-test (127.0.0.2 listed, 127.0.0.1 not) is marked broken and
its answers are not trusted.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from email_infrastructure.core.names import normalise_domain
from email_infrastructure.monitoring.context import organizational_domain
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.monitoring.resolver import Answer, Resolver, Status


class Decoder(StrEnum):
    """How a list's answers are read."""

    SPAMHAUS_ZEN = "spamhaus_zen"
    SPAMHAUS_DBL = "spamhaus_dbl"
    SURBL = "surbl"
    URIBL = "uribl"
    GENERIC = "generic"


@dataclass(frozen=True)
class Blocklist:
    """One DNSBL zone."""

    zone: str
    kind: str  # "ip" or "domain"
    decoder: Decoder = Decoder.GENERIC
    ipv6: bool = False
    test_listed: str = "127.0.0.2"
    test_clean: str = "127.0.0.1"
    #: the zone to show (the DQS zone carries a key that must not be printed)
    label: str = ""
    #: the list's own lookup and removal page ('' when none is known)
    delisting: str = ""

    @property
    def name(self) -> str:
        """Printable zone name."""
        return self.label or self.zone


#: the lists' own lookup and removal pages (dnsbl.md names none; these are the lists' sites)
SPAMHAUS_LOOKUP = "https://check.spamhaus.org/"
DEFAULT_IP_ZONES = [
    Blocklist("zen.spamhaus.org", "ip", Decoder.SPAMHAUS_ZEN, ipv6=True, delisting=SPAMHAUS_LOOKUP),
    Blocklist("b.barracudacentral.org", "ip", delisting="https://www.barracudacentral.org/rbl/removal-request"),
    Blocklist("bl.spamcop.net", "ip", delisting="https://www.spamcop.net/bl.shtml"),
    Blocklist("psbl.surriel.com", "ip", delisting="https://psbl.org/"),
    Blocklist("z.mailspike.net", "ip"),
    Blocklist("bl.nordspam.com", "ip"),
    Blocklist("all.s5h.net", "ip"),
    Blocklist("ubl.lashback.com", "ip"),
    Blocklist("rbl.interserver.net", "ip"),
    Blocklist("dnsbl.dronebl.org", "ip", delisting="https://dronebl.org/lookup"),
    Blocklist("spam.spamrats.com", "ip"),
    Blocklist("dyna.spamrats.com", "ip"),
    Blocklist("noptr.spamrats.com", "ip"),
    Blocklist("auth.spamrats.com", "ip"),
    Blocklist("bl.0spam.org", "ip"),
    Blocklist("ips.backscatterer.org", "ip"),
]
DEFAULT_DOMAIN_ZONES = [
    Blocklist(
        "dbl.spamhaus.org",
        "domain",
        Decoder.SPAMHAUS_DBL,
        test_listed="dbltest.com",
        test_clean="invalid",
        delisting=SPAMHAUS_LOOKUP,
    ),
    Blocklist(
        "multi.surbl.org",
        "domain",
        Decoder.SURBL,
        test_listed="test",
        test_clean="invalid",
        delisting="https://www.surbl.org/surbl-analysis",
    ),
    Blocklist(
        "multi.uribl.com",
        "domain",
        Decoder.URIBL,
        test_listed="test",
        test_clean="invalid",
        delisting="https://admin.uribl.com/",
    ),
    Blocklist("uribl.spameatingmonkey.net", "domain", test_listed="test", test_clean="invalid"),
    Blocklist("dbl.0spam.org", "domain", test_listed="test", test_clean="invalid"),
    Blocklist("uribl.rspamd.com", "domain", test_listed="test", test_clean="invalid"),
]
KNOWN = {b.zone: b for b in DEFAULT_IP_ZONES + DEFAULT_DOMAIN_ZONES}

ZEN = {
    "127.0.0.2": ("SBL: spam source", "listed"),
    "127.0.0.3": ("CSS: snowshoe spam", "listed"),
    "127.0.0.4": ("XBL: exploited host", "listed"),
    "127.0.0.5": ("XBL: exploited host", "listed"),
    "127.0.0.6": ("XBL: exploited host", "listed"),
    "127.0.0.7": ("XBL: exploited host", "listed"),
    "127.0.0.9": ("DROP: hijacked network", "listed"),
    "127.0.0.10": ("PBL (ISP): end-user range, not for direct mail", "policy"),
    "127.0.0.11": ("PBL (Spamhaus): end-user range, not for direct mail", "policy"),
    "127.0.0.20": ("AuthBL: authentication abuse", "listed"),
    "127.0.0.30": ("BCL: botnet controller", "listed"),
}
DBL = {
    "127.0.1.2": "low-reputation domain",
    "127.0.1.4": "phishing domain",
    "127.0.1.5": "malware domain",
    "127.0.1.6": "botnet C&C domain",
    "127.0.1.102": "abused legit domain",
    "127.0.1.103": "abused legit redirector",
    "127.0.1.104": "abused legit phish",
    "127.0.1.105": "abused legit malware",
    "127.0.1.106": "abused legit C&C",
}
SPAMHAUS_ERRORS = {
    "127.255.255.252": "Spamhaus error: typo in the zone name",
    "127.255.255.254": "Spamhaus error: query through a public/open resolver (use your own resolver or DQS)",
    "127.255.255.255": "Spamhaus error: excessive number of queries",
}
#: error answers, never listings: no decoder here documents a listing in this range (dnsbl.md §3)
ERROR_RANGE = ipaddress.ip_network("127.255.255.0/24")
SURBL_BITS = {8: "PH (phishing)", 16: "MW (malware)", 64: "ABUSE", 128: "CR (cracked)"}
URIBL_BITS = {2: "black", 4: "grey", 8: "red"}


@dataclass(frozen=True)
class Verdict:
    """What one answer means."""

    status: str  # listed | clean | unknown
    meaning: str = ""
    codes: tuple[str, ...] = ()
    policy: bool = False


def decode(blocklist: Blocklist, answer: Answer) -> Verdict:
    """Read one A answer per the list's rules."""
    if answer.status is Status.NXDOMAIN or answer.status is Status.NODATA:
        return Verdict("clean")
    if answer.status.unknown:
        return Verdict("unknown", f"no answer ({answer.status.value})")
    codes = tuple(sorted(answer.values()))
    if any(ipaddress.ip_address(c) not in ipaddress.ip_network("127.0.0.0/8") for c in codes):
        return Verdict("unknown", "answer outside 127.0.0.0/8: a resolver rewrites NXDOMAIN", codes)
    errors = [c for c in codes if ipaddress.ip_address(c) in ERROR_RANGE]
    if errors:
        meaning = SPAMHAUS_ERRORS.get(errors[0], f"error code {errors[0]} (127.255.255.0/24 is never a listing)")
        return Verdict("unknown", meaning, codes)
    meanings: list[str] = []
    policy_only = True
    for code in codes:
        last = int(code.rsplit(".", 1)[1])
        if blocklist.decoder is Decoder.SPAMHAUS_ZEN:
            meaning, kind = ZEN.get(code, (f"unknown Spamhaus code {code}", "listed"))
            policy_only = policy_only and kind == "policy"
            meanings.append(meaning)
        elif blocklist.decoder is Decoder.SPAMHAUS_DBL:
            if code == "127.0.1.255":
                return Verdict(
                    "unknown",
                    "Spamhaus DBL error: an IP address was queried against a domain list",
                    codes,
                )
            meanings.append(DBL.get(code, f"unknown DBL code {code}"))
            policy_only = False
        elif blocklist.decoder in (Decoder.SURBL, Decoder.URIBL):
            bits = SURBL_BITS if blocklist.decoder is Decoder.SURBL else URIBL_BITS
            if blocklist.decoder is Decoder.URIBL and last & 1:
                return Verdict("unknown", "URIBL refused the query (127.0.0.1): the resolver is blocked", codes)
            names = [n for bit, n in bits.items() if last & bit]
            if not names:
                return Verdict("unknown", f"code {code} carries no known listing bit", codes)
            meanings.append(" + ".join(names))
            policy_only = False
        else:
            if code == "127.0.0.1":
                return Verdict("unknown", "127.0.0.1 is never a listing (RFC 5782)", codes)
            meanings.append(f"listed ({code})")
            policy_only = False
    return Verdict("listed", "; ".join(meanings), codes, policy=policy_only)


def query_name(subject: str, blocklist: Blocklist) -> str | None:
    """`10.2.0.192.zen…`, IPv6 nibbles, or the registrable domain; None when not applicable."""
    version, prefix = _subject_prefix(subject)
    if blocklist.kind == "ip":
        if version is None or (version == 6 and not blocklist.ipv6):
            return None
    elif version is not None:
        return None
    return f"{prefix}.{blocklist.zone}"


@functools.lru_cache(maxsize=4096)
def _subject_prefix(subject: str) -> tuple[int | None, str]:
    """(IP version or None, the labels put before a zone): computed once per subject, not per zone."""
    try:
        ip = ipaddress.ip_address(subject)
    except ValueError:
        if subject in ("test", "invalid") or "." not in subject:
            return None, subject
        return None, organizational_domain(normalise_domain(subject))
    if ip.version == 4:
        return 4, ".".join(reversed(str(ip).split(".")))
    return 6, ".".join(reversed(ip.exploded.replace(":", "")))


@dataclass
class ZoneHealth:
    """The self-test of one zone in this run."""

    zone: str
    healthy: bool
    reason: str = ""


@dataclass
class ListingResult:
    """One subject on one list."""

    target: str
    zone: str
    status: str
    codes: list[str] = field(default_factory=list)
    meaning: str = ""
    policy: bool = False
    #: the list's TXT record at the listed name: its own words on why (listings only)
    reason: str = ""
    #: where to look the listing up and ask for removal
    delisting: str = ""
    #: the zone failed its self-test: the answer was not read (status `unknown`)
    broken: bool = False


def resolve_zones(names: list[str] | None, kind_hint: str | None = None, dqs_key: str | None = None) -> list[Blocklist]:
    """Zones by name (known ones keep their decoder); the defaults when none are given."""
    if not names:
        zones = DEFAULT_IP_ZONES + DEFAULT_DOMAIN_ZONES
    else:
        zones = []
        for name in names:
            zone = name.strip().lower().rstrip(".")
            known = KNOWN.get(zone)
            if known is None:
                domainish = any(k in zone for k in ("dbl", "uribl", "surbl", "rhsbl"))
                kind = kind_hint or ("domain" if domainish else "ip")
                known = Blocklist(
                    zone,
                    kind,
                    test_listed="test" if kind == "domain" else "127.0.0.2",
                    test_clean="invalid" if kind == "domain" else "127.0.0.1",
                )
            zones.append(known)
    if dqs_key:
        dqs = {"zen.spamhaus.org": "zen.dq.spamhaus.net", "dbl.spamhaus.org": "dbl.dq.spamhaus.net"}
        zones = [
            replace(z, zone=f"{dqs_key}.{dqs[z.zone]}", label=f"<key>.{dqs[z.zone]}") if z.zone in dqs else z
            for z in zones
        ]
    return zones


async def query_all(resolver: Resolver, names: list[str]) -> list[Answer]:
    """A answers for many names, pipelined on the resolver's socket (no task per name)."""
    return await resolver.query_many(names, "A")


async def self_test(resolver: Resolver, blocklist: Blocklist) -> ZoneHealth:
    """The test entry must be listed and the clean one must not (RFC 5782 §5)."""
    listed_name = query_name(blocklist.test_listed, blocklist)
    clean_name = query_name(blocklist.test_clean, blocklist)
    assert listed_name and clean_name
    listed, clean = await asyncio.gather(resolver.query(listed_name, "A"), resolver.query(clean_name, "A"))
    if listed.status.unknown or clean.status.unknown:
        return ZoneHealth(
            blocklist.name,
            False,
            f"self-test unanswered ({listed.status.value}/{clean.status.value})",
        )
    verdict_listed, verdict_clean = decode(blocklist, listed), decode(blocklist, clean)
    if verdict_listed.status != "listed":
        reason = verdict_listed.meaning or "the test entry is not listed: the zone is dead or blocks this resolver"
        return ZoneHealth(blocklist.name, False, reason)
    if verdict_clean.status != "clean":
        return ZoneHealth(blocklist.name, False, "the clean test entry is listed: the zone answers everything")
    return ZoneHealth(blocklist.name, True)


async def self_tests(resolver: Resolver, zones: list[Blocklist]) -> dict[str, ZoneHealth]:
    """Each zone's self-test, once per zone name (a zone given twice is tested once)."""
    unique = list({z.name: z for z in zones}.values())
    health = await asyncio.gather(*(self_test(resolver, z) for z in unique))
    return {z.name: h for z, h in zip(unique, health, strict=True)}


async def lookup(
    resolver: Resolver, subjects: list[str], zones: list[Blocklist], health: dict[str, ZoneHealth]
) -> list[ListingResult]:
    """Every subject on every applicable zone whose self-test ran; listings carry the list's TXT."""
    unique = [z for z in {z.name: z for z in zones}.values() if z.name in health]
    return await _lookup(resolver, subjects, unique, _ready(health))


async def _ready(health: dict[str, ZoneHealth]) -> dict[str, ZoneHealth]:
    return health


async def _lookup(
    resolver: Resolver, subjects: list[str], unique: list[Blocklist], health_of: Awaitable[dict[str, ZoneHealth]]
) -> list[ListingResult]:
    """`lookup` on `unique` zones; their self-tests' results are awaited once the answers are in."""
    jobs: list[tuple[str, Blocklist, str]] = []
    for subject in subjects:
        for zone in unique:
            name = query_name(subject, zone)
            if name is not None:
                jobs.append((subject, zone, name))
    answers = await query_all(resolver, [name for _, _, name in jobs])
    health = await health_of
    results = []
    listed: list[tuple[ListingResult, str]] = []
    for (subject, zone, name), answer in zip(jobs, answers, strict=True):
        verdict = decode(zone, answer)
        zone_health = health[zone.name]
        if not zone_health.healthy:
            verdict = Verdict("unknown", f"zone failed its self-test: {zone_health.reason}", verdict.codes)
        result = ListingResult(
            subject,
            zone.name,
            verdict.status,
            list(verdict.codes),
            verdict.meaning,
            verdict.policy,
            delisting=zone.delisting,
            broken=not zone_health.healthy,
        )
        results.append(result)
        if result.status == "listed":
            listed.append((result, name))
    # RFC 5782 §2.1: the TXT at the same name says why; asked for listings only (they are few)
    reasons = await asyncio.gather(*(resolver.txt(name) for _, name in listed))
    for (result, _), answer in zip(listed, reasons, strict=True):
        result.reason = " ".join(answer.texts())
    return results


async def check_blocklists(
    resolver: Resolver, subjects: list[str], zones: list[Blocklist]
) -> tuple[list[ListingResult], list[ZoneHealth]]:
    """Every subject on every applicable zone, with each zone's self-test (one entry per zone).

    The self-tests run alongside the lookups, not before them: on a remote list a round trip
    saved, and their verdict is applied once both are in (a broken zone's answers are not read).
    """
    unique = list({z.name: z for z in zones}.values())
    tests = asyncio.ensure_future(self_tests(resolver, unique))
    try:
        results = await _lookup(resolver, subjects, unique, asyncio.shield(tests))
    finally:
        tests.cancel()  # only when the lookups failed: the task is done otherwise
    return results, list(tests.result().values())


#: the `zone` of a row that stands for every list (none could be asked)
EVERY_ZONE = "*"


@dataclass
class BlocklistReport:
    """Every subject on every list, each list's self-test, and why nothing was asked (if so)."""

    results: list[ListingResult]
    zones: list[ZoneHealth]
    #: the resolver did not answer at all: one `unknown` row per subject, no list asked
    resolver_silent: str | None = None


async def blocklist_report(resolver: Resolver, subjects: list[str], zones: list[Blocklist]) -> BlocklistReport:
    """`check_blocklists`, unless the resolver answers nothing: then one undetermined row per subject."""
    silent = await resolver.silence()
    if silent is not None:
        rows = [
            ListingResult(s, EVERY_ZONE, "unknown", meaning="undetermined (the resolver does not answer)")
            for s in subjects
        ]
        return BlocklistReport(rows, [], silent)
    results, health = await check_blocklists(resolver, subjects, zones)
    return BlocklistReport(results, health)


def zone_json(zone: ZoneHealth) -> dict[str, Any]:
    """`{"zone", "healthy", "reason"}`."""
    return {"zone": zone.zone, "healthy": zone.healthy, "reason": zone.reason}


def listing_result(subject: str, listings: list[ListingResult]) -> CheckResult:
    """DNSBL findings of one subject; the lists that failed their self-test make one finding."""
    result = CheckResult("dnsbl")
    broken: list[str] = []
    for item in listings:
        evidence = [f"{item.zone}: {', '.join(item.codes) or item.status}"]
        if item.reason:
            evidence.append(f"reason: {item.reason}")
        if item.delisting:
            evidence.append(f"delisting: {item.delisting}")
        if item.status == "listed":
            if item.policy:
                result.warn("dnsbl.policy", f"{item.target} is on {item.zone}: {item.meaning}", evidence)
            else:
                result.error(
                    "dnsbl.listed",
                    f"{item.target} is listed on {item.zone}: {item.meaning}",
                    evidence,
                )
        elif item.broken:
            broken.append(item.zone)
        elif item.status == "unknown":
            result.cannot_tell("dnsbl.unknown", f"{item.target} on {item.zone}: {item.meaning}")
    if broken:
        # the same words for every subject, so a report can say it once per list, not per subject
        lists = ", ".join(sorted(set(broken)))
        result.cannot_tell("dnsbl.unknown", f"not determined on lists that failed their self-test: {lists}")
    return result
