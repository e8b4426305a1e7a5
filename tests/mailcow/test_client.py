"""The Mailcow client against the fake: envelopes, traps of mailcow-api.md §3/§11, auth answers."""

from __future__ import annotations

import socket

import pytest

from email_infrastructure.core.errors import ProviderAuthError, ProviderTimeoutError
from email_infrastructure.core.http import RetryPolicy
from email_infrastructure.mailcow.client import MailcowClient, MailcowWriteError
from tests.fakes.http_server import FakeServer
from tests.fakes.mailcow import FakeMailcow

Fake = tuple[FakeMailcow, str]


async def _no_sleep(_: float) -> None:
    return None


async def test_add_domain_scans_every_entry_and_the_key_comes_with_it(client: MailcowClient) -> None:
    messages = await client.add_domain({"domain": "a.test", "rl_value": "10", "rl_frame": "h"})
    # rl_saved, dkim_added, domain_added: the domain result is not the first entry
    assert [m.key for m in messages] == ["rl_saved", "dkim_added", "domain_added"]
    domain = await client.domain("a.test")
    assert domain is not None and domain["max_num_mboxes_for_domain"] == 10
    assert domain["def_quota_for_mbox"] == 3072 * 1024 * 1024  # MiB written, bytes read
    key = await client.dkim("a.test")
    assert key is not None and key["length"] == "2048" and key["dkim_selector"] == "dkim"


async def test_a_danger_under_http_200_is_an_error_with_its_message_key(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    with pytest.raises(MailcowWriteError, match="domain_exists") as info:
        await client.add_domain({"domain": "a.test"})
    assert info.value.code == "domain_exists" and info.value.status == 200


async def test_a_failing_automatic_dkim_step_beside_domain_added_is_tolerated(
    client: MailcowClient, fake_mailcow: Fake
) -> None:
    fake, _ = fake_mailcow
    fake.dkim_keygen_fails = True
    messages = await client.add_domain({"domain": "a.test"})
    assert [m.key for m in messages] == ["dkim_domain_or_sel_invalid", "domain_added"]
    assert await client.dkim("a.test") is None
    # but the same key from add/dkim is a failure
    with pytest.raises(MailcowWriteError, match="dkim_domain_or_sel_invalid"):
        await client.add_dkim("a.test", "dkim", 2048)


async def test_task_completed_with_no_entry_is_not_success(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    # `domain` instead of `domains`: the API says "Task completed" and does nothing
    with pytest.raises(MailcowWriteError, match="no answer entries"):
        await client.write("add", "dkim", {"domain": "a.test", "key_size": "2048"})


async def test_reads_of_missing_objects_are_none_and_empty_lists(client: MailcowClient) -> None:
    assert await client.domains() == []
    assert await client.domain("nope.test") is None
    assert await client.mailbox("x@nope.test") is None
    assert await client.mailboxes("nope.test") == []
    assert await client.dkim("nope.test") is None
    assert await client.mailbox_rate_limit("x@nope.test") is None


async def test_mailbox_add_answers_rl_saved_first_and_name_is_stored(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    attrs = {"local_part": "ann", "domain": "a.test", "name": "Ann Lee", "password": "s3cret-pw!",
             "password2": "s3cret-pw!", "quota": "1024", "active": "1", "rl_value": "30", "rl_frame": "d"}  # fmt: skip
    messages = await client.add_mailbox(attrs)
    assert [m.key for m in messages] == ["rl_saved", "mailbox_added"]
    box = await client.mailbox("ann@a.test")
    assert box is not None and box["name"] == "Ann Lee" and box["quota"] == 1024 * 1024 * 1024
    assert await client.mailbox_rate_limit("ann@a.test") == {"value": "30", "frame": "d"}
    # the password is masked in the server's log entry, and not in our error either
    with pytest.raises(MailcowWriteError) as info:
        await client.add_mailbox(attrs)
    assert info.value.code == "object_exists" and "s3cret-pw!" not in str(info.value)
    assert "s3cret-pw!" not in repr(info.value.details)


async def test_a_misspelt_rate_limit_deletes_it_and_still_says_saved(client: MailcowClient) -> None:
    # why the backend reads every limit back
    await client.add_domain({"domain": "a.test"})
    await client.add_mailbox({"local_part": "ann", "domain": "a.test", "name": "A", "password": "pw-123456",
                              "password2": "pw-123456", "rl_value": "30", "rl_frame": "d"})  # fmt: skip
    messages = await client.write(
        "edit", "rl-mbox", {"items": ["ann@a.test"], "attr": {"rl_vlaue": "5", "rl_frame": "d"}}
    )
    assert [m.key for m in messages] == ["rl_saved"]
    assert await client.mailbox_rate_limit("ann@a.test") is None


async def test_alias_active_is_always_sent(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    await client.add_alias("postmaster@a.test", "ops@example.net")
    (alias,) = await client.aliases("a.test")
    assert alias["active_int"] == 1


async def test_delete_domain_needs_an_empty_domain_and_leaves_the_dkim_key(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    await client.add_mailbox({"local_part": "ann", "domain": "a.test", "name": "A", "password": "pw-123456",
                              "password2": "pw-123456"})  # fmt: skip
    with pytest.raises(MailcowWriteError, match="domain_not_empty"):
        await client.delete_domains(["a.test"])
    await client.delete_mailboxes(["ann@a.test"])
    await client.delete_domains(["a.test"])
    assert await client.domain("a.test") is None
    assert await client.dkim("a.test") is not None  # mailcow/mailcow-dockerized#5593
    await client.delete_dkim(["a.test"])
    assert await client.dkim("a.test") is None


async def test_a_wrong_key_is_a_clear_auth_error(fake_mailcow: Fake) -> None:
    _, url = fake_mailcow
    async with MailcowClient(url, "WRONG-KEY", sleep=_no_sleep) as c:
        with pytest.raises(ProviderAuthError, match="authentication failed: the API key was refused") as info:
            await c.domains()
    assert info.value.status == 401 and "WRONG-KEY" not in str(info.value)


async def test_a_read_only_key_reads_but_cannot_write(fake_mailcow: Fake) -> None:
    fake, url = fake_mailcow
    async with MailcowClient(url, fake.ro_key, sleep=_no_sleep) as c:
        assert await c.domains() == []
        with pytest.raises(ProviderAuthError, match="the API key is read-only") as info:
            await c.add_domain({"domain": "a.test"})
    assert info.value.status == 403 and info.value.code == "API read/write access denied"
    assert fake.domains == {}


async def test_a_refused_ip_says_what_to_fix(fake_mailcow: Fake) -> None:
    fake, url = fake_mailcow
    fake.ip_denied = True
    async with MailcowClient(url, fake.rw_key, sleep=_no_sleep) as c:
        with pytest.raises(ProviderAuthError, match="API_ALLOW_FROM"):
            await c.version()


async def test_no_cookie_is_ever_kept_or_sent(client: MailcowClient, fake_mailcow: Fake) -> None:
    fake, _ = fake_mailcow
    await client.version()
    await client.add_domain({"domain": "a.test"})
    await client.domains()
    assert fake.sessions  # the server handed out PHP sessions that would be admin sessions
    assert not list(client.cookies.jar)
    assert all("cookie" not in headers for _, _, headers, _ in fake.requests)
    assert all("sec-fetch-dest" not in headers for _, _, headers, _ in fake.requests)


async def test_the_fake_honours_a_kept_session_cookie_so_the_test_above_means_something(fake_mailcow: Fake) -> None:
    import httpx

    fake, url = fake_mailcow
    async with httpx.AsyncClient(base_url=url) as raw:
        first = await raw.get("/api/v1/get/status/version", headers={"X-API-Key": fake.rw_key})
        assert first.status_code == 200
        keyless = await raw.post("/api/v1/add/domain", json={"domain": "b.test"})
    assert keyless.status_code == 200 and "b.test" in fake.domains


async def test_methods_and_routes(fake_mailcow: Fake) -> None:
    import httpx

    fake, url = fake_mailcow
    headers = {"X-API-Key": fake.rw_key}
    async with httpx.AsyncClient(base_url=url, headers=headers) as raw:
        assert (await raw.post("/api/v1/get/domain/all", json={})).status_code == 405
        assert (await raw.get("/api/v1/add/domain")).status_code == 405
        assert (await raw.get("/api/v1/get/nothing/here")).json() == {"type": "error", "msg": "route not found"}
        assert (await raw.get("/api/v1/get/domain/all", headers={"Sec-Fetch-Dest": "document"})).status_code == 403
        assert (await raw.get("/api/v1/get/domain/all", headers={"X-API-Key": ""})).status_code == 401


async def test_health_reads_containers_and_version(client: MailcowClient, fake_mailcow: Fake) -> None:
    fake, _ = fake_mailcow
    fake.stopped = {"postfix"}
    containers = await client.containers()
    assert containers["postfix-mailcow"]["state"] == "exited"
    assert containers["dovecot-mailcow"]["state"] == "running"
    assert await client.version() == "2026-08"


async def test_mailcow_down_is_unreachable_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with MailcowClient(f"http://127.0.0.1:{port}", "K", retry=RetryPolicy(attempts=2), sleep=_no_sleep) as c:
        with pytest.raises(ProviderTimeoutError, match="unreachable after 2 attempts"):
            await c.domains()


async def test_a_slow_write_is_not_retried() -> None:
    fake = FakeMailcow(latency=0.5)
    with FakeServer(fake) as server:
        async with MailcowClient(server.url, fake.rw_key, timeout=0.1, sleep=_no_sleep) as c:
            with pytest.raises(ProviderTimeoutError, match="not retried"):
                await c.add_domain({"domain": "a.test"})
    assert fake.calls["POST add/domain"] == 1 and "a.test" in fake.domains  # the next plan reads it
