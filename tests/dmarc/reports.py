"""Report files written from the standards' shapes (RFC 7489 appendix C, RFC 9990, RFC 8460, RFC 6591).

Each builder writes what a receiver would send; nothing here knows how our parser works.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

RFC9990_NS = "urn:ietf:params:xml:ns:dmarc-2.0"


def yesterday() -> tuple[int, int]:
    """A day-long date range that ended an hour ago (reports within any alert window)."""
    end = datetime.now(UTC) - timedelta(hours=1)
    return int((end - timedelta(days=1)).timestamp()), int(end.timestamp())


@dataclass
class Row:
    """One record: a source, a count and its evaluation."""

    ip: str
    count: int
    dkim: str = "pass"
    spf: str = "pass"
    disposition: str = "none"
    header_from: str = "acme-outreach.test"
    envelope_from: str | None = "bounce.acme-outreach.test"
    reasons: list[tuple[str, str]] = field(default_factory=list)
    dkim_auth: tuple[str, str, str] | None = ("acme-outreach.test", "s1", "pass")
    spf_auth: tuple[str, str, str] | None = ("bounce.acme-outreach.test", "mfrom", "pass")


def aggregate(
    rows: list[Row],
    *,
    form: str = "rfc7489",
    domain: str = "acme-outreach.test",
    org: str = "receiver.example",
    report_id: str = "r-1",
    dates: tuple[int, int] | None = None,
) -> bytes:
    """An aggregate report; forms: rfc7489 (version 1.0), draft (no version), rfc9990, rfc9990-bare."""
    begin, end = dates or yesterday()
    ns = f' xmlns="{RFC9990_NS}"' if form == "rfc9990" else ""
    version = {"rfc7489": "<version>1.0</version>", "rfc9990": "<version>1.0</version>",
               "rfc9990-bare": "<version>2.0</version>", "draft": ""}[form]  # fmt: skip
    rfc9990 = form.startswith("rfc9990")
    generator = "<generator>receiver-mta 4.2</generator>" if rfc9990 else ""
    policy = (
        f"<domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p>"
        + ("<np>reject</np><testing>n</testing><discovery_method>treewalk</discovery_method>" if rfc9990 else
           "<sp>none</sp><pct>100</pct><fo>0</fo>")
    )  # fmt: skip
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<feedback{ns}>{version}",
        f"<report_metadata><org_name>{org}</org_name><email>dmarc-noreply@{org}</email>{generator}"
        f"<report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{end}</end></date_range>"
        "</report_metadata>",
        f"<policy_published>{policy}</policy_published>",
    ]
    for row in rows:
        reasons = "".join(f"<reason><type>{t}</type><comment>{c}</comment></reason>" for t, c in row.reasons)
        envelope = f"<envelope_from>{row.envelope_from}</envelope_from>" if row.envelope_from else ""
        auth = ""
        if row.dkim_auth:
            d, s, r = row.dkim_auth
            auth += f"<dkim><domain>{d}</domain><selector>{s}</selector><result>{r}</result></dkim>"
        if row.spf_auth:
            d, scope, r = row.spf_auth
            scope_el = "" if rfc9990 and scope == "" else f"<scope>{scope}</scope>"
            auth += f"<spf><domain>{d}</domain>{scope_el}<result>{r}</result></spf>"
        out.append(
            f"<record><row><source_ip>{row.ip}</source_ip><count>{row.count}</count>"
            f"<policy_evaluated><disposition>{row.disposition}</disposition><dkim>{row.dkim}</dkim>"
            f"<spf>{row.spf}</spf>{reasons}</policy_evaluated></row>"
            f"<identifiers>{envelope}<header_from>{row.header_from}</header_from></identifiers>"
            f"<auth_results>{auth}</auth_results></record>"
        )
    out.append("</feedback>")
    return "\n".join(out).encode()


def gz(data: bytes) -> bytes:
    """gzip, as receivers compress reports."""
    return gzip.compress(data)


def zipped(data: bytes, name: str = "report.xml") -> bytes:
    """A one-member zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def report_email(
    attachment: bytes,
    filename: str,
    ctype: str = "application/gzip",
    subject: str = "Report Domain: acme-outreach.test",
) -> bytes:
    """A report message with a base64 attachment (what receivers send to the rua address)."""
    message = EmailMessage()
    message["From"] = "noreply-dmarc-support@receiver.example"
    message["To"] = "dmarc@acme-outreach.test"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{abs(hash((filename, attachment)))}@receiver.example>"
    message.set_content("This is an aggregate report.")
    maintype, subtype = ctype.split("/")
    message.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def mbox(messages: list[bytes]) -> bytes:
    """An mbox file (From_ lines; body lines starting with From escaped)."""
    out = []
    for raw in messages:
        body = b"\n".join(
            b">" + line if line.startswith(b"From ") else line for line in raw.replace(b"\r\n", b"\n").split(b"\n")
        )
        out.append(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + body + b"\n")
    return b"".join(out)


def tlsrpt(
    domain: str = "acme-mail.test",
    report_id: str = "2026-01-01T00:00:00Z_acme-mail.test",
    failures: list[tuple[str, int]] | None = None,
    success: int = 120,
) -> bytes:
    """An RFC 8460 §4 report."""
    end = datetime.now(UTC) - timedelta(hours=1)
    details = [
        {"result-type": kind, "sending-mta-ip": "198.51.100.7", "receiving-mx-hostname": f"mail.{domain}",
         "receiving-ip": "192.0.2.10", "failed-session-count": count}
        for kind, count in (failures if failures is not None else [("certificate-expired", 2)])
    ]  # fmt: skip
    return json.dumps(
        {
            "organization-name": "receiver.example",
            "date-range": {
                "start-datetime": (end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end-datetime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "contact-info": "tlsrpt@receiver.example",
            "report-id": report_id,
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-domain": domain,
                        "policy-string": ["version: STSv1", "mode: enforce", f"mx: mail.{domain}", "max_age: 604800"],
                        "mx-host": [f"mail.{domain}"],
                    },
                    "summary": {
                        "total-successful-session-count": success,
                        "total-failure-session-count": sum(d["failed-session-count"] for d in details),
                    },
                    "failure-details": details,
                }
            ],
        }
    ).encode()


def failure_report(
    domain: str = "acme-outreach.test", source_ip: str = "203.0.113.9", message_id: str = "<m1@x>"
) -> bytes:
    """An RFC 6591 authentication failure report (multipart/report; report-type=feedback-report)."""
    arrival = format_datetime(datetime.now(UTC) - timedelta(hours=2))
    feedback = (
        "Feedback-Type: auth-failure\r\nUser-Agent: receiver-mta/4.2\r\nVersion: 1\r\n"
        f"Original-Mail-From: <bounce@{domain}>\r\nOriginal-Rcpt-To: <user@receiver.example>\r\n"
        f"Arrival-Date: {arrival}\r\nReporting-MTA: dns; mx.receiver.example\r\nSource-IP: {source_ip}\r\n"
        f"Authentication-Results: mx.receiver.example; dmarc=fail header.from={domain}\r\n"
        f"Reported-Domain: {domain}\r\nDelivery-Result: reject\r\nAuth-Failure: dmarc\r\n"
        f"DKIM-Domain: {domain}\r\nDKIM-Selector: s1\r\n"
    )
    original = (
        f"From: Ann <ann@{domain}>\r\nTo: user@receiver.example\r\nSubject: Hello\r\n"
        f"Message-ID: {message_id}\r\nDate: {arrival}\r\n"
    )
    boundary = "==arf-boundary=="
    return (
        "From: dmarc-failure@receiver.example\r\nTo: ruf@acme-outreach.test\r\n"
        f"Subject: DMARC failure report for {domain}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nA message claiming to be from {domain} failed DMARC.\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n{feedback}\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name><email>a@b.example</email><report_id>1</report_id>
<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
<policy_published><domain>acme-outreach.test</domain></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row><identifiers><header_from>acme-outreach.test</header_from></identifiers></record>
</feedback>
"""


def xxe(path: str) -> bytes:
    """A report whose org_name is an external entity naming a local file."""
    return f"""<?xml version="1.0"?>
<!DOCTYPE feedback [ <!ENTITY secret SYSTEM "file://{path}"> ]>
<feedback><report_metadata><org_name>&secret;</org_name><email>a@b.example</email><report_id>x1</report_id>
<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
<policy_published><domain>acme-outreach.test</domain></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row><identifiers><header_from>acme-outreach.test</header_from></identifiers></record>
</feedback>
""".encode()
