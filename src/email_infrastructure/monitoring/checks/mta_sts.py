"""MTA-STS (RFC 8461): the _mta-sts TXT and the policy file over HTTPS; TLS-RPT (RFC 8460)."""

from __future__ import annotations

import asyncio
import re
import ssl

from email_infrastructure.monitoring.checks.dkim import parse_tags
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult

_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
MAX_POLICY_BYTES = 64 * 1024


def tls_context(ctx: AuditContext) -> ssl.SSLContext:
    """Certificate-verifying TLS (the configured CA file, else the system store)."""
    context = ssl.create_default_context(cafile=str(ctx.options.ca_file) if ctx.options.ca_file else None)
    return context


class PolicyTooLarge(Exception):
    """The policy body is over MAX_POLICY_BYTES (a sender limits the policy size, RFC 8461 §3.3)."""


async def fetch_policy(host: str, ip: str, ctx: AuditContext) -> tuple[int, str]:
    """GET https://`host`/.well-known/mta-sts.txt, connecting to `ip` (our resolver's answer).

    SNI, certificate verification and the Host header are for `host`; redirects are not followed
    (RFC 8461 §3.3: the status is returned as it is), the body is read to its end (chunked or not)
    up to MAX_POLICY_BYTES, and the whole fetch is bounded by the connect timeout.
    """
    import httpx

    netloc = f"[{ip}]" if ":" in ip else ip
    url = f"https://{netloc}:{ctx.options.https_port}/.well-known/mta-sts.txt"
    limit = ctx.options.connect_timeout
    async with (
        asyncio.timeout(limit),
        httpx.AsyncClient(
            verify=tls_context(ctx),
            follow_redirects=False,
            trust_env=False,  # no proxies from the environment: the address is the one we resolved
            timeout=httpx.Timeout(limit),
        ) as client,
        client.stream(
            "GET",
            url,
            headers={"Host": host, "Accept": "text/plain"},
            extensions={"sni_hostname": host},
        ) as response,
    ):
        body = bytearray()
        if response.status_code == 200:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_POLICY_BYTES:
                    raise PolicyTooLarge(f"the policy is larger than {MAX_POLICY_BYTES // 1024} KiB")
        return response.status_code, body.decode("utf-8", "replace")


def _verify_error(exc: BaseException) -> str | None:
    """The certificate verification message inside `exc` (httpx wraps the ssl error), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message)
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: BaseException) -> str:
    """A short reason for a failed fetch (the timeout has no message of its own)."""
    import httpx

    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "no answer within the time limit"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def parse_policy(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(fields, mx patterns, problems)."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    problems = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            problems.append(f"line {line!r} is not key: value")
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            fields[key] = value
    if fields.get("version") != "STSv1":
        problems.append("version must be STSv1")
    if fields.get("mode") not in ("enforce", "testing", "none"):
        problems.append("mode must be enforce, testing or none")
    age = fields.get("max_age", "")
    if not age.isdigit() or int(age) > 31557600:
        problems.append("max_age must be 0..31557600")
    if fields.get("mode") != "none" and not mx:
        problems.append("at least one mx: line is required")
    return fields, mx, problems


def mx_matches(host: str, pattern: str) -> bool:
    """RFC 8461 §4.1: exact, or `*.` matching exactly one left-most label."""
    if pattern.startswith("*."):
        return host.count(".") >= pattern.count(".") and host.split(".", 1)[1] == pattern[2:]
    return host == pattern


async def tagged_records(ctx: AuditContext, result: CheckResult, name: str, version: str) -> list[str] | None:
    """TXT records at `name` starting with `version`; None (result unknown) when DNS did not answer.

    More than one is an error (`<check>.multiple_records`): receivers ignore them all.
    """
    answer = await ctx.resolver.txt(name)
    if answer.status.unknown:
        result.cannot_tell(f"{result.check}.unknown", f"the query for {name} did not answer")
        return None
    records = [t for t in answer.texts() if t.startswith(version)]
    if len(records) > 1:
        result.error(f"{result.check}.multiple_records", f"{name} has {len(records)} {version} records", records)
    return records


async def check_mta_sts(target: DomainTarget, ctx: AuditContext, mx_hosts: list[str]) -> CheckResult:
    """The MTA-STS check."""
    result = CheckResult("mta_sts")
    records = await tagged_records(ctx, result, f"_mta-sts.{target.name}", "v=STSv1")
    if records is None:
        return result
    if not records:
        if target.mta_sts_expected:
            result.error("mta_sts.missing", f"no MTA-STS record at _mta-sts.{target.name}")
        else:
            result.info("mta_sts.missing", "MTA-STS is not published (optional)")
        return result
    tags = parse_tags(records[0])
    if not _ID.match(tags.get("id", "")):
        result.error("mta_sts.invalid_id", "id= must be 1 to 32 letters or digits", records)
    host = f"mta-sts.{target.name}"
    addresses = (await ctx.resolver.query(host, "A")).values() + (await ctx.resolver.query(host, "AAAA")).values()
    if not addresses:
        result.error("mta_sts.policy_unreachable", f"{host} has no address: the policy cannot be fetched")
        return result
    url = f"https://{host}/.well-known/mta-sts.txt"
    # httpx is imported here, not at the top: only a domain with a policy pays for it (start-up)
    import httpx

    try:
        status, body = await fetch_policy(host, addresses[0], ctx)
    except PolicyTooLarge as exc:
        result.error("mta_sts.policy_invalid", f"{url}: {exc}")
        return result
    except (httpx.HTTPError, OSError, TimeoutError, ssl.SSLError) as exc:
        verify = _verify_error(exc)
        if verify is not None:
            result.error("mta_sts.certificate", f"https://{host}: the certificate does not verify: {verify}")
        else:
            result.cannot_tell("mta_sts.policy_unreachable", f"https://{host}: {_describe(exc)}")
        return result
    if 300 <= status < 400:
        result.error(
            "mta_sts.policy_unreachable",
            f"{url} answered HTTP {status} (a redirect): RFC 8461 forbids following redirects for the policy",
        )
        return result
    if status != 200:
        result.error("mta_sts.policy_unreachable", f"{url} answered HTTP {status}")
        return result
    fields, patterns, problems = parse_policy(body)
    for problem in problems:
        result.error("mta_sts.policy_invalid", problem, [body])
    mode = fields.get("mode")
    if mode == "testing":
        result.info("mta_sts.mode_testing", "mode: testing reports failures but does not enforce TLS")
    elif mode == "none":
        result.warn("mta_sts.mode_none", "mode: none withdraws the policy")
    for mx in mx_hosts:
        if patterns and not any(mx_matches(mx, p) for p in patterns):
            result.error("mta_sts.mx_mismatch", f"the MX host {mx} is not allowed by the policy", patterns)
    return result


async def check_tls_rpt(target: DomainTarget, ctx: AuditContext) -> CheckResult:
    """The TLS-RPT check."""
    result = CheckResult("tls_rpt")
    records = await tagged_records(ctx, result, f"_smtp._tls.{target.name}", "v=TLSRPTv1")
    if records is None:
        return result
    if not records:
        severity_warn = target.mta_sts_expected
        (result.warn if severity_warn else result.info)("tls_rpt.missing", "no TLS-RPT record at _smtp._tls")
        return result
    rua = parse_tags(records[0]).get("rua", "")
    uris = [u.strip() for u in rua.split(",") if u.strip()]
    if not uris or not all(u.startswith(("mailto:", "https://")) for u in uris):
        result.error("tls_rpt.invalid", "rua= must list mailto: or https: URIs", records)
    return result


async def check_bimi(target: DomainTarget, ctx: AuditContext) -> CheckResult:
    """BIMI record syntax at default._bimi (the logo and certificate are not fetched)."""
    result = CheckResult("bimi")
    records = await tagged_records(ctx, result, f"default._bimi.{target.name}", "v=BIMI1")
    if records is None:
        return result
    if not records:
        result.info("bimi.missing", "no BIMI record (optional)")
        return result
    tags = parse_tags(records[0])
    logo, authority = tags.get("l", ""), tags.get("a", "")
    if logo and not (logo.startswith("https://") and logo.lower().endswith(".svg")):
        result.error("bimi.invalid", "l= must be an https:// URL of an SVG file", records)
    if authority and not authority.startswith("https://"):
        result.error("bimi.invalid", "a= must be an https:// URL of a VMC/CMC certificate", records)
    if not logo and not authority:
        result.info("bimi.declined", "the record declines BIMI (empty l= and a=)", records)
    return result
