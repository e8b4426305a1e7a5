"""The vendor HTTP helper: retries, Retry-After, error mapping, client-side rate limit."""

from __future__ import annotations

import httpx
import pytest

from email_infrastructure.core.errors import (
    ProviderAuthError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    ProviderValidationError,
)
from email_infrastructure.core.http import RateLimiter, RetryPolicy, VendorClient


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(handler: httpx.MockTransport | None, sleeps: Sleeps, **kwargs: object) -> VendorClient:
    return VendorClient("http://vendor.test", transport=handler, sleep=sleeps, **kwargs)  # type: ignore[arg-type]


def sequence(*responses: httpx.Response | Exception) -> httpx.MockTransport:
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = items.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler)


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    sleeps = Sleeps()
    transport = sequence(httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(200, json={"ok": 1}))
    async with client(transport, sleeps) as c:
        response = await c.request("GET", "/x")
    assert response.json() == {"ok": 1}
    assert len(sleeps.delays) == 1 and 7 <= sleeps.delays[0] <= 7.25
    assert c.calls == 2


async def test_5xx_and_connection_errors_retry_with_bounded_backoff() -> None:
    sleeps = Sleeps()
    transport = sequence(httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(502), httpx.Response(200))
    async with client(transport, sleeps, retry=RetryPolicy(attempts=4, base_delay=1, max_delay=2)) as c:
        assert (await c.request("GET", "/x")).status_code == 200
    assert len(sleeps.delays) == 3
    assert all(0 <= d <= 2 for d in sleeps.delays)


async def test_retries_are_bounded_then_mapped() -> None:
    sleeps = Sleeps()
    transport = sequence(*[httpx.Response(500, json={"error": "db down"})] * 3)
    async with client(transport, sleeps, retry=RetryPolicy(attempts=3)) as c:
        with pytest.raises(ProviderServerError, match="HTTP 500: db down"):
            await c.request("GET", "/x")
    assert c.calls == 3

    transport = sequence(*[httpx.Response(429, headers={"retry-after": "1"})] * 2)
    async with client(transport, sleeps, retry=RetryPolicy(attempts=2)) as c:
        with pytest.raises(ProviderRateLimitError) as info:
            await c.request("GET", "/x")
    assert info.value.retry_after == 1

    transport = sequence(*[httpx.ReadTimeout("slow")] * 2)
    async with client(transport, sleeps, retry=RetryPolicy(attempts=2)) as c:
        with pytest.raises(ProviderTimeoutError, match="timed out after 2 attempts"):
            await c.request("GET", "/x")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, ProviderNotFoundError),
        (422, ProviderValidationError),
    ],
)
async def test_client_errors_are_not_retried(status: int, error: type[Exception]) -> None:
    sleeps = Sleeps()
    async with client(sequence(httpx.Response(status, text="nope")), sleeps) as c:
        with pytest.raises(error):
            await c.request("POST", "/x")
    assert c.calls == 1 and sleeps.delays == []


async def test_error_text_never_carries_the_token() -> None:
    sleeps = Sleeps()
    transport = sequence(httpx.Response(400, json={"error": "bad token=abcd1234efgh"}))
    async with client(transport, sleeps) as c:
        with pytest.raises(ProviderValidationError) as info:
            await c.request("GET", "/x")
    assert "abcd1234efgh" not in str(info.value)


async def test_rate_limiter_spaces_requests_beyond_the_burst() -> None:
    now = [0.0]
    sleeps = Sleeps()

    async def fake_sleep(delay: float) -> None:
        sleeps.delays.append(delay)
        now[0] += delay

    limiter = RateLimiter(capacity=3, period=3.0, clock=lambda: now[0])
    for _ in range(5):
        await limiter.acquire(fake_sleep)
    assert sleeps.delays == pytest.approx([1.0, 1.0])


async def test_a_success_that_is_not_json_is_a_provider_error() -> None:
    from email_infrastructure.core.errors import ProviderError

    sleeps = Sleeps()
    async with client(sequence(httpx.Response(200, text="<html>maintenance</html>")), sleeps) as c:
        with pytest.raises(ProviderError, match="the body is not JSON"):
            await c.json("GET", "/x")


async def test_a_create_that_timed_out_after_sending_is_not_sent_again() -> None:
    sleeps = Sleeps()
    transport = sequence(httpx.ReadTimeout("no answer"), httpx.Response(200))
    async with client(transport, sleeps) as c:
        with pytest.raises(ProviderTimeoutError, match="not retried"):
            await c.request("POST", "/records", json={"name": "x"})
    assert c.calls == 1 and sleeps.delays == []


async def test_a_create_that_never_reached_the_vendor_is_sent_again() -> None:
    sleeps = Sleeps()
    transport = sequence(httpx.ConnectError("refused"), httpx.Response(429), httpx.Response(503), httpx.Response(201))
    async with client(transport, sleeps) as c:
        assert (await c.request("POST", "/records")).status_code == 201
    assert c.calls == 4


async def test_a_503_on_a_create_that_must_not_run_twice_is_left_to_the_caller() -> None:
    sleeps = Sleeps()
    async with client(sequence(httpx.Response(503), httpx.Response(201)), sleeps) as c:
        with pytest.raises(ProviderServerError):
            await c.request("POST", "/instances", retry_unavailable=False)
        assert c.calls == 1 and sleeps.delays == []
        # a 429 says the request was not processed: still retried
    async with client(sequence(httpx.Response(429), httpx.Response(201)), sleeps) as c:
        assert (await c.request("POST", "/instances", retry_unavailable=False)).status_code == 201


async def test_a_500_on_a_create_is_not_retried_but_on_an_idempotent_patch_it_is() -> None:
    sleeps = Sleeps()
    async with client(sequence(httpx.Response(500), httpx.Response(200)), sleeps) as c:
        with pytest.raises(ProviderServerError):
            await c.request("POST", "/records")
        assert c.calls == 1
    async with client(sequence(httpx.ReadTimeout("slow"), httpx.Response(500), httpx.Response(200)), sleeps) as c:
        assert (await c.request("PATCH", "/zones/a", idempotent=True)).status_code == 200
        assert c.calls == 3


async def test_vendor_error_code_and_details_are_typed_fields() -> None:
    from email_infrastructure.dns.providers.cloudflare import _CloudflareClient

    body = {"success": False, "errors": [{"code": 81057, "message": "Record already exists."}], "result": None}
    async with _CloudflareClient("http://cf.test", transport=sequence(httpx.Response(400, json=body))) as c:
        with pytest.raises(ProviderValidationError) as caught:
            await c.request("POST", "/zones/z/dns_records/batch")
    assert caught.value.code == "81057"
    assert caught.value.details == [{"code": 81057, "message": "Record already exists."}]
    assert caught.value.status == 400
