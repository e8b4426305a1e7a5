"""The mail host's certificates: implicit TLS on 465/993, STARTTLS on 25/587."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

from email_infrastructure.monitoring.checks.mta_sts import tls_context
from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.findings import CheckResult

WARN_DAYS, ERROR_DAYS = 21, 7


async def _smtp_line(reader: asyncio.StreamReader, timeout: float) -> str:
    """Read one full SMTP reply (multi-line replies end with 'NNN ')."""
    lines = []
    while True:
        line = (await asyncio.wait_for(reader.readline(), timeout)).decode("latin-1")
        if not line:
            raise ConnectionError("connection closed")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "".join(lines)


async def _peer_cert(host: str, ip: str, port: int, ctx: AuditContext, verify: bool) -> bytes:
    context = tls_context(ctx)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    timeout = ctx.options.connect_timeout
    if port in ctx.options.smtp_ports:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
        try:
            if not (await _smtp_line(reader, timeout)).startswith("220"):
                raise ConnectionError("no SMTP greeting")
            writer.write(b"EHLO email-infra.invalid\r\n")
            if "STARTTLS" not in (await _smtp_line(reader, timeout)).upper():
                raise ConnectionError("STARTTLS is not offered")
            writer.write(b"STARTTLS\r\n")
            if not (await _smtp_line(reader, timeout)).startswith("220"):
                raise ConnectionError("STARTTLS was refused")
            await asyncio.wait_for(writer.start_tls(context, server_hostname=host), timeout)
            ssl_object = writer.get_extra_info("ssl_object")
            der: bytes = ssl_object.getpeercert(binary_form=True)
            return der
        finally:
            writer.close()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(ip, port, ssl=context, server_hostname=host), timeout
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return der
    finally:
        writer.close()


async def check_tls(host: str, ip: str, ctx: AuditContext, now: datetime | None = None) -> CheckResult:
    """Validity, name match and expiry of the certificate on every mail port."""
    from cryptography import x509

    result = CheckResult("tls")
    now = now or datetime.now(UTC)
    ports = [*ctx.options.smtp_ports, *ctx.options.tls_ports]
    reachable = 0
    for port in ports:
        try:
            try:
                der = await _peer_cert(host, ip, port, ctx, verify=True)
            except ssl.SSLCertVerificationError as exc:
                kind = "tls.name_mismatch" if exc.verify_code == 62 else "tls.untrusted"
                result.error(kind, f"{host}:{port}: {exc.verify_message}")
                der = await _peer_cert(host, ip, port, ctx, verify=False)
        except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            result.warn("tls.unreachable", f"{host}:{port}: {type(exc).__name__}: {exc}")
            continue
        reachable += 1
        cert = x509.load_der_x509_certificate(der)
        left = (cert.not_valid_after_utc - now).days
        evidence = [f"{host}:{port} expires {cert.not_valid_after_utc:%Y-%m-%d}"]
        if cert.not_valid_after_utc <= now:
            result.error(
                "tls.expired",
                f"{host}:{port}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                evidence,
            )
        elif left < ERROR_DAYS:
            result.error("tls.expiring", f"{host}:{port}: the certificate expires in {left} days", evidence)
        elif left < WARN_DAYS:
            result.warn("tls.expiring", f"{host}:{port}: the certificate expires in {left} days", evidence)
        if cert.not_valid_before_utc > now:
            result.error("tls.not_yet_valid", f"{host}:{port}: the certificate is not valid yet", evidence)
    if reachable == 0:
        result.unknown = True
    return result
