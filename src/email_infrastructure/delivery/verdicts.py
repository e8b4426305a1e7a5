"""The receiving side's verdicts on one message: SPF (RFC 7208), DKIM (RFC 6376) and DMARC
(RFC 7489 / RFC 9989) checked against the published DNS.

DNS comes from the caller (`VerifierDns`): its resolver (so any nameserver:port works), its SPF
walker and its Public Suffix List. DKIM is checked by dkimpy, fed only the key records fetched here.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from enum import StrEnum
from types import ModuleType
from typing import Any, Protocol

from email_infrastructure.core.errors import UserError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: the SPF qualifier of the first matching term → its result (RFC 7208 §4.6.2, §2.6)
_SPF_RESULTS = {
    "+": "pass",
    "-": "fail",
    "~": "softfail",
    "?": "neutral",
    "unknown": "temperror",
    "error": "permerror",
}


@dataclass(frozen=True)
class TxtAnswer:
    """The TXT strings of a name (joined per record), or why the server did not answer."""

    texts: list[str] = field(default_factory=list)
    #: the DNS status (timeout, servfail...) when the answer says nothing about the name
    error: str | None = None


@dataclass(frozen=True)
class SpfWalk:
    """An SPF record evaluated for one IP: the first matching term's qualifier and why, or why it stopped."""

    qualifier: str = "?"
    why: str = ""
    #: the evaluation could not finish (too many lookups, a broken include...): the problems
    stopped: str | None = None


class VerifierDns(Protocol):
    """What the verifier asks of DNS."""

    async def txt(self, name: str) -> TxtAnswer:
        """The TXT records at `name`."""
        ...

    def spf_records(self, texts: list[str]) -> list[str]:
        """The strings among `texts` that are SPF records."""
        ...

    async def walk_spf(self, domain: str, record: str, ip: Address) -> SpfWalk:
        """`domain`'s SPF `record` evaluated for `ip` (includes and redirects followed)."""
        ...

    def organizational_domain(self, name: str) -> str:
        """The registrable domain of `name`."""
        ...


class AuthStatus(StrEnum):
    """How a message's authentication came out: `unknown` when DNS could not be asked."""

    PASS = "pass"  # noqa: S105  # a status word, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    """One mechanism's result (its RFC word: pass, fail, softfail, none, temperror...)."""

    result: str
    domain: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"result": self.result, "domain": self.domain, "detail": self.detail}


@dataclass
class Verification:
    """SPF, every DKIM signature, and DMARC of one received message."""

    spf: Verdict
    dmarc: Verdict
    dkim: list[Verdict] = field(default_factory=list)

    @property
    def status(self) -> AuthStatus:
        """Pass when each of SPF, DKIM and DMARC passed; unknown when DNS failed; fail otherwise."""
        results = {self.spf.result, self.dmarc.result, *(d.result for d in self.dkim)}
        if not self.dkim or results - {"pass", "temperror"}:
            return AuthStatus.FAIL
        return AuthStatus.UNKNOWN if "temperror" in results else AuthStatus.PASS

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "status": self.status.value,
            "spf": self.spf.to_json(),
            "dkim": [d.to_json() for d in self.dkim],
            "dmarc": self.dmarc.to_json(),
        }


def dkimpy() -> ModuleType:
    """The dkimpy module; a user error naming the extra when it is not installed."""
    try:
        import dkim
    except ImportError:
        # dkimpy is in the `dev` extra: production mail is signed and verified by the mail servers
        raise UserError("DKIM signing and verification need dkimpy: pip install 'email-infrastructure[dev]'") from None
    module: ModuleType = dkim  # untyped package: name the type it has
    return module


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


async def check_spf(dns: VerifierDns, ip: str, mail_from: str, helo: str) -> Verdict:
    """SPF of the MAIL FROM domain (the HELO name for a null sender) for the connecting IP."""
    domain = _domain_of(mail_from) if mail_from else helo.lower().rstrip(".")
    answer = await dns.txt(domain)
    if answer.error is not None:
        return Verdict("temperror", domain, f"TXT {domain} did not answer ({answer.error})")
    records = dns.spf_records(answer.texts)
    if not records:
        return Verdict("none", domain, "no SPF record")
    if len(records) > 1:
        return Verdict("permerror", domain, f"{len(records)} SPF records")
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # compared as IPv4 (RFC 7208 §5)
    walk = await dns.walk_spf(domain, records[0], address)
    if walk.stopped is not None:
        return Verdict("permerror", domain, walk.stopped)
    return Verdict(_SPF_RESULTS[walk.qualifier], domain, walk.why or f"{ip} against {records[0]!r}")


def _signature_tags(value: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, content = part.partition("=")
        if sep:
            tags[name.strip()] = "".join(content.split())
    return tags


async def check_dkim(dns: VerifierDns, raw: bytes, message: Message) -> list[Verdict]:
    """Every DKIM-Signature verified against the key its `s=` and `d=` name."""
    dkim = dkimpy()

    signatures = [_signature_tags(str(v)) for v in message.get_all("DKIM-Signature") or []]
    keys: dict[bytes, bytes | None] = {}
    verdicts: list[Verdict] = []
    for index, tags in enumerate(signatures):
        domain, selector = tags.get("d", "").lower(), tags.get("s", "")
        if not domain or not selector:
            verdicts.append(Verdict("permerror", domain, "the signature names no d= or no s="))
            continue
        name = f"{selector}._domainkey.{domain}"
        answer = await dns.txt(name)
        if answer.error is not None:
            verdicts.append(Verdict("temperror", domain, f"TXT {name} did not answer ({answer.error})"))
            continue
        texts = answer.texts
        keys[f"{name}.".encode()] = keys[name.encode()] = texts[0].encode() if len(texts) == 1 else None

        def lookup(qname: bytes, timeout: float = 5) -> bytes | None:
            """dkimpy's DNS callback: only the records fetched above."""
            return keys.get(qname)

        verifier = dkim.DKIM(raw)
        try:
            ok = bool(await asyncio.to_thread(verifier.verify, index, lookup))
        except dkim.ValidationError as exc:
            # a changed body is a signature that does not verify (RFC 6376 §3.7), not a broken one
            result = "fail" if "body hash mismatch" in str(exc) else "permerror"
            verdicts.append(Verdict(result, domain, str(exc)))
            continue
        except dkim.DKIMException as exc:
            verdicts.append(Verdict("permerror", domain, str(exc)))
            continue
        if ok:
            verdicts.append(Verdict("pass", domain, f"s={selector}"))
        elif not texts:
            verdicts.append(Verdict("permerror", domain, f"no key at {name}"))
        else:
            verdicts.append(Verdict("fail", domain, f"s={selector}: signature does not verify"))
    return verdicts


def _aligned(dns: VerifierDns, one: str, other: str, mode: str) -> bool:
    """Strict: the same name; relaxed: the same organizational domain."""
    if mode == "s":
        return one == other
    return dns.organizational_domain(one) == dns.organizational_domain(other)


async def _dmarc_record(dns: VerifierDns, domain: str) -> tuple[str | None, str, str | None]:
    """(record, where it was found, an error) at the domain, else at its organizational domain."""
    candidates = [domain]
    org = dns.organizational_domain(domain)
    if org != domain:
        candidates.append(org)
    for name in candidates:
        answer = await dns.txt(f"_dmarc.{name}")
        if answer.error is not None:
            return None, name, f"TXT _dmarc.{name} did not answer ({answer.error})"
        records = [t for t in answer.texts if t.strip().lower().startswith("v=dmarc1")]
        if len(records) == 1:
            return records[0], name, None
        if len(records) > 1:
            return None, name, f"{len(records)} DMARC records at _dmarc.{name}"
    return None, domain, None


async def check_dmarc(dns: VerifierDns, message: Message, spf: Verdict, dkim: list[Verdict]) -> Verdict:
    """DMARC of the From domain: pass when an aligned SPF or DKIM pass exists."""
    froms = [a for _, a in email.utils.getaddresses(message.get_all("From") or []) if a]
    if len(froms) != 1:
        return Verdict("permerror", "", f"{len(froms)} From addresses (DMARC needs exactly one)")
    domain = _domain_of(froms[0])
    record, found_at, error = await _dmarc_record(dns, domain)
    if error is not None:
        return Verdict("temperror" if "did not answer" in error else "permerror", domain, error)
    if record is None:
        return Verdict("none", domain, "no DMARC record")
    tags = {k.lower(): v.lower() for k, v in _signature_tags(record).items()}
    policy = tags.get("sp", tags.get("p", "none")) if found_at != domain else tags.get("p", "none")
    spf_ok = spf.result == "pass" and _aligned(dns, spf.domain, domain, tags.get("aspf", "r"))
    dkim_ok = [d.domain for d in dkim if d.result == "pass" and _aligned(dns, d.domain, domain, tags.get("adkim", "r"))]
    aligned = [*(["spf"] if spf_ok else []), *(f"dkim d={d}" for d in dkim_ok)]
    if aligned:
        return Verdict("pass", domain, f"aligned: {', '.join(aligned)}; p={policy}")
    if "temperror" in {spf.result, *(d.result for d in dkim)}:
        # an aligned pass may be what DNS did not answer (RFC 7489 §6.6.2)
        return Verdict("temperror", domain, f"SPF or DKIM could not be evaluated; p={policy}")
    return Verdict("fail", domain, f"no aligned SPF or DKIM pass; p={policy}")


async def verify_message(raw: bytes, *, ip: str, mail_from: str, helo: str, dns: VerifierDns) -> Verification:
    """SPF, DKIM and DMARC of a message as received from `ip` with this envelope and HELO."""
    message = message_from_bytes(raw)
    spf = await check_spf(dns, ip, mail_from, helo)
    dkim = await check_dkim(dns, raw, message)
    dmarc = await check_dmarc(dns, message, spf, dkim)
    return Verification(spf, dmarc, dkim)
