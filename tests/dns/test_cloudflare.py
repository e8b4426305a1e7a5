"""The Cloudflare provider against the faithful fake API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from email_infrastructure.core.http import RetryPolicy
from email_infrastructure.core.settings import Settings
from email_infrastructure.dns.config import CloudflareSettings
from email_infrastructure.dns.plan import Action
from email_infrastructure.dns.providers import cloudflare as cf_module
from email_infrastructure.dns.providers.base import ProviderContext
from email_infrastructure.dns.providers.cloudflare import CloudflareProvider
from email_infrastructure.services.app import App
from tests.dns.conftest import Make
from tests.fakes.cloudflare import ApiError, FakeCloudflare
from tests.fakes.http_server import FakeServer


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudflare]:
    monkeypatch.setenv("CF_TEST_TOKEN", "test-token")
    api = FakeCloudflare()
    with FakeServer(api) as server:
        api.url = server.url + "/client/v4"
        yield api


def inventory(fake: FakeCloudflare, *zones: str, extra: str = "", batch_limit: int = 200) -> str:
    domains = "".join(f"  - name: {z}\n" for z in zones)
    return f"""\
version: 1
providers:
  dns:
    cf: {{type: cloudflare, api_token: env:CF_TEST_TOKEN, api_url: "{fake.url}", batch_limit: {batch_limit}}}
servers:
  - {{name: mx1, hostname: mail.{zones[0]}, ipv4: 127.0.0.10}}
defaults:
  dns_provider: cf
  server: mx1
  tracking: {{platform: instantly}}
  dmarc: {{policy: none, rua: ["mailto:dmarc@{zones[0]}"]}}
{extra}domains:
{domains}"""


def by_key(fake: FakeCloudflare, zone: str) -> dict[tuple[str, str], list[dict]]:  # type: ignore[type-arg]
    out: dict[tuple[str, str], list[dict]] = {}  # type: ignore[type-arg]
    for record in fake.records(zone):
        out.setdefault((record["name"], record["type"]), []).append(record)
    return out


async def test_initial_apply_then_reapply_costs(make_reconciler: Make, fake: FakeCloudflare) -> None:
    for zone in ("one.test", "two.test"):
        fake.add_zone(zone)
    text = inventory(fake, "one.test", "two.test")
    result = await (await make_reconciler(text)).apply()
    assert not result.failed, result.failed
    # per zone: 1 zone lookup, 1 listing, 1 batch, 1 read-back listing
    assert fake.calls == {"GET /zones": 2, "GET /dns_records": 4, "POST /batch": 2}
    records = by_key(fake, "one.test")
    assert records[("inst.one.test", "CNAME")][0]["proxied"] is False
    assert records[("one.test", "MX")][0]["priority"] == 10
    dkim = records[("dkim._domainkey.one.test", "TXT")][0]["content"]
    assert dkim.startswith('"v=DKIM1; k=rsa; p=') and dkim.count('" "') == 1

    fake.calls.clear()
    again = await (await make_reconciler(text)).apply()
    assert not again.plan.has_changes
    # zone ids come from the cache; one listing per zone; no writes
    assert fake.calls == {"GET /dns_records": 2}


async def test_listing_follows_pages_without_asking_past_the_end(
    make_reconciler: Make, fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_zone("paged.test")
    for n in range(12):
        fake.add_record("paged.test", type="A", name=f"h{n}.paged.test", content=f"127.0.1.{n}", ttl=300)
    monkeypatch.setattr(cf_module, "LIST_PAGE_SIZE", 5)
    text = inventory(fake, "paged.test")
    plan = await (await make_reconciler(text)).plan()
    assert plan.zones[0].unmanaged == 12
    assert fake.calls["GET /dns_records"] == 3  # pages of 5, 5 and 2


async def test_small_batch_limit_splits_writes_into_ceil_batches(make_reconciler: Make, fake: FakeCloudflare) -> None:
    fake.add_zone("split.test")
    text = inventory(fake, "split.test", batch_limit=4)
    result = await (await make_reconciler(text)).apply()
    creates = result.plan.summary()["create"]
    assert not result.failed
    assert fake.calls["POST /batch"] == -(-creates // 4)


async def test_failed_batch_applies_nothing_and_rerun_converges_without_duplicates(
    make_reconciler: Make, fake: FakeCloudflare
) -> None:
    fake.add_zone("atomic.test")
    text = inventory(fake, "atomic.test", batch_limit=5)
    # the second batch fails part-way through the run: the first one stays, the second is all-or-nothing
    original = fake._batch
    seen = {"n": 0}

    def flaky(zone, data):  # type: ignore[no-untyped-def]
        seen["n"] += 1
        if seen["n"] == 2:
            data = {
                **data,
                "posts": [
                    *data.get("posts", [])[:-1],
                    {"type": "A", "name": "bad.atomic.test", "content": "not-an-ip", "ttl": 0},
                ],
            }
        return original(zone, data)

    fake._batch = flaky  # type: ignore[method-assign]
    first = await (await make_reconciler(text)).apply()
    assert [o.key for o in first.failed] == ["dns.zone:atomic.test"]
    assert "1004" in (first.failed[0].error or "")
    assert len(fake.records("atomic.test")) == 5  # exactly the first batch
    fake._batch = original  # type: ignore[method-assign]

    second = await (await make_reconciler(text)).apply()
    assert not second.failed
    keys = [(r["name"], r["type"], r["content"]) for r in fake.records("atomic.test")]
    assert len(keys) == len(set(keys))
    assert not (await (await make_reconciler(text)).plan()).has_changes


async def test_rate_limit_waits_for_retry_after(make_reconciler: Make, fake: FakeCloudflare) -> None:
    fake.add_zone("slow.test")
    fake.budget, fake.window, fake.retry_after = 2, 1.0, 1
    text = inventory(fake, "slow.test")
    result = await (await make_reconciler(text)).apply()
    assert not result.failed, result.failed


async def test_wrong_token_and_missing_zone_fail_clearly(
    make_reconciler: Make, fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_zone("present.test")
    text = inventory(fake, "present.test", "absent.test")
    result = await (await make_reconciler(text)).apply()
    assert [o.key for o in result.failed] == ["dns.zone:absent.test"]
    assert "zone absent.test does not exist" in (result.failed[0].error or "")

    monkeypatch.setenv("CF_TEST_TOKEN", "bad-token-xyz")
    result = await (await make_reconciler(text.replace("present.test", "other.test"))).apply()
    errors = [o.error or "" for o in result.failed]
    assert errors and all("HTTP 403" in e and "10000" in e for e in errors)
    assert not any("bad-token-xyz" in e for e in errors)


async def test_proxied_tracking_cname_is_turned_grey(make_reconciler: Make, fake: FakeCloudflare) -> None:
    fake.add_zone("orange.test")
    fake.add_record(
        "orange.test",
        type="CNAME",
        name="inst.orange.test",
        content="prox.itrackly.com",
        proxied=True,
    )
    text = inventory(fake, "orange.test")
    result = await (await make_reconciler(text)).apply()
    change = next(c for c in result.plan.zones[0].changes if c.record.name == "inst.orange.test")
    assert change.action is Action.UPDATE
    cname = by_key(fake, "orange.test")[("inst.orange.test", "CNAME")]
    assert len(cname) == 1
    assert cname[0]["proxied"] is False
    assert cname[0]["ttl"] == 3600


async def test_identical_record_error_is_resolved_by_rereading(make_reconciler: Make, fake: FakeCloudflare) -> None:
    fake.add_zone("race.test")
    text = inventory(fake, "race.test")
    service = await make_reconciler(text)
    original = fake._batch
    armed = {"on": True}

    def racing(zone, data):  # type: ignore[no-untyped-def]
        if armed["on"]:
            armed["on"] = False
            fake.add_record(
                "race.test",
                type="TXT",
                name="_dmarc.race.test",
                content='"v=DMARC1; p=none; rua=mailto:dmarc@race.test"',
                ttl=3600,
            )
            raise ApiError(400, 81058, "An identical record already exists.")
        return original(zone, data)

    fake._batch = racing  # type: ignore[method-assign]
    result = await service.apply()
    assert not result.failed, result.failed
    dmarc = by_key(fake, "race.test")[("_dmarc.race.test", "TXT")]
    assert len(dmarc) == 1


async def test_many_unknown_zones_are_resolved_by_listing_zones(make_reconciler: Make, fake: FakeCloudflare) -> None:
    zones = [f"bulk{n:03d}.test" for n in range(60)]
    for zone in zones:
        fake.add_zone(zone)
    fake.add_zone("unrelated.test")
    plan = await (await make_reconciler(inventory(fake, *zones))).plan()
    assert not plan.failed
    assert fake.calls["GET /zones"] == 2  # 61 zones, 50 a page
    assert fake.calls["GET /dns_records"] == 60


async def test_persistent_5xx_fails_that_zone_and_the_others_go_on(
    make_reconciler: Make, fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_zone("fine.test")
    fake.add_zone("flaky.test")
    text = inventory(fake, "fine.test", "flaky.test")
    service = await make_reconciler(text)
    plan = await service.plan()
    original = fake._batch

    def failing(zone, data):  # type: ignore[no-untyped-def]
        if zone["name"] == "flaky.test":
            raise ApiError(503, 10000, "Service Unavailable")
        return original(zone, data)

    fake._batch = failing  # type: ignore[method-assign]
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)
    result = await service.apply(checksum=plan.checksum)
    assert [o.key for o in result.failed] == ["dns.zone:flaky.test"]
    assert "HTTP 503" in (result.failed[0].error or "")
    assert fake.records("flaky.test") == []
    assert len(fake.records("fine.test")) > 5


async def test_a_record_deleted_behind_our_back_is_reread_not_fatal(
    make_reconciler: Make, fake: FakeCloudflare
) -> None:
    fake.add_zone("moving.test")
    fake.add_record("moving.test", type="TXT", name="_dmarc.moving.test", content='"v=DMARC1; p=reject"', ttl=300)
    service = await make_reconciler(inventory(fake, "moving.test"))
    plan = await service.plan()
    assert any(c.record.name == "_dmarc.moving.test" for z in plan.zones for c in z.changes)
    for record in fake.records("moving.test"):  # someone deletes it between our read and our write
        fake.zone_by_name("moving.test")["records"].pop(record["id"])
    result = await service.apply(checksum=None, force=True)
    assert not result.failed, result.failed
    dmarc = by_key(fake, "moving.test")[("_dmarc.moving.test", "TXT")]
    assert [r["content"] for r in dmarc] == ['"v=DMARC1; p=none; rua=mailto:dmarc@moving.test"']


async def test_a_stale_cached_zone_id_is_looked_up_again(
    make_reconciler: Make, fake: FakeCloudflare, settings: object
) -> None:
    fake.add_zone("cached.test")
    text = inventory(fake, "cached.test")
    await (await make_reconciler(text)).plan()
    cache = next((settings.data_dir / "cache").glob("cloudflare-*-zones.json"))  # type: ignore[attr-defined]
    cache.write_text('{"cached.test": "0123456789abcdef0123456789abcdef"}')  # e.g. zone deleted and re-added
    fake.calls.clear()
    plan = await (await make_reconciler(text)).plan()
    assert not plan.failed
    assert fake.calls["GET /zones"] == 1


def test_the_fake_answers_pages_past_the_end_with_an_empty_result(fake: FakeCloudflare) -> None:
    import httpx

    zone_id = fake.add_zone("pages.test")
    response = httpx.get(
        f"{fake.url}/zones/{zone_id}/dns_records", params={"page": 9}, headers={"Authorization": "Bearer test-token"}
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["success"], body["result"], body["result_info"]["page"]) == (True, [], 9)


async def test_a_garbled_vendor_answer_fails_that_zone_only(make_reconciler: Make, fake: FakeCloudflare) -> None:
    fake.add_zone("sane.test")
    odd_id = fake.add_zone("odd.test")
    fake.add_record("odd.test", type="A", name="x.odd.test", content="127.0.0.9")
    del fake.zones[odd_id]["records"][next(iter(fake.zones[odd_id]["records"]))]["name"]  # a record without a name
    plan = await (await make_reconciler(inventory(fake, "sane.test", "odd.test"))).plan()
    assert [s.key for s in plan.failed] == ["dns.zone:odd.test"]
    assert "unexpected answer: KeyError" in (plan.failed[0].error or "")
    assert next(z for z in plan.zones if z.zone == "sane.test").changes


async def test_redirect_rule_and_proxied_apex_and_www(make_reconciler: Make, fake: FakeCloudflare) -> None:
    zone_id = fake.add_zone("brand.test")
    other_rule = {
        "ref": "someone_else",
        "expression": 'http.host eq "old.brand.test"',
        "action": "redirect",
        "action_parameters": {"from_value": {"status_code": 302, "target_url": {"value": "https://x.test"}}},
    }
    fake.rulesets[(zone_id, "http_request_dynamic_redirect")] = {
        "id": "r1",
        "version": "1",
        "rules": [dict(other_rule, id="a1")],
    }
    text = inventory(fake, "brand.test", extra="  redirect: https://www.brand-main.test\n")
    result = await (await make_reconciler(text)).apply()
    assert not result.failed, result.failed
    zone = result.plan.zones[0]
    assert zone.redirect == (None, "https://www.brand-main.test")
    assert any("rule sends brand.test and www.brand.test to https://www.brand-main.test" in n for n in zone.notes)
    records = by_key(fake, "brand.test")
    assert records[("brand.test", "A")][0]["proxied"] is True
    assert records[("www.brand.test", "CNAME")][0]["proxied"] is True
    assert records[("mail.brand.test", "A")][0]["proxied"] is False
    assert records[("inst.brand.test", "CNAME")][0]["proxied"] is False
    rules = fake.rulesets[(zone_id, "http_request_dynamic_redirect")]["rules"]
    assert [r["ref"] for r in rules] == ["someone_else", "email_infra_redirect_brand.test"]
    assert rules[1]["action_parameters"]["from_value"]["target_url"]["value"] == "https://www.brand-main.test"

    fake.calls.clear()
    again = await (await make_reconciler(text)).apply()
    assert not again.plan.has_changes
    assert fake.writes == 0

    moved = await (await make_reconciler(text.replace("www.brand-main.test", "brand-new.test"))).apply()
    assert moved.plan.zones[0].redirect == ("https://www.brand-main.test", "https://brand-new.test")
    rules = fake.rulesets[(zone_id, "http_request_dynamic_redirect")]["rules"]
    assert [r["ref"] for r in rules] == ["someone_else", "email_infra_redirect_brand.test"]

    gone = await (await make_reconciler(inventory(fake, "brand.test"))).apply(force=True)
    assert gone.plan.zones[0].redirect == ("https://brand-new.test", None)
    assert [r["ref"] for r in fake.rulesets[(zone_id, "http_request_dynamic_redirect")]["rules"]] == ["someone_else"]
    assert ("www.brand.test", "CNAME") not in by_key(fake, "brand.test")


async def test_a_refused_token_stops_after_a_few_calls_instead_of_one_per_zone(
    make_reconciler: Make, fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    zones = [f"z{n:02d}.test" for n in range(20)]
    for zone in zones:
        fake.add_zone(zone)
    monkeypatch.setenv("CF_TEST_TOKEN", "bad-token-xyz")
    before = sum(fake.calls.values())
    plan = await (await make_reconciler(inventory(fake, *zones))).plan()
    assert len(plan.failed) == 20
    assert all("credentials were refused" in (s.error or "") or "HTTP 403" in (s.error or "") for s in plan.failed)
    # the bulk zone listing, then three refusals in a row: nothing more is sent
    assert sum(fake.calls.values()) - before <= 5, fake.calls


def test_providers_share_a_token_budget_within_their_registry_only(
    fake: FakeCloudflare, tmp_path: Path, settings: Settings
) -> None:
    config = CloudflareSettings(api_token="env:CF_TEST_TOKEN", api_url=fake.url)
    registry: dict[str, object] = {}
    one, two = (
        CloudflareProvider(name, config, ProviderContext(data_dir=tmp_path, limiters=registry)) for name in ("a", "b")
    )
    assert one.client.rate_limiter is two.client.rate_limiter  # one token: one budget in one App
    alone, other = (CloudflareProvider(n, config, ProviderContext(data_dir=tmp_path)) for n in ("c", "d"))
    assert alone.client.rate_limiter is not other.client.rate_limiter  # no registry: nothing shared
    first, second = App(settings), App(settings)
    assert first.rate_limiters is not second.rate_limiters
    built = CloudflareProvider("e", config, ProviderContext(data_dir=tmp_path, limiters=first.rate_limiters))
    assert built.client.rate_limiter in first.rate_limiters.values() and not second.rate_limiters


async def test_two_providers_of_one_token_in_one_plan_share_the_apps_budget(fake: FakeCloudflare, app: App) -> None:
    from email_infrastructure.core.inventory.loader import parse_inventory_text
    from email_infrastructure.reconcile.build import build
    from email_infrastructure.reconcile.registry import provider_schemas
    from email_infrastructure.services.context import AppContext

    text = inventory(fake, "a-outreach.test").replace(
        "    cf: {", f'    cf2: {{type: cloudflare, api_token: env:CF_TEST_TOKEN, api_url: "{fake.url}"}}\n    cf: {{'
    )
    parsed = parse_inventory_text(text, "inventory.yaml", provider_schemas())
    reconciler = await build(AppContext(app), parsed.inventory)
    try:
        one, two = reconciler.providers["cf"], reconciler.providers["cf2"]
        assert isinstance(one, CloudflareProvider) and isinstance(two, CloudflareProvider)
        assert one.client.rate_limiter is two.client.rate_limiter
        assert one.client.rate_limiter in app.rate_limiters.values()
    finally:
        await reconciler.close()
