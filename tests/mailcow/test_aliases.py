"""Aliases on the fake Mailcow (catch-all, several targets, deletion), as mailcow-api.md §6 and
functions.mailbox.inc.php describe them, and the backend's alias calls on top of them."""

from __future__ import annotations

import pytest

from email_infrastructure.mailcow.backend import Alias
from email_infrastructure.mailcow.client import MailcowClient, MailcowWriteError
from email_infrastructure.mailcow.config import MailcowSettings
from email_infrastructure.mailcow.mailcow_backend import ALIAS_MARK, MailcowBackend
from tests.fakes.mailcow import FakeMailcow

Fake = tuple[FakeMailcow, str]


async def test_the_fake_keeps_a_catch_all_as_at_domain_and_flags_it(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    messages = await client.add_alias("@a.test", "ops@example.net")
    assert messages[-1].key == "alias_added" and messages[-1].args[0] == "@a.test"
    (alias,) = await client.aliases("a.test")
    assert (alias["address"], alias["is_catch_all"], alias["goto"], alias["active_int"]) == (
        "@a.test",
        1,
        "ops@example.net",
        1,
    )


async def test_the_fake_splits_checks_and_joins_several_targets(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    # space, comma and semicolon split; a repeated target is kept once; the order is the one sent
    await client.add_alias("sales@a.test", "b@y.test; a@x.test,b@y.test a@x.test")
    (alias,) = await client.aliases("a.test")
    assert alias["goto"] == "b@y.test,a@x.test"
    # a bad target is a danger entry and is dropped; the alias is still made with the good ones
    with pytest.raises(MailcowWriteError, match="goto_invalid") as info:
        await client.add_alias("info@a.test", "not-an-address, c@z.test")
    assert info.value.code == "goto_invalid"
    assert {a["address"]: a["goto"] for a in await client.aliases("a.test")}["info@a.test"] == "c@z.test"


async def test_the_fake_edits_targets_by_id_and_refuses_the_alias_itself(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    await client.add_alias("sales@a.test", "a@x.test")
    (alias,) = await client.aliases("a.test")
    await client.edit_alias(str(alias["id"]), {"goto": "c@z.test,d@z.test", "active": "1"})
    assert (await client.aliases("a.test"))[0]["goto"] == "c@z.test,d@z.test"
    with pytest.raises(MailcowWriteError, match="alias_goto_identical"):
        await client.edit_alias(str(alias["id"]), {"goto": "sales@a.test"})
    assert (await client.aliases("a.test"))[0]["goto"] == "c@z.test,d@z.test"  # nothing valid: unchanged
    await client.edit_alias(str(alias["id"]), {"goto_null": "1"})
    assert (await client.aliases("a.test"))[0]["goto"] == "null@localhost"


async def test_the_fake_deletes_by_id_and_refuses_an_unknown_one(client: MailcowClient) -> None:
    await client.add_domain({"domain": "a.test"})
    await client.add_alias("@a.test", "ops@example.net", comment="mine")
    (alias,) = await client.aliases("a.test")
    assert alias["private_comment"] == "mine"
    messages = await client.delete_aliases([str(alias["id"])])
    assert [(m.key, m.args) for m in messages] == [("alias_removed", ("@a.test",))]
    assert await client.aliases("a.test") == []
    with pytest.raises(MailcowWriteError, match="access_denied"):
        await client.delete_aliases([str(alias["id"])])


@pytest.fixture
async def backend(fake_mailcow: Fake, client: MailcowClient) -> MailcowBackend:
    _, url = fake_mailcow
    await client.add_domain({"domain": "a.test"})
    return MailcowBackend("mc", MailcowSettings(url=url, api_key="env:UNUSED"), client)


async def test_backend_marks_what_it_creates_and_reads_the_mark_back(
    backend: MailcowBackend, client: MailcowClient
) -> None:
    await client.add_alias("byhand@a.test", "x@y.test")
    await backend.ensure_alias(Alias("@a.test", "a@x.test,b@x.test"), None)
    read = {a.address: a for a in await backend.aliases("a.test")}
    assert read["@a.test"].managed and not read["byhand@a.test"].managed
    assert {a["address"]: a["private_comment"] for a in await client.aliases("a.test")}["@a.test"] == ALIAS_MARK
    # the targets read back in another order are the same alias; a new target is an update
    assert read["@a.test"].same(Alias("@a.test", "b@x.test, a@x.test"))
    await backend.ensure_alias(Alias("@a.test", "c@x.test"), read["@a.test"])
    assert {a.address: a.goto for a in await backend.aliases("a.test")}["@a.test"] == "c@x.test"


async def test_backend_removes_by_id_and_reads_back(backend: MailcowBackend) -> None:
    await backend.ensure_alias(Alias("sales@a.test", "a@x.test"), None)
    (alias,) = await backend.aliases("a.test")
    await backend.remove_alias(alias)
    assert await backend.aliases("a.test") == []


async def test_a_target_mailcow_drops_is_an_error_and_the_next_plan_sees_the_difference(
    backend: MailcowBackend,
) -> None:
    # Mailcow drops a target it finds invalid, keeps the rest and says so in a danger entry
    wanted = Alias("sales@a.test", "a@x.test,bad")
    with pytest.raises(MailcowWriteError, match="goto_invalid"):
        await backend.ensure_alias(wanted, None)
    (alias,) = await backend.aliases("a.test")
    assert alias.goto == "a@x.test" and not alias.same(wanted)
