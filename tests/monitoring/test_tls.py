"""TLS certificates on mail ports and the MTA-STS policy over HTTPS, against real local servers."""

from __future__ import annotations

from pathlib import Path

from email_infrastructure.monitoring.checks.mta_sts import check_mta_sts
from email_infrastructure.monitoring.checks.tls import check_tls
from email_infrastructure.monitoring.context import AuditContext, AuditOptions, DomainTarget
from email_infrastructure.monitoring.findings import CheckStatus
from tests.fixtures.tls import Authority, https_server, port_of, starttls_server, tls_server

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.good.test\r\nmax_age: 604800\r\n"


async def run_tls(
    ctx: AuditContext, tmp_path: Path, host: str, days: int, ca: Authority | None = None
) -> tuple[set[str], CheckStatus, list[str]]:
    ca = ca or Authority.create(tmp_path)
    context = ca.server_context(tmp_path, host, days=days)
    implicit, smtp = await tls_server(context), await starttls_server(context)
    ctx.options = AuditOptions(
        smtp_ports=(port_of(smtp),),
        tls_ports=(port_of(implicit),),
        ca_file=ca.path,
        connect_timeout=3,
    )
    try:
        result = await check_tls("mail.good.test", "127.0.0.1", ctx)
    finally:
        implicit.close()
        smtp.close()
    return result.ids(), result.status, [f.message for f in result.findings]


async def test_valid_certificates_on_starttls_and_implicit_tls(ctx: AuditContext, tmp_path: Path) -> None:
    ids, status, _ = await run_tls(ctx, tmp_path, "mail.good.test", 90)
    assert (ids, status) == (set(), CheckStatus.OK)


async def test_expiry_thresholds(ctx: AuditContext, tmp_path: Path) -> None:
    ids, status, messages = await run_tls(ctx, tmp_path, "mail.good.test", 10)
    assert (ids, status) == ({"tls.expiring"}, CheckStatus.WARNING)
    assert "expires in 10 days" in messages[0]
    ids, status, _ = await run_tls(ctx, tmp_path, "mail.good.test", 3)
    assert (ids, status) == ({"tls.expiring"}, CheckStatus.ERROR)


async def test_wrong_name_and_untrusted_issuer(ctx: AuditContext, tmp_path: Path) -> None:
    ids, status, _ = await run_tls(ctx, tmp_path, "other.test", 90)
    assert ids == {"tls.name_mismatch"}
    assert status is CheckStatus.ERROR
    (tmp_path / "x").mkdir()
    stranger = Authority.create(tmp_path / "x")
    trusted = Authority.create(tmp_path)
    context = stranger.server_context(tmp_path, "mail.good.test")
    server = await tls_server(context)
    ctx.options = AuditOptions(smtp_ports=(), tls_ports=(port_of(server),), ca_file=trusted.path)
    try:
        result = await check_tls("mail.good.test", "127.0.0.1", ctx)
    finally:
        server.close()
    assert result.ids() == {"tls.untrusted"}


async def test_closed_ports_are_unknown(ctx: AuditContext) -> None:
    ctx.options = AuditOptions(smtp_ports=(1,), tls_ports=(), connect_timeout=1)
    result = await check_tls("mail.good.test", "127.0.0.1", ctx)
    assert result.status is CheckStatus.UNKNOWN
    assert result.ids() == {"tls.unreachable"}


async def test_mta_sts_policy_is_fetched_and_matched(ctx: AuditContext, tmp_path: Path) -> None:
    ca = Authority.create(tmp_path)
    server = await https_server(ca.server_context(tmp_path, "mta-sts.good.test"), POLICY)
    ctx.options = AuditOptions(https_port=port_of(server), ca_file=ca.path)
    target = DomainTarget("good.test", mta_sts_expected=True)
    try:
        ok = await check_mta_sts(target, ctx, ["mail.good.test"])
        wrong_mx = await check_mta_sts(target, ctx, ["mx.elsewhere.test"])
    finally:
        server.close()
    assert ok.ids() == set()
    assert wrong_mx.ids() == {"mta_sts.mx_mismatch"}


async def test_mta_sts_bad_policy_and_bad_record(ctx: AuditContext, tmp_path: Path) -> None:
    ca = Authority.create(tmp_path)
    server = await https_server(ca.server_context(tmp_path, "mta-sts.good.test"), "version: STSv1\nmode: sometimes\n")
    ctx.options = AuditOptions(https_port=port_of(server), ca_file=ca.path)
    try:
        bad = await check_mta_sts(DomainTarget("good.test"), ctx, ["mail.good.test"])
    finally:
        server.close()
    assert bad.ids() == {"mta_sts.policy_invalid"}
    assert (await check_mta_sts(DomainTarget("nothing.test", mta_sts_expected=True), ctx, [])).ids() == {
        "mta_sts.missing"
    }
    record = await check_mta_sts(DomainTarget("badmtasts.test"), ctx, [])
    assert "mta_sts.invalid_id" in record.ids()
