"""The server pages' read model: each mail server with its addresses, reverse DNS, port 25, blocklists,
TLS, domains, mailboxes and last events (the dashboard's `/servers` and `/servers/{name}`).

One cause is one row: a server listed on two lists reads as two listing rows on its page, with the
domains it carries counted once, not as every domain turning red. Everything is read from what is
stored (the desired servers, the recorded VPS facts, the check states of the server's IPs and its
domains, the audit log); nothing is asked of the outside.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.core.errors import NotFoundError
from email_infrastructure.monitoring.dnsbl import KNOWN, resolve_zones
from email_infrastructure.monitoring.findings import hint
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import stored_inventory
from email_infrastructure.services.history import event_json
from email_infrastructure.services.overview import CheckView, domain_checks
from email_infrastructure.services.vps import ServerView, server_views
from email_infrastructure.storage.models import CheckState, Domain, EventRecord, Mailbox, Server

#: a state's weight when the worst of several is shown (`none`: never checked)
_RANK = {"none": 0, "ok": 1, "warning": 2, "unknown": 3, "error": 4}
#: the checks run on a server's IP addresses
IP_CHECKS = ("ptr", "dnsbl")
#: how many of its last events a server page shows
EVENTS = 20
#: how many of its domains and of its mailboxes a server page lists (failing ones first)
SHOWN = 100
#: the states listed first
FAILING = ("error", "warning", "unknown")


def worst(statuses: list[str]) -> str:
    """The worst of some states (`none` when there are none)."""
    return max(statuses, key=lambda s: _RANK.get(s, 3), default="none")


def _link(url: str) -> str:
    """`url` when it is a web address a page may link to, else '' (a stored value is never a script)."""
    return url if url.startswith(("https://", "http://")) and " " not in url else ""


@dataclass
class Listing:
    """One blocklist for one address: listed, policy, unknown, clean or not checked, and why."""

    zone: str
    status: str
    #: the list's decoded return codes, in words
    meaning: str = ""
    codes: str = ""
    #: the list's own TXT words on why (listings only)
    reason: str = ""
    #: where to look the listing up and ask for removal ('' when none is known or it is no web address)
    delisting: str = ""

    @property
    def severity(self) -> str:
        """The state colour of the row."""
        return {"listed": "error", "policy": "warning", "unknown": "unknown", "clean": "ok"}.get(self.status, "none")


@dataclass
class Address:
    """One IP address of a server: its reverse DNS (as set, and as checked) and its blocklist rows."""

    ip: str
    version: int
    #: the PTR we set and read back when we created the server ('' when we did not)
    ptr_set: str = ""
    ptr: CheckView | None = None
    #: forward-confirmed reverse DNS in words: confirmed, no PTR, does not resolve back, …
    fcrdns: str = "not checked"
    fcrdns_status: str = "none"
    dnsbl: CheckView | None = None
    listings: list[Listing] = field(default_factory=list)

    @property
    def listed(self) -> list[Listing]:
        """The lists that list this address (policy lists included)."""
        return [x for x in self.listings if x.status in ("listed", "policy")]


@dataclass
class TlsRow:
    """One TLS state of the server's mail host, with how many of its domains report it."""

    status: str
    summary: str
    domains: int
    checked_at: Any
    findings: list[dict[str, Any]]


@dataclass
class ServerRow:
    """One server on the servers list."""

    name: str
    hostname: str
    provider: str | None
    ips: list[str]
    created: bool
    port25: str
    port25_source: str
    #: the worst state of its IPs' PTR and blocklist checks
    status: str
    ptr: str
    #: the lists its addresses are on (one per list and address)
    listed: int
    domains: int
    mailboxes: int


@dataclass
class ServerDetail:
    """One server's page."""

    server: ServerView
    status: str
    addresses: list[Address]
    tls: list[TlsRow]
    #: (domain name, worst state of its checks): the first SHOWN, failing ones first
    domains: list[tuple[str, str]]
    #: (address, state of its mailbox check): the first SHOWN, failing ones first
    mailboxes: list[tuple[str, str]]
    events: list[dict[str, Any]]
    #: how many domains and mailboxes the server carries in all
    domain_count: int = 0
    mailbox_count: int = 0


def _ips(view: ServerView) -> list[str]:
    out = []
    for key in ("ipv4", "ipv6"):
        value = view.facts.get(key) or view.declared.get(key)
        if value:
            out.append(str(value))
    return out


def fcrdns(check: CheckView | None) -> tuple[str, str]:
    """(words, state) of forward-confirmed reverse DNS from a stored `ptr` check."""
    if check is None:
        return "not checked", "none"
    ids = {str(f.get("id", "")) for f in check.findings}
    if "ptr.missing" in ids:
        return "no PTR record", "error"
    if "ptr.mismatch" in ids:
        return "the PTR does not resolve back to the address", "error"
    if "ptr.unknown" in ids:
        return "not determined (the DNS did not answer)", "unknown"
    if "ptr.wrong_host" in ids:
        return "confirmed, but names another host than the mail host", "warning"
    return ("confirmed", check.status) if check.status == "ok" else (check.summary or check.status, check.status)


def with_hints(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors and warnings of some findings, each with its one-line fix."""
    return [
        {**f, "hint": f.get("hint") or hint(str(f.get("id", "")))}
        for f in findings
        if f.get("severity") in ("error", "warning")
    ]


def listings(ip: str, check: CheckView | None, zones: list[str]) -> list[Listing]:
    """One row per blocklist for `ip`: the lists its stored `dnsbl` findings name, then the lists checked
    that named nothing (clean once the check ran, `not checked` before)."""
    rows: dict[str, Listing] = {}
    everywhere_unknown = ""
    for found in check.findings if check is not None else []:
        fid, message = str(found.get("id", "")), str(found.get("message", ""))
        evidence = [str(e) for e in found.get("evidence", []) if isinstance(e, str)]
        if fid in ("dnsbl.listed", "dnsbl.policy") and evidence:
            zone, _, codes = evidence[0].partition(": ")
            meaning = message.split(f"on {zone}: ", 1)[1] if f"on {zone}: " in message else message
            reason = next((e[len("reason: ") :] for e in evidence if e.startswith("reason: ")), "")
            delisting = next((e[len("delisting: ") :] for e in evidence if e.startswith("delisting: ")), "")
            # no web address stored (a finding from before lists carried one): the known list's own page
            delisting = _link(delisting) or (KNOWN[zone].delisting if zone in KNOWN else "")
            status = "listed" if fid == "dnsbl.listed" else "policy"
            rows[zone] = Listing(zone, status, meaning, codes, reason, delisting)
        elif fid == "dnsbl.unknown" and message.startswith("not determined on lists that failed their self-test: "):
            for zone in message.split(": ", 1)[1].split(", "):
                rows.setdefault(zone, Listing(zone, "unknown", "the list failed its self-test"))
        elif fid == "dnsbl.unknown" and message.startswith(f"{ip} on "):
            zone, _, meaning = message[len(f"{ip} on ") :].partition(": ")
            rows.setdefault(zone, Listing(zone, "unknown", meaning))
        elif fid.endswith(".resolver_silent"):
            everywhere_unknown = message
    for zone in zones:
        if zone not in rows:
            if check is None:
                rows[zone] = Listing(zone, "not checked")
            elif everywhere_unknown or check.status == "unknown":
                rows[zone] = Listing(zone, "unknown", everywhere_unknown or check.summary)
            else:
                rows[zone] = Listing(zone, "clean", "not listed")
    order = {"listed": 0, "policy": 1, "unknown": 2, "clean": 3, "not checked": 4}
    return sorted(rows.values(), key=lambda x: (order.get(x.status, 5), x.zone))


async def _servers(app: App) -> tuple[list[ServerView], list[str], list[str]]:
    """The servers (declared and created), the IP blocklists checked on IPv4 and on IPv6."""
    inventory = await stored_inventory(app, only=[])  # the servers and settings, no domain
    if inventory is None:
        return [], [], []
    monitoring = inventory.monitoring
    names = [str(z) for z in monitoring.blacklists or []]
    # the DQS zones print with a `<key>` label: the key itself is never read here
    zones = [z for z in resolve_zones(names, dqs_key="-" if monitoring.spamhaus_dqs_key else None) if z.kind == "ip"]
    return await server_views(app, inventory), [z.name for z in zones], [z.name for z in zones if z.ipv6]


def _zones_for(ip: str, v4: list[str], v6: list[str]) -> list[str]:
    return v6 if ipaddress.ip_address(ip).version == 6 else v4


async def list_server_rows(app: App) -> list[ServerRow]:
    """Every server of the desired state (and every one we created), worst first, then by name."""
    views, _, _ = await _servers(app)
    if not views:
        return []
    ips = {v.name: _ips(v) for v in views}
    every_ip = [ip for found in ips.values() for ip in found]
    async with app.uow() as uow:
        s = uow.session
        states = (
            await s.execute(
                select(CheckState.subject, CheckState.check, CheckState.status).where(
                    CheckState.subject.in_(every_ip), CheckState.check.in_(IP_CHECKS)
                )
            )
            if every_ip
            else None
        )
        state_rows = list(states.all()) if states is not None else []
        domain_counts = dict(
            (
                await s.execute(
                    select(Server.name, func.count(Domain.id))
                    .join(Domain, Domain.server_id == Server.id)
                    .group_by(Server.name)
                )
            ).all()
        )
        mailbox_counts = dict(
            (
                await s.execute(
                    select(Server.name, func.count(Mailbox.id))
                    .join(Domain, Domain.server_id == Server.id)
                    .join(Mailbox, Mailbox.domain_id == Domain.id)
                    .group_by(Server.name)
                )
            ).all()
        )
    # the dnsbl findings of listed IPs only: the listing count needs them, the clean ones need none
    listed_ips = [subject for subject, check, status in state_rows if check == "dnsbl" and status != "ok"]
    findings = await domain_checks(app, listed_ips, history=1) if listed_ips else []
    by_ip: dict[str, dict[str, str]] = defaultdict(dict)
    for subject, check, status in state_rows:
        by_ip[subject][check] = status
    dnsbl_of = {c.subject: c for c in findings if c.check == "dnsbl"}
    rows = []
    for view in views:
        own = ips[view.name]
        statuses = [by_ip[ip].get(c, "none") for ip in own for c in IP_CHECKS]
        listed = sum(
            len([x for x in listings(ip, dnsbl_of[ip], []) if x.status in ("listed", "policy")])
            for ip in own
            if ip in dnsbl_of
        )
        rows.append(
            ServerRow(
                view.name,
                view.hostname,
                view.provider,
                own,
                view.created,
                view.port25,
                view.port25_source,
                worst(statuses),
                worst([by_ip[ip].get("ptr", "none") for ip in own]),
                listed,
                int(domain_counts.get(view.name, 0)),
                int(mailbox_counts.get(view.name, 0)),
            )
        )
    return sorted(rows, key=lambda r: (-_RANK.get(r.status, 3), r.name))


async def server_detail(app: App, name: str) -> ServerDetail:
    """One server by its name in the page's workspace; a NotFoundError when it has none of that name."""
    views, v4, v6 = await _servers(app)
    view = next((v for v in views if v.name == name), None)
    if view is None:
        raise NotFoundError(f"no server named {name!r}")
    ips = _ips(view)
    ip_checks = await domain_checks(app, ips)
    addresses = []
    ptrs = view.facts.get("ptr") or {}
    for ip in ips:
        checks = {c.check: c for c in ip_checks if c.subject == ip}
        if (ptr := checks.get("ptr")) is not None:
            ptr.findings = with_hints(ptr.findings)
        words, state = fcrdns(checks.get("ptr"))
        addresses.append(
            Address(
                ip,
                ipaddress.ip_address(ip).version,
                str(ptrs.get(ip, "")),
                checks.get("ptr"),
                words,
                state,
                checks.get("dnsbl"),
                listings(ip, checks.get("dnsbl"), _zones_for(ip, v4, v6)),
            )
        )
    async with app.uow() as uow:
        server_id = (await uow.session.execute(select(Server.id).where(Server.name == name))).scalar_one_or_none()
        on = await _contents(uow.session, server_id) if server_id is not None else _Contents()
        events = await _events(uow.session, name, ips)
    tls_rows = await _tls_rows(app, on.tls)
    status = worst(
        [a.fcrdns_status for a in addresses]
        + [a.dnsbl.status for a in addresses if a.dnsbl]
        + [r.status for r in tls_rows]
    )
    return ServerDetail(
        view,
        status,
        addresses,
        tls_rows,
        [(d, worst(on.domain_states.get(d, []))) for d in on.domains],
        [(b, on.mailbox_states.get(b, "none")) for b in on.boxes],
        events,
        on.domain_count,
        on.mailbox_count,
    )


@dataclass
class _Contents:
    """What a server carries: its domains and mailboxes with their states, its domains' TLS states."""

    domains: list[str] = field(default_factory=list)
    boxes: list[str] = field(default_factory=list)
    domain_count: int = 0
    mailbox_count: int = 0
    domain_states: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    mailbox_states: dict[str, str] = field(default_factory=dict)
    tls: list[CheckState] = field(default_factory=list)


async def _contents(s: AsyncSession, server_id: int) -> _Contents:
    """The domains and mailboxes on a server (counted; the first SHOWN listed, failing first) and their states.

    A server can carry thousands of domains: the page lists a screenful, the lists filtered by the
    server have the rest, and only the listed ones' states are read.
    """
    out = _Contents()
    on_server = select(Domain.name).where(Domain.server_id == server_id)
    failing = select(CheckState.subject).where(CheckState.status.in_(FAILING))
    out.domain_count = int(await s.scalar(select(func.count()).select_from(on_server.subquery())) or 0)
    first = on_server.order_by(case((Domain.name.in_(failing), 0), else_=1), Domain.name).limit(SHOWN)
    out.domains = list((await s.scalars(first)).all())
    address = Mailbox.local_part + "@" + Domain.name
    in_boxes = select(address).join(Domain, Mailbox.domain_id == Domain.id).where(Domain.server_id == server_id)
    out.mailbox_count = int(await s.scalar(select(func.count()).select_from(in_boxes.subquery())) or 0)
    first_boxes = in_boxes.order_by(case((address.in_(failing), 0), else_=1), Domain.name, Mailbox.local_part)
    out.boxes = list((await s.scalars(first_boxes.limit(SHOWN))).all())
    query = select(CheckState.subject, CheckState.status).where(CheckState.subject.in_(out.domains))
    for subject, status in (await s.execute(query)).all():
        out.domain_states[subject].append(status)
    tls = select(CheckState).where(CheckState.subject.in_(on_server), CheckState.check == "tls")
    out.tls = list((await s.scalars(tls)).all())
    boxes = select(CheckState.subject, CheckState.status).where(
        CheckState.check == "mailbox", CheckState.subject.in_(out.boxes)
    )
    for subject, status in (await s.execute(boxes)).all():
        out.mailbox_states[subject] = status
    return out


async def _events(s: AsyncSession, name: str, ips: list[str]) -> list[dict[str, Any]]:
    """The server's last events: those naming it (created, reverse DNS, port 25, desired) and its IPs' checks."""
    about = [EventRecord.payload["server"].as_string() == name]
    if ips:
        about.append(EventRecord.payload["subject"].as_string().in_(ips))
    query = (
        select(EventRecord)
        .where(or_(*about))
        .order_by(EventRecord.occurred_at.desc(), EventRecord.id.desc())
        .limit(EVENTS)
    )
    return [event_json(r) for r in (await s.scalars(query)).all()]


async def _tls_rows(app: App, states: list[CheckState]) -> list[TlsRow]:
    """The TLS states of the server's domains grouped by (state, summary): the mail host's certificate is
    one cause however many domains report it; each group shows one domain's latest findings."""
    groups: Counter[tuple[str, str]] = Counter((s.status, s.summary) for s in states)
    first: dict[tuple[str, str], CheckState] = {}
    for state in sorted(states, key=lambda s: s.subject):
        first.setdefault((state.status, state.summary), state)
    rows = []
    for key, count in sorted(groups.items(), key=lambda kv: (-_RANK.get(kv[0][0], 3), -kv[1])):
        sample = first[key]
        found = await domain_checks(app, [sample.subject], history=1)
        tls = next((c for c in found if c.check == "tls"), None)
        rows.append(TlsRow(key[0], key[1], count, sample.checked_at, with_hints(tls.findings) if tls else []))
    return rows


__all__ = [
    "IP_CHECKS",
    "Address",
    "Listing",
    "ServerDetail",
    "ServerRow",
    "TlsRow",
    "fcrdns",
    "list_server_rows",
    "listings",
    "server_detail",
    "with_hints",
    "worst",
]
