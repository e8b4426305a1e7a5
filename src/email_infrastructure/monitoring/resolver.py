"""A lean asyncio DNS client: one UDP socket per upstream, dnspython only for the wire format.

A plain dnspython resolver opens a socket per query and tops out near 1.7k queries/s on this
machine class; multiplexing every query over one socket by message id and sharing a cache of
positive *and* negative answers is what makes a 1,000-domain audit take about a second. That
socket is a `Channel` (monitoring/pipeline.py) that reads every waiting reply per wake-up; a lookup
runs in its first caller (no task per query); `query_many` pipelines bulk lookups (blocklists).
A timeout, SERVFAIL, REFUSED or a CNAME loop is `unknown` — never `missing`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from email_infrastructure.core.cache import DNS_ANSWERS, TwoTierCache, shared
from email_infrastructure.core.errors import UserError
from email_infrastructure.core.settings import check_nameserver
from email_infrastructure.monitoring import wire as wire_codec
from email_infrastructure.monitoring.pipeline import TRUNCATED, Channel, Pipeline

_log = logging.getLogger(__name__)
DEFAULT_NEGATIVE_TTL = 300
MAX_CNAME_DEPTH = 8
#: answers kept for the shared tier before they go to Redis in one pipeline (and at close)
SHARED_WRITE_BATCH = 200


class Status(StrEnum):
    """How a query ended."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    #: the CNAME chain loops, or is longer than MAX_CNAME_DEPTH: there is no answer to read
    CNAME_LOOP = "cname_loop"

    @property
    def unknown(self) -> bool:
        """True when the answer says nothing about the name (the check result is `unknown`)."""
        return self in (Status.SERVFAIL, Status.REFUSED, Status.TIMEOUT, Status.CNAME_LOOP)

    @property
    def void(self) -> bool:
        """NXDOMAIN or an empty answer (an SPF "void lookup")."""
        return self in (Status.NXDOMAIN, Status.NODATA)


@dataclass(frozen=True)
class Answer:
    """The records of one name and type (after following CNAMEs), or why there are none."""

    name: str
    rtype: str
    status: Status
    records: tuple[dns.rdata.Rdata, ...] = ()
    ttl: int = 0
    cnames: tuple[str, ...] = ()
    #: values decoded by the lean decoder (monitoring/wire.py): addresses, joined TXT strings,
    #: (preference, host) for MX, hosts for PTR/CNAME/NS
    data: tuple[Any, ...] = ()

    @property
    def found(self) -> bool:
        """True when the answer holds at least one record of the asked type."""
        return bool(self.records or self.data)

    def texts(self) -> list[str]:
        """TXT records with their character-strings joined (RFC 7208 §3.3)."""
        if self.data or not self.records:
            return [str(d) for d in self.data]
        from dns.rdtypes.txtbase import TXTBase  # records parsed by dnspython are rare: not a start-up import

        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.records if isinstance(r, TXTBase)]

    def mx(self) -> list[tuple[int, str]]:
        """MX records as (preference, host), sorted; a null MX has the host ''."""
        if self.data or not self.records:
            return sorted((int(p), str(h)) for p, h in self.data)
        from dns.rdtypes.mxbase import MXBase

        return sorted(
            (r.preference, r.exchange.to_text().rstrip(".").lower()) for r in self.records if isinstance(r, MXBase)
        )

    def values(self) -> list[str]:
        """Presentation form of every record (names with their trailing dot)."""
        if self.data:
            if self.rtype == "MX":
                return [f"{p} {h}." for p, h in self.data]
            if self.rtype in ("PTR", "CNAME", "NS"):
                return [f"{h}." for h in self.data]
            return [str(d) for d in self.data]
        return [r.to_text() for r in self.records]


def parse_nameserver(text: str) -> tuple[str, int]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT` → (ip, port); UserError in words a user can act on."""
    try:
        return check_nameserver(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


_HEADER = struct.Struct("!HHHHHH")
_RCODES = {0: Status.OK, 3: Status.NXDOMAIN, 2: Status.SERVFAIL, 5: Status.REFUSED}


def _encode_question(name: str, rtype: str) -> bytes:
    """QNAME QTYPE QCLASS in wire form (dnspython only for names that are not plain ASCII)."""
    if name.isascii() and len(name) <= 253:
        parts: list[bytes] = []
        for label in name.encode("ascii").split(b"."):
            if not 0 < len(label) < 64:
                break
            parts += (_LENGTHS[len(label)], label)
        else:
            return b"".join(parts) + b"\0" + _qtype_class(rtype)
    encoded = dns.name.from_text(name).to_wire()
    assert encoded is not None
    return encoded + _qtype_class(rtype)


_LENGTHS = [bytes([n]) for n in range(64)]


@functools.lru_cache(maxsize=64)
def _qtype_class(rtype: str) -> bytes:
    return struct.pack("!HH", dns.rdatatype.from_text(rtype), 1)


def _answers(wire: bytes, question: bytes) -> bool:
    """A response (QR set) to exactly our one question (names compared case-insensitively)."""
    if len(wire) < 12 + len(question) or not wire[2] & 0x80:
        return False
    if int.from_bytes(wire[4:6], "big") != 1:
        return False
    return wire[12 : 12 + len(question)].lower() == question.lower()


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


@dataclass
class ResolverStats:
    """What the resolver did (queries sent, answers served from the cache, losses)."""

    queries: int = 0
    cache_hits: int = 0
    timeouts: int = 0
    retries: int = 0


@dataclass
class Resolver:
    """Cached, concurrent DNS lookups against configured upstream servers."""

    nameservers: Sequence[tuple[str, int]]
    timeout: float = 2.0
    attempts: int = 3
    #: queries in flight; more only makes a loaded server drop packets (and costs a timeout each)
    concurrency: int = 64
    #: answers kept; the least recently used go first, so a streamed audit of 100,000 domains
    #: keeps the shared names (includes, MX hosts) without a cache that grows with the fleet
    cache_size: int = 50_000
    stats: ResolverStats = field(default_factory=ResolverStats)
    #: the deployment's Redis tier behind the in-memory cache (workers install it: core/cache.py)
    shared_cache: TwoTierCache | None = field(default_factory=lambda: shared(DNS_ANSWERS))

    def __post_init__(self) -> None:
        if not self.nameservers:
            raise UserError("no nameserver configured")
        self._cache: dict[tuple[str, str], tuple[float, Answer]] = {}
        #: the answer of a lookup under way, for the callers after the first
        self._inflight: dict[tuple[str, str], asyncio.Future[Answer]] = {}
        #: lookups other callers wait for (their first caller's deadline must not stop them)
        self._awaited: set[tuple[str, str]] = set()
        #: lookups that went on in a task of their own after their first caller was cancelled
        self._handed: set[asyncio.Task[Answer]] = set()
        self._channels: dict[tuple[str, int], Channel] = {}
        self._semaphore = asyncio.Semaphore(self.concurrency)

    @classmethod
    def from_strings(cls, nameservers: Sequence[str], **kwargs: Any) -> Resolver:
        """Build from `IP[:PORT]` strings; the system resolver's servers when none are given."""
        if not nameservers:
            import dns.resolver

            nameservers = [str(n) for n in dns.resolver.get_default_resolver().nameservers]
        return cls([parse_nameserver(n) for n in nameservers], **kwargs)

    async def close(self) -> None:
        """Share the answers still waiting, close the sockets (and drop lookups nobody waits for)."""
        await self._flush_shared()
        for future in self._inflight.values():
            future.cancel()
        for task in self._handed:
            task.cancel()
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def _channel(self, server: tuple[str, int]) -> Channel:
        """The one socket to `server`, opened on first use (no await: the first queries share it)."""
        channel = self._channels.get(server)
        loop = asyncio.get_running_loop()
        if channel is None or channel.closed or channel.loop is not loop:
            if channel is not None:
                channel.close()  # a resolver used from another event loop (a new asyncio.run): a new socket
            channel = self._channels[server] = Channel(server, loop)
        return channel

    async def query(self, name: str, rtype: str) -> Answer:
        """Resolve `name`/`rtype`, following CNAMEs; cached for the answer's TTL."""
        key = (name.lower().rstrip("."), rtype.upper())
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            self.stats.cache_hits += 1
            self._cache[key] = self._cache.pop(key)  # most recently used last
            return cached[1]
        shared = self._inflight.get(key)
        if shared is not None:
            self.stats.cache_hits += 1
            self._awaited.add(key)
            return await asyncio.shield(shared)
        # The first caller looks up inline, not in a task per query (issue 22: the event loop was
        # most of an audit); the others wait on its future. A first caller cancelled by its
        # deadline must not cancel the lookup for the others: it goes on in a task of its own.
        shared = self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            answer = await self._lookup(key)
        except asyncio.CancelledError:
            if key in self._awaited:
                self._finish_later(key, shared)
            else:
                self._settle(key, shared, None)
            raise
        except Exception as exc:
            self._settle(key, shared, exc)
            raise
        except BaseException:
            self._settle(key, shared, None)
            raise
        self._settle(key, shared, answer)
        return answer

    def _settle(self, key: tuple[str, str], shared: asyncio.Future[Answer], outcome: Answer | Exception | None) -> None:
        """Give the waiting callers the answer, the error, or (None) their cancellation."""
        if self._inflight.get(key) is shared:
            del self._inflight[key]
            self._awaited.discard(key)
        if shared.done():
            return
        if outcome is None:
            shared.cancel()
        elif isinstance(outcome, Exception):
            shared.set_exception(outcome)
            shared.exception()  # retrieved: no "never retrieved" warning when nobody waits
        else:
            shared.set_result(outcome)

    def _finish_later(self, key: tuple[str, str], shared: asyncio.Future[Answer]) -> None:
        task = asyncio.ensure_future(self._lookup(key))
        self._handed.add(task)

        def done(finished: asyncio.Task[Answer]) -> None:
            self._handed.discard(finished)
            if finished.cancelled():
                self._settle(key, shared, None)
            elif (error := finished.exception()) is not None:
                self._settle(key, shared, error if isinstance(error, Exception) else None)
            else:
                self._settle(key, shared, finished.result())

        task.add_done_callback(done)

    async def _lookup(self, key: tuple[str, str]) -> Answer:
        shared_key = f"{self.nameservers!r}|{key[0]}|{key[1]}"
        if self.shared_cache is not None and (text := await self.shared_cache.get(shared_key)) is not None:
            self.stats.cache_hits += 1
            return decode_answer(text)
        answer = await self._resolve(key[0], key[1], ())
        self._remember(key, answer)
        if not answer.status.unknown and self.shared_cache is not None:
            waiting = self.shared_cache.set_later(shared_key, encode_answer(answer), answer.ttl)
            if waiting >= SHARED_WRITE_BATCH:
                # shielded: a caller's deadline must not cut a batch write in half
                await asyncio.shield(self._flush_shared())
        return answer

    async def _flush_shared(self) -> None:
        if self.shared_cache is None:
            return
        try:
            await self.shared_cache.flush()
        except Exception as exc:  # the shared tier is an optimisation: an answer not shared is asked again
            _log.warning("DNS answers not written to the shared cache: %s", exc)

    async def _resolve(self, name: str, rtype: str, chain: tuple[str, ...]) -> Answer:
        try:
            wire = await self._exchange(name, rtype)
        except (ValueError, dns.exception.DNSException):
            # A name that cannot be encoded (label > 63 bytes…) cannot exist.
            return Answer(name, rtype, Status.NXDOMAIN, ttl=DEFAULT_NEGATIVE_TTL, cnames=chain)
        if wire is None:
            return Answer(name, rtype, Status.TIMEOUT, cnames=chain)
        if rtype in wire_codec.TYPES:
            return await self._resolve_lean(name, rtype, chain, wire)
        # the full parser only for the types the lean decoder does not read: not imported at start-up
        from dns.message import from_wire

        try:
            response = from_wire(wire)
        except dns.exception.DNSException:
            return Answer(name, rtype, Status.SERVFAIL, cnames=chain)
        rcode = response.rcode()
        if rcode == dns.rcode.SERVFAIL:
            return Answer(name, rtype, Status.SERVFAIL, cnames=chain)
        if rcode == dns.rcode.REFUSED:
            return Answer(name, rtype, Status.REFUSED, cnames=chain)
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return Answer(name, rtype, Status.SERVFAIL, cnames=chain)
        wanted = dns.rdatatype.from_text(rtype)
        current = dns.name.from_text(name)
        records: list[dns.rdata.Rdata] = []
        ttl = None
        names = list(chain)
        for _ in range(MAX_CNAME_DEPTH):
            rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, wanted)
            if rrset is not None:
                records = list(rrset)
                ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
                break
            cname = response.get_rrset(response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or wanted == dns.rdatatype.CNAME:
                break
            ttl = cname.ttl if ttl is None else min(ttl, cname.ttl)
            current = cname[0].target
            target_name = current.to_text().rstrip(".").lower()
            if target_name == name or target_name in names or len(names) >= MAX_CNAME_DEPTH:
                return Answer(name, rtype, Status.CNAME_LOOP, cnames=tuple(names))
            names.append(target_name)
        if records:
            return Answer(name, rtype, Status.OK, tuple(records), ttl or 0, tuple(names))
        if names and len(names) > len(chain):
            # The CNAME target is outside what this answer carries: ask for it.
            target = await self._resolve(names[-1], rtype, tuple(names))
            return Answer(
                name,
                rtype,
                target.status,
                target.records,
                min(ttl or 0, target.ttl) if target.records else target.ttl,
                target.cnames,
            )
        negative_ttl = DEFAULT_NEGATIVE_TTL
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                negative_ttl = min(rrset.ttl, rrset[0].minimum)
        status = Status.NXDOMAIN if rcode == dns.rcode.NXDOMAIN else Status.NODATA
        return Answer(name, rtype, status, (), negative_ttl, tuple(names))

    def _attempt_timeout(self, attempt: int) -> float:
        # A lost UDP packet should cost little: the first try waits briefly, later ones longer.
        return self.timeout * (0.25, 0.5, 1.0)[min(attempt, 2)]

    async def _resolve_lean(self, name: str, rtype: str, chain: tuple[str, ...], raw: bytes) -> Answer:
        read = _read_lean(name, rtype, chain, raw)
        if isinstance(read, Answer):
            return read
        # The CNAME target is outside what this answer carries: ask for it.
        found = await self._resolve(read[-1], rtype, read)
        return Answer(name, rtype, found.status, found.records, found.ttl, found.cnames, found.data)

    async def query_many(self, names: Sequence[str], rtype: str) -> list[Answer]:
        """`query` for many names of one type, in order: the cache first, the rest pipelined.

        For bulk lookups (blocklists): no task or timer per query, replies handled as they arrive
        (monitoring/pipeline.py); same answers, cache, retries and `unknown` rules as `query`.
        """
        rtype = rtype.upper()
        if self.shared_cache is not None or rtype not in wire_codec.TYPES:
            return await self._query_each(names, rtype)
        answers: list[Answer | None] = [None] * len(names)
        asked: dict[str, list[int]] = {}
        now = time.monotonic()
        for index, raw_name in enumerate(names):
            key = (raw_name.lower().rstrip("."), rtype)
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self.stats.cache_hits += 1
                answers[index] = cached[1]
            elif key[0] in asked:
                self.stats.cache_hits += 1
                asked[key[0]].append(index)
            else:
                asked[key[0]] = [index]
        questions: list[bytes] = []
        unasked: list[str] = []
        for name in asked:
            try:
                questions.append(_encode_question(name, rtype))
            except (ValueError, dns.exception.DNSException):
                # a name that cannot be encoded (label > 63 bytes…) cannot exist, as in _resolve
                unasked.append(name)
        for name in unasked:
            answer = Answer(name, rtype, Status.NXDOMAIN, ttl=DEFAULT_NEGATIVE_TTL)
            for index in asked.pop(name):
                answers[index] = answer
        if asked:
            channels = [self._channel(server) for server in self.nameservers]
            pipeline = Pipeline(
                questions,
                channels,
                window=self.concurrency,
                attempts=self.attempts,
                attempt_timeout=self._attempt_timeout,
                matches=_answers,
            )
            replies = await pipeline.run()
            self.stats.queries += pipeline.counters.queries
            self.stats.retries += pipeline.counters.retries
            self.stats.timeouts += pipeline.counters.timeouts
            for (name, indexes), wire in zip(asked.items(), replies, strict=True):
                if wire is None:
                    answer = Answer(name, rtype, Status.TIMEOUT)
                elif wire is TRUNCATED:
                    answer = await self.query(name, rtype)  # over TCP, as query() does
                else:
                    answer = await self._resolve_lean(name, rtype, (), wire)
                    self._remember((name, rtype), answer)
                for index in indexes:
                    answers[index] = answer
        return [a for a in answers if a is not None]

    async def _query_each(self, names: Sequence[str], rtype: str, workers: int = 128) -> list[Answer]:
        """`query` for each name through a fixed pool of workers (no task per name)."""
        answers: list[Answer | None] = [None] * len(names)
        cursor = iter(range(len(names)))

        async def worker() -> None:
            for index in cursor:
                answers[index] = await self.query(names[index], rtype)

        await asyncio.gather(*(worker() for _ in range(min(workers, len(names)) or 1)))
        return [a for a in answers if a is not None]

    def _remember(self, key: tuple[str, str], answer: Answer) -> None:
        if not answer.status.unknown:
            self._cache[key] = (time.monotonic() + answer.ttl, answer)
            if len(self._cache) > self.cache_size:
                del self._cache[next(iter(self._cache))]

    async def _exchange(self, name: str, rtype: str) -> bytes | None:
        """Send the query and return the raw reply to exactly our question, or None on timeout."""
        question = _encode_question(name, rtype)
        loop = asyncio.get_running_loop()
        async with self._semaphore:
            for attempt in range(self.attempts):
                server = self.nameservers[attempt % len(self.nameservers)]
                channel = self._channel(server)
                qid = random.randrange(1, 65536)
                while channel.taken(qid):
                    qid = random.randrange(1, 65536)
                future: asyncio.Future[bytes] = loop.create_future()
                channel.futures[qid] = future
                self.stats.queries += 1
                if attempt:
                    self.stats.retries += 1
                # call_later instead of wait_for: no extra task per query on the hot path
                timer = loop.call_later(self._attempt_timeout(attempt), _expire, future)
                try:
                    channel.send(_HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + question)
                    wire = await future
                except (TimeoutError, OSError):
                    self.stats.timeouts += 1
                    continue
                finally:
                    timer.cancel()
                    channel.futures.pop(qid, None)
                if not _answers(wire, question):
                    continue  # garbage, or a reply to someone else's question: ignore it
                if wire[2] & 0x02:  # TC: truncated, ask again over TCP
                    return await self._tcp(name, rtype, server)
                return wire
        return None

    async def _tcp(self, name: str, rtype: str, server: tuple[str, int]) -> bytes | None:
        import dns.asyncquery
        import dns.message

        query = dns.message.make_query(name, rtype)
        try:
            response = await dns.asyncquery.tcp(query, server[0], port=server[1], timeout=self.timeout)
        except (dns.exception.DNSException, OSError, EOFError, ValueError):
            # a peer that closes the connection mid-reply raises EOFError; every failure is `unknown`
            return None
        return response.to_wire()

    async def silence(self) -> str | None:
        """None when an upstream answers at all; else one sentence saying that none does.

        One query (the root's NS, past the cache): any reply counts, REFUSED or SERVFAIL included,
        since only a resolver that never replies makes every check of a run undetermined.
        """
        if await self._exchange(".", "NS") is not None:
            return None
        servers = ", ".join(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip, port in self.nameservers)
        tries = f"{self.attempts} tr{'y' if self.attempts == 1 else 'ies'}"
        return f"the resolver {servers} does not answer (no reply to {tries})"

    # helpers ------------------------------------------------------------------------------------
    async def txt(self, name: str) -> Answer:
        """TXT records."""
        return await self.query(name, "TXT")

    async def addresses(self, name: str) -> tuple[list[str], Status]:
        """A and AAAA of a host; the status is the better of the two."""
        a, aaaa = await asyncio.gather(self.query(name, "A"), self.query(name, "AAAA"))
        ips = a.values() + aaaa.values()
        if ips:
            return ips, Status.OK
        if a.status.unknown or aaaa.status.unknown:
            return [], a.status if a.status.unknown else aaaa.status
        return [], a.status


def _read_lean(name: str, rtype: str, chain: tuple[str, ...], raw: bytes) -> Answer | tuple[str, ...]:
    """The answer a reply gives (lean decoder), or the CNAME chain whose last name must be asked."""
    try:
        reply = wire_codec.decode(raw)
    except (ValueError, IndexError, struct.error):
        return Answer(name, rtype, Status.SERVFAIL, cnames=chain)
    status = _RCODES.get(reply.rcode)
    if status is None:
        return Answer(name, rtype, Status.SERVFAIL, cnames=chain)
    if status.unknown:
        return Answer(name, rtype, status, cnames=chain)
    wanted = wire_codec.TYPES[rtype]
    current, names, ttl = name, list(chain), None
    for _ in range(MAX_CNAME_DEPTH):
        values = [(t, v) for owner, kind, t, v in reply.answers if owner == current and kind == wanted]
        if values:
            ttl = min([t for t, _ in values] + ([ttl] if ttl is not None else []))
            data = tuple(v for _, v in values)
            return Answer(name, rtype, Status.OK, (), ttl, tuple(names), data)
        target = next(((t, v) for owner, kind, t, v in reply.answers if owner == current and kind == 5), None)
        if target is None or wanted == 5:
            break
        ttl = target[0] if ttl is None else min(ttl, target[0])
        current = target[1]
        if current == name or current in names or len(names) >= MAX_CNAME_DEPTH:
            return Answer(name, rtype, Status.CNAME_LOOP, cnames=tuple(names))
        names.append(current)
    if len(names) > len(chain):
        return tuple(names)
    negative = reply.negative_ttl if reply.negative_ttl is not None else DEFAULT_NEGATIVE_TTL
    return Answer(
        name, rtype, Status.NXDOMAIN if reply.rcode == 3 else Status.NODATA, ttl=negative, cnames=tuple(names)
    )


# --- the shared cache's encoding (JSON: a cache shared across processes must not unpickle) ----


def encode_answer(answer: Answer) -> str:
    """An answer as JSON: records in presentation format, decoded values as lists."""
    import json

    return json.dumps(
        {
            "name": answer.name,
            "rtype": answer.rtype,
            "status": answer.status.value,
            "records": [[dns.rdatatype.to_text(r.rdtype), r.to_text()] for r in answer.records],
            "ttl": answer.ttl,
            "cnames": list(answer.cnames),
            "data": [list(d) if isinstance(d, tuple) else d for d in answer.data],
        }
    )


def decode_answer(text: str) -> Answer:
    """The answer `encode_answer` wrote."""
    import json

    body = json.loads(text)
    return Answer(
        body["name"],
        body["rtype"],
        Status(body["status"]),
        tuple(dns.rdata.from_text(dns.rdataclass.IN, rtype, value) for rtype, value in body["records"]),
        int(body["ttl"]),
        tuple(body["cnames"]),
        tuple(tuple(d) if isinstance(d, list) else d for d in body["data"]),
    )
