"""`/api/v1/dmarc`: uploads in every container, duplicates, hostile files, scopes, and the CLI's summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from email_infrastructure.services.desired import import_inventory
from email_infrastructure.storage.db import Database
from tests.api.conftest import Api
from tests.conftest import Cli
from tests.dmarc.reports import BILLION_LAUGHS, Row, aggregate, gz, mbox, report_email, tlsrpt, zipped
from tests.services.conftest import WriteInventory

URL = "/api/v1/dmarc/reports"
FAILING = Row("198.51.100.5", 10, dkim="fail", spf="fail", dkim_auth=None, spf_auth=None)


def days_ago(days: int) -> tuple[int, int]:
    """A report period within the UTC day `days` days ago (06:00 to 18:00), whatever the hour now.

    A period of the 24 hours up to `days` days ago began the day before between 00:00 and 01:00
    UTC, and `since=2d` then left it out.
    """
    day = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return int(day.timestamp()), int((day + timedelta(hours=12)).timestamp())


async def upload(api: Api, body: bytes, name: str, scope: str = "write") -> Any:
    """POST one file; the response."""
    return await api.client.post(
        URL, content=body, params={"filename": name, "resolve": "false"}, headers=api.auth(scope)
    )


async def test_every_container_is_ingested_once_and_listed(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    files = {
        "a.xml": aggregate([Row("127.0.0.10", 30), FAILING], report_id="xml-1"),
        "b.xml.gz": gz(aggregate([Row("127.0.0.10", 5)], report_id="gz-1", form="rfc9990")),
        "c.zip": zipped(aggregate([Row("203.0.113.7", 4, dkim="fail")], report_id="zip-1", form="draft")),
        "d.eml": report_email(gz(aggregate([Row("127.0.0.10", 2)], report_id="eml-1")), "d.xml.gz"),
        "e.mbox": mbox(
            [report_email(zipped(aggregate([Row("127.0.0.10", 1)], report_id="mbox-1")), "e.zip", "application/zip")]
        ),
        "tls.json": tlsrpt(),
    }
    for name, body in files.items():
        response = await upload(api, body, name)
        assert response.status_code == 200, (name, response.text)
        data = response.json()["data"]
        assert (data["ingested"], data["duplicate"], data["skipped"]) == (1, 0, 0), (name, data)
        assert data["items"][0]["origin"].startswith(f"upload:{name}")

    again = await upload(api, files["b.xml.gz"], "again.gz")
    assert again.status_code == 200
    assert again.json()["data"]["items"][0]["status"] == "duplicate"

    listed = (await api.client.get(URL, params={"limit": 2}, headers=api.auth())).json()["data"]
    assert listed["total"] == 5 and len(listed["items"]) == 2  # five aggregate reports; TLS is not listed here
    everything = (await api.client.get(URL, params={"limit": 50}, headers=api.auth())).json()["data"]["items"]
    assert {r["report_id"] for r in everything} == {"xml-1", "gz-1", "zip-1", "eml-1", "mbox-1"}
    first = next(r for r in everything if r["report_id"] == "xml-1")
    assert (first["records"], first["messages"], first["org"]) == (2, 40, "receiver.example")
    assert "records" not in first or isinstance(first["records"], int)  # metadata: counts, never the rows
    assert next(r for r in everything if r["report_id"] == "gz-1")["schema"] == "rfc9990"
    other = await api.client.get(URL, params={"domain": "acme-mail.test"}, headers=api.auth())
    assert other.json()["data"]["total"] == 0


async def test_hostile_and_unusable_files_are_refused_with_their_reason(
    api: Api, write_inventory: WriteInventory
) -> None:
    await import_inventory(api.app, write_inventory())
    cases = {
        "laughs.xml": (BILLION_LAUGHS, "DTD"),
        "truncated.gz": (gz(aggregate([Row("127.0.0.10", 1)]))[:40], "truncated"),
        "junk.txt": (b"not a report at all", "not a report"),
    }
    for name, (body, reason) in cases.items():
        response = await upload(api, body, name)
        assert response.status_code == 400, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == "bad_request" and reason in error["message"], (name, error)
        assert f"upload:{name}" in error["message"]
    empty = await api.client.post(URL, content=b"", headers=api.auth("write"))
    assert empty.status_code == 400 and "empty" in empty.json()["error"]["message"]
    listed = (await api.client.get(URL, headers=api.auth())).json()["data"]
    assert listed["total"] == 0  # nothing half-stored

    # a report of a domain outside the desired state is kept, marked unmanaged (issue 21, item 8)
    foreign = await upload(api, aggregate([Row("127.0.0.10", 1)], domain="elsewhere.example"), "foreign.xml")
    assert foreign.status_code == 200, foreign.text
    body = foreign.json()["data"]
    assert body["unmanaged"] == 1 and body["items"][0]["managed"] is False
    summary = (await api.client.get("/api/v1/dmarc/summary", headers=api.auth())).json()["data"]
    assert summary["unmanaged_domains"] == ["elsewhere.example"]
    assert {d["key"]: d["managed"] for d in summary["domains"]} == {"elsewhere.example": False}
    listed = (await api.client.get(URL, headers=api.auth())).json()["data"]
    assert listed["total"] == 1

    # a zip with one good and one hostile member: the good one is stored, the other's reason is shown
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.xml", aggregate([Row("127.0.0.10", 3)], report_id="good-1"))
        archive.writestr("bad.xml", BILLION_LAUGHS)
    mixed = await upload(api, buffer.getvalue(), "mixed.zip")
    assert mixed.status_code == 200
    items = {i["origin"]: i for i in mixed.json()["data"]["items"]}
    assert items["upload:mixed.zip > good.xml"]["status"] == "ingested"
    assert items["upload:mixed.zip > bad.xml"]["status"] == "skipped"
    assert "DTD" in items["upload:mixed.zip > bad.xml"]["reason"]


async def test_an_upload_over_the_body_limit_is_413(make_api: Any, write_inventory: WriteInventory) -> None:
    api = await make_api(api_max_body_bytes=2048)
    await import_inventory(api.app, write_inventory())
    big = aggregate([Row(f"192.0.2.{i % 250 + 1}", 1) for i in range(60)])
    assert len(big) > 2048
    response = await upload(api, big, "big.xml")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


async def test_scopes(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    body = aggregate([Row("127.0.0.10", 1)])
    for path in ("/api/v1/dmarc/summary", "/api/v1/dmarc/pass-rates", URL):
        assert (await api.client.get(path)).status_code == 401, path
        bad = {"Authorization": "Bearer eik_00000000_" + "x" * 43}
        assert (await api.client.get(path, headers=bad)).status_code == 401, path
        assert (await api.client.get(path, headers=api.auth("read"))).status_code == 200, path
    assert (await api.client.post(URL, content=body)).status_code == 401
    refused = await upload(api, body, "r.xml", scope="read")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert (await api.client.get(URL, headers=api.auth())).json()["data"]["total"] == 0
    assert (await upload(api, body, "w.xml", scope="write")).status_code == 200


async def test_the_summary_is_the_clis_json_and_pass_rates_go_per_day(
    api: Api, write_inventory: WriteInventory, cli: Cli, database: Database
) -> None:
    await import_inventory(api.app, write_inventory())
    # two days of acme-outreach.test: 30 of 40 pass, then 9 of 10 (SPF aligned only on the second day)
    day1 = aggregate([Row("127.0.0.10", 30), FAILING], report_id="d1", dates=days_ago(3))
    day2 = aggregate([Row("127.0.0.10", 9, dkim="fail"), Row("127.0.0.10", 1, dkim="fail", spf="fail")],
                     report_id="d2", dates=days_ago(1))  # fmt: skip
    for name, body in (("d1.xml", day1), ("d2.xml", day2), ("tls.json", tlsrpt(failures=[("sts-policy-invalid", 3)]))):
        assert (await upload(api, body, name)).status_code == 200

    response = await api.client.get("/api/v1/dmarc/summary", params={"since": "30d"}, headers=api.auth())
    assert response.status_code == 200
    ours = response.json()["data"]
    done = cli("dmarc", "summary", "--since", "30d", "--format", "json", env={"EMAIL_INFRA_DATABASE_URL": database.url})
    assert done.returncode == 0, done.stderr
    assert ours == json.loads(done.stdout)
    assert ours["unknown_senders"] == ["198.51.100.5"]
    assert ours["tls"]["failures_by_type"] == {"sts-policy-invalid": 3}

    grouped = await api.client.get("/api/v1/dmarc/summary", params={"group": "source"}, headers=api.auth())
    data = grouped.json()["data"]
    assert data["domains"] == [] and data["organisations"] == [] and data["sources"] == ours["sources"]

    rates = await api.client.get(
        "/api/v1/dmarc/pass-rates", params={"domain": "acme-outreach.test"}, headers=api.auth()
    )
    days = rates.json()["data"]
    assert [(d["messages"], d["dmarc_pass_rate"], d["spf_aligned_rate"], d["dkim_aligned_rate"]) for d in days] == [
        (40, 0.75, 0.75, 0.75),
        (10, 0.9, 0.9, 0.0),
    ]
    assert days[0]["day"] < days[1]["day"]
    recent = await api.client.get("/api/v1/dmarc/pass-rates", params={"since": "2d"}, headers=api.auth())
    assert [d["messages"] for d in recent.json()["data"]] == [10]
    bad = await api.client.get("/api/v1/dmarc/summary", params={"since": "soon"}, headers=api.auth())
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
