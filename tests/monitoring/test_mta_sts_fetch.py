"""The MTA-STS policy over real HTTPS on loopback: chunked bodies, redirects, size and time bounds."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from email_infrastructure.monitoring.checks.mta_sts import MAX_POLICY_BYTES, check_mta_sts
from email_infrastructure.monitoring.context import AuditContext, AuditOptions, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult, CheckStatus
from tests.fixtures.tls import Authority, port_of

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.good.test\r\nmax_age: 604800\r\n"
TARGET = DomainTarget("good.test", mta_sts_expected=True)

Respond = Callable[[asyncio.StreamWriter], Awaitable[None]]


class Seen:
    """What the server saw of each request: the SNI name and the request head."""

    def __init__(self) -> None:
        self.sni: list[str | None] = []
        self.heads: list[str] = []


@asynccontextmanager
async def policy_server(context: ssl.SSLContext, respond: Respond) -> AsyncIterator[tuple[int, Seen]]:
    """An HTTPS server on 127.0.0.1 that reads one request head and lets `respond` answer it."""
    seen = Seen()
    context.sni_callback = lambda _sock, name, _ctx: seen.sni.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen.heads.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
            await respond(writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield port_of(server), seen
    finally:
        server.close()


async def chunked(writer: asyncio.StreamWriter, pieces: list[bytes]) -> None:
    """Send `pieces` as HTTP/1.1 chunks, each flushed on its own."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
    await writer.drain()
    for piece in pieces:
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def run(
    ctx: AuditContext, tmp_path: Path, respond: Respond, connect_timeout: float = 5.0
) -> tuple[CheckResult, Seen]:
    ca = Authority.create(tmp_path)
    async with policy_server(ca.server_context(tmp_path, "mta-sts.good.test"), respond) as (port, seen):
        ctx.options = AuditOptions(https_port=port, ca_file=ca.path, connect_timeout=connect_timeout)
        result = await check_mta_sts(TARGET, ctx, ["mail.good.test"])
    return result, seen


async def test_a_policy_served_chunked_is_read_whole(ctx: AuditContext, tmp_path: Path) -> None:
    data = POLICY.encode()
    # split inside lines, one byte at a time at the start: a reader that stops early or keeps the
    # chunk-size lines sees an invalid policy and no mx line
    pieces = [data[:1], data[1:2], data[2:20], data[20:45], data[45:]]
    result, seen = await run(ctx, tmp_path, lambda w: chunked(w, pieces))
    assert result.status is CheckStatus.OK, result.to_json()
    assert result.ids() == set()
    # connected to the resolver's address (127.0.0.1) but spoke to the policy host
    assert seen.sni == ["mta-sts.good.test"]
    assert seen.heads[0].startswith("GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
    assert "\r\nhost: mta-sts.good.test" in seen.heads[0].lower()


async def test_a_redirect_is_not_followed(ctx: AuditContext, tmp_path: Path) -> None:
    async def redirect(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://mta-sts.good.test/elsewhere.txt\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        await writer.drain()

    result, seen = await run(ctx, tmp_path, redirect)
    assert result.ids() == {"mta_sts.policy_unreachable"}
    assert result.status is CheckStatus.ERROR
    message = result.findings[0].message
    assert "301" in message and "redirect" in message
    assert len(seen.heads) == 1  # one request: the Location was not fetched


async def test_a_policy_over_the_size_bound_is_refused(ctx: AuditContext, tmp_path: Path) -> None:
    # a valid policy followed by more blank lines than the bound: only a reader without the bound
    # (or one that silently truncates) would accept it
    filler = b"\r\n" * 4096
    pieces = [POLICY.encode()] + [filler] * (MAX_POLICY_BYTES // len(filler) + 4)
    result, _ = await run(ctx, tmp_path, lambda w: chunked(w, pieces))
    assert result.ids() == {"mta_sts.policy_invalid"}
    assert "larger than" in result.findings[0].message


async def test_a_policy_that_never_ends_is_bounded_in_time(ctx: AuditContext, tmp_path: Path) -> None:
    stop = asyncio.Event()

    async def stall(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nversion: STSv1\r\n")
        await writer.drain()
        await stop.wait()

    try:
        result, _ = await run(ctx, tmp_path, stall, connect_timeout=0.3)
    finally:
        stop.set()
    assert result.status is CheckStatus.UNKNOWN
    assert result.ids() == {"mta_sts.policy_unreachable"}


async def test_a_certificate_for_another_name_is_a_certificate_error(ctx: AuditContext, tmp_path: Path) -> None:
    ca = Authority.create(tmp_path)

    async def ok(writer: asyncio.StreamWriter) -> None:
        await chunked(writer, [POLICY.encode()])

    async with policy_server(ca.server_context(tmp_path, "www.good.test"), ok) as (port, _):
        ctx.options = AuditOptions(https_port=port, ca_file=ca.path)
        result = await check_mta_sts(TARGET, ctx, ["mail.good.test"])
    assert result.ids() == {"mta_sts.certificate"}
    assert "mta-sts.good.test" in result.findings[0].message
