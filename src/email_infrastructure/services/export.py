"""Credential exports for sending platforms (sequencer-exports.md): one CSV layout per platform.

Only mailboxes that exist on their server are exported, with the password the vault confirmed;
passwords are decrypted only here, and the file is written with mode 0600.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from email_infrastructure.core.errors import EmailInfraError, UserError
from email_infrastructure.core.inventory import Inventory, ResolvedDomain
from email_infrastructure.core.inventory.mail import has_mail_backend, no_mail_backend
from email_infrastructure.core.secret_names import API_KEY_NAME, api_key_owner, password_key
from email_infrastructure.dns.desired import tracking_host
from email_infrastructure.mailcow.backend import MailBackend
from email_infrastructure.mailcow.naming import Persona, personas
from email_infrastructure.mailcow.registry import build_backend
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.context import AppContext
from email_infrastructure.services.desired import desired_inventory
from email_infrastructure.services.vps import blocked_servers

#: the header lines of the reference, exactly; a correction is a one-line change
HEADER_LINES: dict[str, str] = {
    "smartlead": (
        "from_name,from_email,user_name,password,smtp_host,smtp_port,imap_host,imap_port,"
        "max_email_per_day,custom_tracking_url,warmup_enabled,total_warmup_per_day,daily_rampup,"
        "reply_rate_percentage,bcc,signature,different_reply_to_address,imap_user_name,imap_password"
    ),
    "instantly": (
        "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
        "SMTP Password,SMTP Host,SMTP Port"
    ),
    "instantly-extended": (
        "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
        "SMTP Password,SMTP Host,SMTP Port,Daily Limit,Warmup Enabled,Warmup Limit,Warmup Increment"
    ),
    "reachinbox": (
        "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
        "SMTP Password,SMTP Host,SMTP Port,Daily Limit,Warmup Enabled,Warmup Limit,Warmup Increment,"
        "Tracking Domain,Warmup Filter Tag,Warmup On Weekdays,Warmup Open Rate,"
        "Warmup Spam Protection Rate,Warmup Mark As Important Rate"
    ),
    "emailbison": (
        "Name,Email,Password,IMAP Server,IMAP Port,SMTP Server,SMTP Port,Daily Limit,SMTP Secure,IMAP Secure"
    ),
    "generic": (
        "from_name,from_email,smtp_host,smtp_port,smtp_username,smtp_password,imap_host,imap_port,"
        "imap_username,imap_password"
    ),
}
HEADERS: dict[str, tuple[str, ...]] = {k: tuple(v.split(",")) for k, v in HEADER_LINES.items()}
#: what the reference has not confirmed against the vendor's own template
UNCONFIRMED: dict[str, str] = {
    "smartlead": "header reconstructed (not the vendor's template); booleans unconfirmed",
    "instantly": "header reconstructed (not the vendor's template)",
    "instantly-extended": "header reconstructed (not the vendor's template)",
    "emailbison": "header order and boolean format unconfirmed",
}
IMAP_PORT = 993
WARMUP_PER_DAY = 20
WARMUP_INCREMENT = 2
RAMPUP = 5
REPLY_RATE = 30


@dataclass
class CredentialExport:
    """Rows written, and the mailboxes left out with why."""

    format: str
    path: Path | None
    rows: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    text: str = ""
    #: said before the file is used: a server that cannot deliver (outbound port 25 blocked), domains
    #: whose mailboxes are never created (no mail backend)
    warnings: list[str] = field(default_factory=list)
    #: why nothing was exported (no file is written then; the CLI exits 2), None when rows were
    reason: str | None = None


@dataclass(frozen=True)
class _Account:
    first: str
    last: str
    address: str
    password: str
    host: str
    smtp_port: int
    daily_limit: int
    tracking_host: str


def _row(fmt: str, a: _Account) -> list[str]:
    """One account in a platform's columns (booleans TRUE/FALSE but EmailBison's `true`)."""
    smtp, imap, limit = str(a.smtp_port), str(IMAP_PORT), str(a.daily_limit)
    instantly = [a.address, a.first, a.last, a.address, a.password, a.host, imap, a.address, a.password, a.host, smtp]
    warmup = [limit, "TRUE", str(WARMUP_PER_DAY), str(WARMUP_INCREMENT)]
    if fmt == "smartlead":
        url = f"http://{a.tracking_host}" if a.tracking_host else ""
        head = [f"{a.first} {a.last}", a.address, a.address, a.password, a.host, smtp, a.host, imap, limit, url]
        warm = ["TRUE", str(WARMUP_PER_DAY), str(RAMPUP), str(REPLY_RATE)]
        return head + warm + ["", "", "", a.address, a.password]
    if fmt == "instantly":
        return instantly
    if fmt == "instantly-extended":
        return instantly + warmup
    if fmt == "reachinbox":
        return instantly + warmup + [a.tracking_host, "", "TRUE", "100", "95", "70"]
    if fmt == "emailbison":
        secure = "true" if a.smtp_port == 465 else "false"  # `secure` = implicit TLS (inferred in the reference)
        return [f"{a.first} {a.last}", a.address, a.password, a.host, imap, a.host, smtp, limit, secure, "true"]
    return [f"{a.first} {a.last}", a.address, a.host, smtp, a.address, a.password, a.host, imap, a.address, a.password]


@dataclass(frozen=True)
class StoredMailbox:
    """A mailbox of the desired state with its confirmed password (None: the vault has none)."""

    domain: ResolvedDomain
    person: Persona
    address: str
    password: str | None


async def mail_domains(app: App, only: list[str] | None = None) -> tuple[Inventory, list[ResolvedDomain]]:
    """The desired state and its domains on a mail backend (only those named, refusing unknown ones)."""
    await require_state(app)
    inventory = await desired_inventory(app)
    every = {d.name: d for d in inventory.resolved_domains()}
    domains = [d for d in every.values() if has_mail_backend(d)]
    if only:
        missing = sorted(set(only) - {d.name for d in domains})
        if missing:
            reasons = [no_mail_backend(every[m]) if m in every else None for m in missing]
            said = "; ".join(r for r in reasons if r)
            raise UserError(
                f"not a domain on a mail backend in the desired state: {', '.join(missing)}"
                + (f" ({said})" if said else "")
            )
        domains = [d for d in domains if d.name in only]
    return inventory, domains


#: domains named in a warning or a reason (the count says how many there are)
NAMED = 5


def _unmailed(inventory: Inventory, only: list[str] | None) -> list[str]:
    """The domains whose mailboxes are never created (no mail backend), named in one line."""
    return [
        d.name for d in inventory.resolved_domains() if (not only or d.name in only) and no_mail_backend(d) is not None
    ]


def _named(names: list[str]) -> str:
    return ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


async def stored_mailboxes(app: App, domain: ResolvedDomain) -> list[StoredMailbox]:
    """A domain's mailboxes in the desired state, each with the password the vault confirmed."""
    people = personas(domain)
    async with app.uow() as uow:
        stored = await uow.secrets().get_many([password_key(p.address(domain.name)) for p in people])
    return [
        StoredMailbox(domain, p, p.address(domain.name), stored.get(password_key(p.address(domain.name))))
        for p in people
    ]


async def export_credentials(
    app: App, fmt: str, path: Path | None = None, *, only: list[str] | None = None, smtp_port: int = 587
) -> CredentialExport:
    """Write (or, without `path`, return as text) the mailboxes of every domain on a mail backend."""
    if fmt not in HEADERS:
        raise UserError(f"unknown export format {fmt!r} (one of {', '.join(HEADERS)})")
    if smtp_port not in (587, 465):
        raise UserError("the SMTP port is 587 (STARTTLS) or 465 (implicit TLS)")
    if path is not None and path.exists():
        raise UserError(f"{path} exists; it is never overwritten (it may hold other credentials)")
    inventory, domains = await mail_domains(app, only)
    result = CredentialExport(fmt, path)
    unmailed = _unmailed(inventory, only)
    if unmailed and domains:  # without any domain on a mail backend, the reason says it
        result.warnings.append(
            f"{len(unmailed)} domain(s) have no mail backend, so their mailboxes are never created and not "
            f"exported: {_named(unmailed)} (`email-infra validate` names each)"
        )
    accounts: list[_Account] = []
    backends: dict[str, MailBackend] = {}
    blocked = await blocked_servers(app, inventory)
    for server in sorted({d.server.name for d in domains if d.server is not None and d.server.name in blocked}):
        result.warnings.append(
            f"server {server}: outbound port 25 is blocked ({blocked[server]}): its mailboxes can log in and "
            "send to it, but it cannot deliver to other servers (`email-infra server port25 "
            f"{server} open` once the provider lifts the block)"
        )
    vault_keys = sorted(
        {(api_key_owner(d.server.mail_backend), API_KEY_NAME) for d in domains if d.server and d.server.mail_backend}
    )
    api_keys = await AppContext(app).secrets(vault_keys)
    try:
        for domain in domains:
            assert domain.server is not None and domain.server.mail_backend
            name = domain.server.mail_backend
            spec = inventory.providers.mail.get(name)
            if spec is None:
                result.skipped[domain.name] = f"no mail provider named {name!r}"
                continue
            backend = backends.get(name) or backends.setdefault(
                name, build_backend(name, spec, api_key=api_keys.get((api_key_owner(name), API_KEY_NAME)))
            )
            try:
                live = {m.address for m in await backend.mailboxes(domain.name)}
            except EmailInfraError as exc:
                result.skipped[domain.name] = str(exc)
                continue
            for box in await stored_mailboxes(app, domain):
                if box.address not in live:
                    result.skipped[box.address] = "not on the server (run apply)"
                elif box.password is None:
                    result.skipped[box.address] = "its password is not confirmed in the vault (run apply)"
                else:
                    accounts.append(
                        _Account(
                            box.person.first_name,
                            box.person.last_name,
                            box.address,
                            box.password,
                            domain.server.hostname,
                            smtp_port,
                            domain.daily_send_limit,
                            tracking_host(domain),
                        )
                    )
    finally:
        for backend in backends.values():
            await backend.close()
    result.rows = len(accounts)
    if not accounts:
        result.reason = _why_nothing(inventory, domains, unmailed, result)
        return result
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(HEADERS[fmt])
    writer.writerows(_row(fmt, a) for a in accounts)
    if path is None:
        result.text = buffer.getvalue()
    else:
        _write_private(path, buffer.getvalue())
    return result


def _why_nothing(
    inventory: Inventory, domains: list[ResolvedDomain], unmailed: list[str], result: CredentialExport
) -> str:
    """Why an export has no row, in one line."""
    if not inventory.domains:
        return "nothing to export: the desired state has no domains"
    if not domains:
        if unmailed:
            return (
                f"nothing to export: no domain is on a mail backend, so no mailbox is ever created "
                f"({len(unmailed)} domain(s) without one: {_named(unmailed)}); declare a mail_backend on their server"
            )
        return "nothing to export: no domain is on a mail backend"
    wanted = sum(len(personas(d)) for d in domains)
    if wanted == 0:
        return f"nothing to export: the {len(domains)} domain(s) on a mail backend ask for no mailboxes"
    return (
        f"nothing to export: none of the {wanted} mailbox(es) of {len(domains)} domain(s) on a mail backend "
        f"exists on its server with a confirmed password ({len(result.skipped)} skipped, each with why; "
        "run `email-infra apply`)"
    )


def _write_private(path: Path, text: str) -> None:
    """Create the file 0600 (never widened, never over another file's permissions)."""
    if path.exists():
        raise UserError(f"{path} exists; it is never overwritten (it may hold other credentials)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
