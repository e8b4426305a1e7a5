"""Credential exports: headers byte for byte as the reference, only live mailboxes, mode 0600."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.export import export_credentials
from tests.fakes.mailcow import FakeMailcow
from tests.services.conftest import WriteInventory
from tests.services.test_mail_apply import DOMAIN, OTHER, mail_inventory

REFERENCE = Path("/work/shared/reference/sequencer-exports.md")
_SECTIONS = {
    "smartlead": "### Smartlead",
    "instantly": "### Instantly — minimal",
    "instantly-extended": "### Instantly — extended",
    "reachinbox": "### ReachInbox",
    "emailbison": "### EmailBison",
    "generic": "### Generic snake_case",
}


#: copied from ../shared/reference/sequencer-exports.md §1 (checked against it when it is there)
COPIED = {
    "smartlead": "from_name,from_email,user_name,password,smtp_host,smtp_port,imap_host,imap_port,max_email_per_day,"
    "custom_tracking_url,warmup_enabled,total_warmup_per_day,daily_rampup,reply_rate_percentage,bcc,signature,"
    "different_reply_to_address,imap_user_name,imap_password",
    "instantly": "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
    "SMTP Password,SMTP Host,SMTP Port",
    "instantly-extended": "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
    "SMTP Password,SMTP Host,SMTP Port,Daily Limit,Warmup Enabled,Warmup Limit,Warmup Increment",
    "reachinbox": "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
    "SMTP Password,SMTP Host,SMTP Port,Daily Limit,Warmup Enabled,Warmup Limit,Warmup Increment,Tracking Domain,"
    "Warmup Filter Tag,Warmup On Weekdays,Warmup Open Rate,Warmup Spam Protection Rate,Warmup Mark As Important Rate",
    "emailbison": "Name,Email,Password,IMAP Server,IMAP Port,SMTP Server,SMTP Port,Daily Limit,SMTP Secure,IMAP Secure",
    "generic": "from_name,from_email,smtp_host,smtp_port,smtp_username,smtp_password,imap_host,imap_port,"
    "imap_username,imap_password",
}


def reference_header(fmt: str) -> str:
    """The first fenced line after the format's heading in the reference (the copy when it is absent)."""
    if not REFERENCE.exists():
        return COPIED[fmt]
    text = REFERENCE.read_text(encoding="utf-8")
    section = text[text.index(_SECTIONS[fmt]) :]
    match = re.search(r"```\n(.*?)\n```", section)
    assert match and match.group(1) == COPIED[fmt]
    return match.group(1)


@pytest.mark.parametrize("fmt", sorted(_SECTIONS))
async def test_headers_equal_the_reference_and_rows_hold_live_mailboxes(
    fmt: str, app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], tmp_path: Path
) -> None:
    fake, url = mailcow
    await plans.apply(app, source=write_inventory(mail_inventory(url)))
    del fake.mailboxes[f"bob.stone@{DOMAIN}"]  # gone from the server: not exported
    out = tmp_path / f"{fmt}.csv"
    result = await export_credentials(app, fmt, out, only=[DOMAIN])
    raw = out.read_bytes()
    assert raw.split(b"\r\n", 1)[0] == reference_header(fmt).encode()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert result.rows == len(rows) == 1
    assert f"bob.stone@{DOMAIN}" in result.skipped
    row = rows[0]
    password = fake.passwords()[f"ann.lee@{DOMAIN}"]
    assert password in row.values() and f"ann.lee@{DOMAIN}" in row.values()
    assert "mail.acme-outreach.test" in row.values() and "993" in row.values()
    assert "587" in row.values()


async def test_export_refuses_to_overwrite_and_unknown_formats(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str], tmp_path: Path
) -> None:
    _, url = mailcow
    await plans.apply(app, source=write_inventory(mail_inventory(url)))
    out = tmp_path / "x.csv"
    out.write_text("keep me")
    with pytest.raises(UserError, match="never overwritten"):
        await export_credentials(app, "generic", out)
    assert out.read_text() == "keep me"
    with pytest.raises(UserError, match="unknown export format"):
        await export_credentials(app, "lemlist")
    implicit = await export_credentials(app, "emailbison", only=[OTHER], smtp_port=465)
    assert implicit.rows == 3 and ",465,30,true,true" in implicit.text
