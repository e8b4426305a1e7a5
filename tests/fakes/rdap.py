"""A registry RDAP server on loopback HTTPS plus its RFC 9224 bootstrap file (../shared/reference/registrars.md §6).

Reproduces: `GET {base}domain/{name}` answers in the RFC 9083 shape of a Verisign answer (§6.2: upper-case
`ldhName`, status strings with spaces, RFC 3339 UTC event dates, a registrar entity with its IANA id,
nameservers, `rdapConformance`, `notices`; optionally a `related` link to a registrar answer at
`{base}registrar/domain/{name}` with a "registrar expiration" event), media type `application/rdap+json`, 404 for unknown names,
400 for a malformed name, 429 with `Retry-After` (RFC 7480 §5.3/§5.5) and the RFC 9083 §6 error body
`{errorCode, title, description}`. The bootstrap `dns.json` is served at `bootstrap_url` (a path of its
own, as if IANA's) and can be written to a file. **Chosen here** (servers differ, §6.4): error titles and
descriptions, no rate limit unless `rate_limit` is set (one window for every client: all are loopback),
names outside the served TLDs answer 404, a single-label name is malformed.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes.http_server import App
from tests.fakes.https_server import HttpsFakeServer, LoopbackTls
from tests.fakes.sequencer_base import Call, Limiter, ManualClock, ceil_seconds

MEDIA_TYPE = "application/rdap+json"
BOOTSTRAP_PATH = "/bootstrap/dns.json"
Response = tuple[int, dict[str, str], bytes]
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TITLES = {400: "Malformed query", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}


def rfc3339(moment: datetime) -> str:
    """`2021-08-13T04:00:00Z`, as registries write event dates."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RdapDomain:
    """What the registry knows of one name; `answer()` renders it as RFC 9083 JSON."""

    name: str
    registered: datetime
    expires: datetime
    last_changed: datetime | None = None
    #: RDAP status strings (spaces, not EPP camelCase), e.g. "server hold", "client transfer prohibited"
    status: list[str] = field(default_factory=lambda: ["client transfer prohibited"])
    registrar: str = "Porkbun LLC"
    registrar_iana_id: str = "1861"
    nameservers: list[str] = field(default_factory=lambda: ["curitiba.ns.porkbun.com", "fortaleza.ns.porkbun.com"])
    handle: str = ""
    #: further events as (eventAction, when), e.g. ("transfer", …)
    extra_events: list[tuple[str, datetime]] = field(default_factory=list)
    #: when set, the registry answer links (`rel: related`) to the registrar's RDAP, which adds a
    #: "registrar expiration" event with this date (the expiry truth during auto-renew, §6.3)
    registrar_expires: datetime | None = None

    def answer(self, base_url: str, updated: datetime, *, registrar_view: bool = False) -> dict[str, Any]:
        """The RFC 9083 domain object (upper-case names, as Verisign writes them); the registrar's when asked."""
        ldh = self.name.upper()
        events = [("registration", self.registered), ("expiration", self.expires)]
        if self.last_changed is not None:
            events.append(("last changed", self.last_changed))
        if registrar_view and self.registrar_expires is not None:
            events.append(("registrar expiration", self.registrar_expires))
        events += [*self.extra_events, ("last update of RDAP database", updated)]
        prefix = f"{base_url}registrar/" if registrar_view else base_url
        links = [{"rel": "self", "href": f"{prefix}domain/{ldh}", "type": MEDIA_TYPE}]
        if self.registrar_expires is not None and not registrar_view:
            links.append({"rel": "related", "href": f"{base_url}registrar/domain/{ldh}", "type": MEDIA_TYPE})
        return {
            "objectClassName": "domain",
            "handle": self.handle or f"{zlib.crc32(self.name.encode())}_DOMAIN_{ldh.rsplit('.', 1)[-1]}-TEST",
            "ldhName": ldh,
            "links": links,
            "status": list(self.status),
            "entities": [
                {
                    "objectClassName": "entity",
                    "handle": self.registrar_iana_id,
                    "roles": ["registrar"],
                    "publicIds": [{"type": "IANA Registrar ID", "identifier": self.registrar_iana_id}],
                    "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", self.registrar]]],
                }
            ],
            "events": [{"eventAction": action, "eventDate": rfc3339(when)} for action, when in events],
            "secureDNS": {"delegationSigned": False},
            "nameservers": [{"objectClassName": "nameserver", "ldhName": ns.upper()} for ns in self.nameservers],
            "rdapConformance": [
                "rdap_level_0",
                "icann_rdap_technical_implementation_guide_0",
                "icann_rdap_response_profile_0",
            ],
            "notices": [
                {
                    "title": "Terms of Use",
                    "description": ["Test data served on loopback; no registry stands behind it."],
                    "links": [{"rel": "terms-of-service", "href": f"{base_url}help", "type": "text/html"}],
                }
            ],
        }


def normalize(name: str) -> str | None:
    """The lower-case A-label form of a queried name, or None when it is malformed (→ 400)."""
    name = name.rstrip(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return ascii_name


@dataclass
class FakeRdap:
    """The registry's RDAP (one server for `tlds`) and the bootstrap file that points at it."""

    tls: LoopbackTls
    tlds: tuple[str, ...] = ("test",)
    domains: dict[str, RdapDomain] = field(default_factory=dict)
    #: the next N domain queries answer 429 (then normal again), whatever the limit
    throttle_next: int = 0
    #: the Retry-After of `throttle_next` answers
    retry_after: int = 30
    #: (queries, seconds) allowed per window on `clock`; None = unlimited
    rate_limit: tuple[int, float] | None = None
    #: explicit statuses (e.g. 500, 503) for the next domain queries, in order
    next_statuses: list[int] = field(default_factory=list)
    clock: ManualClock = field(default_factory=ManualClock)
    log: list[Call] = field(default_factory=list)
    #: when the "last update of RDAP database" event says the data was refreshed
    updated: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    server: HttpsFakeServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _limiter: Limiter | None = None

    # test helpers ----------------------------------------------------------------------------
    def add_domain(self, name: str, registered: datetime, expires: datetime, **fields: Any) -> RdapDomain:
        """Register `name` (any RdapDomain field by keyword); returns the model for later edits."""
        key = normalize(name)
        if key is None:
            raise ValueError(f"not a domain name: {name!r}")
        domain = RdapDomain(key, registered, expires, **fields)
        self.domains[key] = domain
        return domain

    @property
    def url(self) -> str:
        """The RDAP base URL (ends with `/`, as RFC 9224 base URLs do)."""
        if self.server is None:
            raise RuntimeError("the fake is not serving: use `with fake.serve():`")
        return f"{self.server.url}/"

    @property
    def ca_path(self) -> Path:
        """The CA file a client must trust (`verify=` for httpx/requests, `cafile=` for ssl)."""
        return self.tls.ca_path

    @property
    def bootstrap_url(self) -> str:
        """Where the RFC 9224 `dns.json` is served (a client's overridable bootstrap source)."""
        return f"{self.url.rstrip('/')}{BOOTSTRAP_PATH}"

    def bootstrap(self) -> dict[str, Any]:
        """The RFC 9224 document mapping `tlds` to this server."""
        return {
            "version": "1.0",
            "publication": rfc3339(self.updated),
            "description": "Loopback RDAP bootstrap for tests",
            "services": [[list(self.tlds), [self.url]]],
        }

    def write_bootstrap(self, path: Path) -> Path:
        """Write `dns.json` to `path` (a client reading its bootstrap from a file)."""
        path.write_text(json.dumps(self.bootstrap()), encoding="utf-8")
        return path

    def calls(self, contains: str = "") -> list[Call]:
        """Logged requests whose decoded path contains `contains`."""
        return [call for call in self.log if contains in call.path]

    def serve(self) -> HttpsFakeServer:
        """Start answering on loopback HTTPS (enter the result; `url` works once entered)."""
        app: App = self
        self.server = HttpsFakeServer(app, self.tls.context)
        return self.server

    # the server ------------------------------------------------------------------------------
    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        with self._lock:
            answer = self._answer(method, unquote(path))
            self.log.append(Call(method, unquote(path), answer[0]))
        return answer

    def _answer(self, method: str, path: str) -> Response:
        if path == BOOTSTRAP_PATH:  # IANA's file: not counted by the registry's limits
            return 200, {"Content-Type": "application/json"}, json.dumps(self.bootstrap()).encode()
        if method != "GET":
            return error(405, "Only GET is supported.")
        registrar_view = path.startswith("/registrar/domain/")
        path = path.removeprefix("/registrar")
        if not path.startswith("/domain/"):
            return error(400, f"Unsupported query path {path}.")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return error(429, "Query rate exceeded.", {"Retry-After": str(self.retry_after)})
        if self.rate_limit is not None:
            self._limiter = self._limiter or Limiter(self.clock)
            wait = self._limiter.hit("all", (self.rate_limit,))[0]
            if wait is not None:
                return error(429, "Query rate exceeded.", {"Retry-After": str(ceil_seconds(wait))})
        if self.next_statuses:
            return error(self.next_statuses.pop(0), "Injected failure.")
        name = normalize(path.removeprefix("/domain/"))
        if name is None:
            return error(400, "The domain name is not a valid LDH or U-label name.")
        domain = self.domains.get(name)
        if domain is None or name.rsplit(".", 1)[-1] not in self.tlds:
            return error(404, "The domain is not registered in this registry.")
        if registrar_view and domain.registrar_expires is None:
            return error(404, "The registrar has no RDAP answer for this domain.")
        payload = json.dumps(domain.answer(self.url, self.updated, registrar_view=registrar_view)).encode()
        return 200, {"Content-Type": MEDIA_TYPE, "Access-Control-Allow-Origin": "*"}, payload


def error(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """An RFC 9083 §6 error answer."""
    body = {
        "errorCode": status,
        "title": _TITLES.get(status, "Error"),
        "description": [description],
        "rdapConformance": ["rdap_level_0"],
    }
    return status, {"Content-Type": MEDIA_TYPE, **(headers or {})}, json.dumps(body).encode()
