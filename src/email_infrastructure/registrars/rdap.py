"""A small typed RDAP client on httpx: RFC 9224 bootstrap, RFC 9082 domain queries, RFC 9083 answers.

We do not use whoisit (nor whodap): whoisit keeps its bootstrap and its first HTTP session in module
globals and returns untyped dicts, and a monitoring loop needs neither shared global state nor
guessing at types (../shared/reference/registrars.md §6.5). This client is one object per run,
typed, and never raises for what a server answers: a 404 is `not_found`; a 429, a 5xx, a timeout,
a TLD without RDAP service or a hostile body (too big, not JSON, wrong types) is `unknown` with a
reason — never "expired".

The bootstrap source is IANA's `dns.json`, or `EMAIL_INFRA_RDAP_BOOTSTRAP` (a URL or a file path);
`EMAIL_INFRA_RDAP_CA` names a CA bundle to trust instead of the system's (a test registry on loopback).
"""

from __future__ import annotations

import json
import os
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from email_infrastructure.core.errors import ConfigError
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.registrars.rdap_model import (
    Lookup,
    LookupStatus,
    RdapShapeError,
    parse_domain,
    registrar_expiry,
)

IANA_BOOTSTRAP = "https://data.iana.org/rdap/dns.json"
BOOTSTRAP_ENV = "EMAIL_INFRA_RDAP_BOOTSTRAP"
CA_ENV = "EMAIL_INFRA_RDAP_CA"
MEDIA_TYPE = "application/rdap+json"
#: IANA republishes the file rarely; a day keeps one fetch per day per process (and per data dir)
BOOTSTRAP_TTL = 86400.0
#: IANA's dns.json is ~60 KB; a domain answer a few KB: anything far bigger is not an honest answer
MAX_BOOTSTRAP_BYTES = 4_000_000
MAX_ANSWER_BYTES = 512_000
DEFAULT_TIMEOUT = 10.0
#: how long a server that answered 429 without Retry-After is left alone
RATE_LIMIT_PAUSE = 60

#: test, documentation and local names: looking them up would only send a lab's names to IANA
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "internal"})
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})
#: source → (fetched at, TLD → base URLs): one bootstrap per process, whatever the number of clients
_BOOTSTRAPS: dict[str, tuple[float, dict[str, list[str]]]] = {}


class RdapUnavailable(Exception):
    """Why an answer could not be read (becomes an `unknown` lookup with this sentence)."""

    def __init__(self, reason: str, retry_after: int | None = None, *, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


def services(document: object) -> dict[str, list[str]]:
    """RFC 9224 `services` as TLD → base URLs (https first, each ending in `/`); RdapUnavailable if malformed."""
    entries = document.get("services") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise RdapUnavailable("the RDAP bootstrap file has no `services` list")
    found: dict[str, list[str]] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[0], list)):
            continue
        urls = (
            [u if u.endswith("/") else u + "/" for u in entry[1] if isinstance(u, str)]
            if isinstance(entry[1], list)
            else []
        )
        urls = sorted(
            (u for u in urls if u.startswith(("https://", "http://"))), key=lambda u: not u.startswith("https")
        )
        for label in entry[0]:
            if isinstance(label, str) and urls:
                found.setdefault(label.lower().strip("."), urls)
    if not found:
        raise RdapUnavailable("the RDAP bootstrap file maps no TLD to a server")
    return found


def reserved(name: str) -> bool:
    """True for names no registry serves (RFC 2606, RFC 6761): IANA's bootstrap cannot know them."""
    labels = name.split(".")
    return labels[-1] in RESERVED_TLDS or ".".join(labels[-2:]) in RESERVED_DOMAINS


def base_for(table: dict[str, list[str]], name: str) -> str | None:
    """The base URL for the longest label-wise suffix of `name` in the table (RFC 9224 §4)."""
    labels = name.split(".")
    for start in range(len(labels)):
        urls = table.get(".".join(labels[start:]))
        if urls:
            return urls[0]
    return None


@dataclass
class RdapClient:
    """Domain lookups through RDAP (one per run: it owns an httpx client; `async with` closes it)."""

    bootstrap: str = IANA_BOOTSTRAP
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: where the fetched bootstrap file is kept between runs (`<data dir>/cache`); None: memory only
    cache_dir: Path | None = None
    #: follow the registry's `related` link to the registrar's RDAP for its expiry
    follow_registrar: bool = True

    def __post_init__(self) -> None:
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            try:
                verify = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"{CA_ENV}: {self.ca_file} is not a readable CA bundle ({exc})") from None
        self._http = httpx.AsyncClient(
            timeout=self.timeout,
            verify=verify,
            follow_redirects=True,
            max_redirects=3,
            headers={"Accept": MEDIA_TYPE, "User-Agent": "email-infra RDAP client"},
        )
        #: base URL → (monotonic time until which it is not asked, why)
        self._blocked: dict[str, tuple[float, str]] = {}

    @classmethod
    def from_env(cls, cache_dir: Path | None = None, **options: Any) -> RdapClient:
        """The client the environment configures (`EMAIL_INFRA_RDAP_BOOTSTRAP`, `EMAIL_INFRA_RDAP_CA`)."""
        source = os.environ.get(BOOTSTRAP_ENV, "").strip() or IANA_BOOTSTRAP
        ca_file = os.environ.get(CA_ENV, "").strip() or None
        return cls(bootstrap=source, ca_file=ca_file, cache_dir=cache_dir, **options)

    async def __aenter__(self) -> RdapClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def lookup(self, name: str) -> Lookup:
        """What the registry says of `name`; never raises for an answer (see the module's docstring)."""
        try:
            name = normalise_domain(name)
        except ValueError as exc:
            return Lookup(name, LookupStatus.UNKNOWN, reason=f"not a domain name: {exc}")
        if self.bootstrap == IANA_BOOTSTRAP and reserved(name):
            return Lookup(
                name, LookupStatus.UNKNOWN, reason=f"{name} is under a reserved name (RFC 2606/6761): no registry"
            )
        try:
            base = base_for(await self.table(), name)
        except RdapUnavailable as exc:
            return Lookup(name, LookupStatus.UNKNOWN, reason=str(exc))
        if base is None:
            tld = name.rsplit(".", 1)[-1]
            return Lookup(name, LookupStatus.UNKNOWN, reason=f"no RDAP service for .{tld} in the bootstrap file")
        blocked = self._blocked.get(base)
        if blocked is not None and time.monotonic() < blocked[0]:
            # one 429 pauses every lookup at that server: asking again only prolongs the block
            return Lookup(name, LookupStatus.UNKNOWN, reason=blocked[1], server=base)
        try:
            status, body = await self._get(f"{base}domain/{name}")
            if status == 404:
                return Lookup(name, LookupStatus.NOT_FOUND, reason="the registry has no such domain (404)", server=base)
            registration = parse_domain(name, body)
        except RdapUnavailable as exc:
            if exc.rate_limited:
                self._blocked[base] = (time.monotonic() + (exc.retry_after or RATE_LIMIT_PAUSE), str(exc))
            return Lookup(name, LookupStatus.UNKNOWN, reason=str(exc), server=base, retry_after=exc.retry_after)
        except RdapShapeError as exc:
            return Lookup(name, LookupStatus.UNKNOWN, reason=f"the registry's answer is unreadable: {exc}", server=base)
        notes: tuple[str, ...] = ()
        if self.follow_registrar and registration.registrar_link:
            try:
                _, registrar_body = await self._get(registration.registrar_link)
                expiry = registrar_expiry(registrar_body)
                if expiry is not None:
                    registration = replace(registration, registrar_expires=expiry)
            except RdapUnavailable as exc:  # the registry's answer stands on its own
                notes = (f"the registrar's RDAP did not answer: {exc}",)
        return Lookup(name, LookupStatus.FOUND, registration, server=base, notes=notes)

    async def table(self) -> dict[str, list[str]]:
        """The bootstrap table (memory, then the cache file, then the source)."""
        cached = _BOOTSTRAPS.get(self.bootstrap)
        if cached is not None and time.time() - cached[0] < BOOTSTRAP_TTL:
            return cached[1]
        from_file = self._read_cache()
        if from_file is not None:
            _BOOTSTRAPS[self.bootstrap] = from_file
            return from_file[1]
        document = await self._bootstrap_document()
        table = services(document)
        _BOOTSTRAPS[self.bootstrap] = (time.time(), table)
        self._write_cache(document)
        return table

    async def _bootstrap_document(self) -> object:
        source = self.bootstrap
        if source.startswith(("https://", "http://")):
            status, body = await self._get(source, limit=MAX_BOOTSTRAP_BYTES, media="application/json")
            if status != 200:
                raise RdapUnavailable(f"the RDAP bootstrap file answered {status}")
            return body
        path = Path(source.removeprefix("file://"))
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_BOOTSTRAP_BYTES + 1)
        except OSError as exc:
            raise RdapUnavailable(f"the RDAP bootstrap file {path} cannot be read: {exc.strerror}") from None
        return _decode(raw, MAX_BOOTSTRAP_BYTES, "the RDAP bootstrap file")

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None or self.bootstrap != IANA_BOOTSTRAP:
            return None  # only IANA's file is kept on disk: an override is read each run
        return self.cache_dir / "rdap-dns.json"

    def _read_cache(self) -> tuple[float, dict[str, list[str]]] | None:
        path = self._cache_path()
        try:
            if path is None or time.time() - path.stat().st_mtime >= BOOTSTRAP_TTL:
                return None
            return path.stat().st_mtime, services(json.loads(path.read_bytes()[:MAX_BOOTSTRAP_BYTES]))
        except (OSError, ValueError, RecursionError, RdapUnavailable):
            return None  # a damaged cache is fetched again

    def _write_cache(self, document: object) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(document), encoding="utf-8")
        except OSError:
            pass  # a read-only data dir costs one fetch per run, nothing more

    async def _get(self, url: str, *, limit: int = MAX_ANSWER_BYTES, media: str = MEDIA_TYPE) -> tuple[int, object]:
        """(status, decoded JSON) for 200 and 404; RdapUnavailable for every other outcome."""
        where = httpx.URL(url).host
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code == 429:
                    wait = response.headers.get("Retry-After", "")
                    seconds = int(wait) if wait.isdigit() else None
                    after = f" (retry after {seconds} s)" if seconds is not None else ""
                    raise RdapUnavailable(f"{where} is rate limiting us (429){after}", seconds, rate_limited=True)
                if response.status_code == 404:
                    return 404, None
                if response.status_code != 200:
                    raise RdapUnavailable(f"{where} answered {response.status_code}")
                raw = bytearray()
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > limit:
                        raise RdapUnavailable(f"{where} sent more than {limit} bytes")
        except httpx.TimeoutException:
            raise RdapUnavailable(f"{where} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise RdapUnavailable(f"{where} could not be reached: {type(exc).__name__}") from None
        return 200, _decode(bytes(raw), limit, f"{where}'s answer")


def _decode(raw: bytes, limit: int, what: str) -> object:
    if len(raw) > limit:
        raise RdapUnavailable(f"{what} is larger than {limit} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise RdapUnavailable(f"{what} is not JSON") from None
