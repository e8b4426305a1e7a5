"""Personas from the inventory or a pattern; the component's health from status/containers and version."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from email_infrastructure.core.component import ComponentContext, HealthStatus
from email_infrastructure.core.events import EventBus
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.core.settings import Settings
from email_infrastructure.mailcow.component import MailcowComponent
from email_infrastructure.mailcow.naming import personas, render, warnings
from tests.conftest import Cli
from tests.fakes.mailcow import FakeMailcow


def _inventory(domain: dict[str, object], defaults: dict[str, object] | None = None) -> Inventory:
    return Inventory.model_validate({"version": 1, "defaults": defaults or {}, "domains": [domain]})


def test_listed_people_are_used_as_given() -> None:
    inv = _inventory({"name": "a.test", "mailboxes": [{"first_name": "Zoë", "last_name": "Ng", "local_part": "z"}]})
    (person,) = personas(inv.resolved_domains()[0])
    assert (person.local_part, person.display_name) == ("z", "Zoë Ng")


def test_a_count_and_a_pattern_give_the_same_distinct_people_every_time() -> None:
    inv = _inventory({"name": "a.test", "mailbox_pattern": "{f}{last}", "mailbox_count": 4})
    first = personas(inv.resolved_domains()[0])
    assert first == personas(inv.resolved_domains()[0])
    assert len({p.local_part for p in first}) == 4
    assert all(p.local_part == render("{f}{last}", p.first_name, p.last_name) for p in first)
    other = personas(_inventory({"name": "b.test", "mailbox_count": 4}).resolved_domains()[0])
    assert {p.local_part for p in other} != {p.local_part for p in first}


def test_the_default_is_three_per_domain_and_more_than_five_warns() -> None:
    domain = _inventory({"name": "a.test"}).resolved_domains()[0]
    assert len(personas(domain)) == 3 and not warnings(domain, personas(domain))
    many = _inventory({"name": "a.test"}, {"mailboxes_per_domain": 6}).resolved_domains()[0]
    assert len(personas(many)) == 6 and "more than 5" in warnings(many, personas(many))[0]


def test_a_pattern_of_initials_collides_and_is_resolved_with_numbers() -> None:
    domain = _inventory({"name": "a.test", "mailbox_pattern": "{f}", "mailbox_count": 30}).resolved_domains()[0]
    people = personas(domain)
    assert len({p.local_part for p in people}) == 30


def test_a_pattern_needs_a_placeholder() -> None:
    with pytest.raises(ValidationError, match="mailbox_pattern"):
        _inventory({"name": "a.test", "mailbox_pattern": "sales"})


async def test_health_reads_the_server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.http_server import FakeServer

    fake = FakeMailcow()
    monkeypatch.setenv("MC_KEY", fake.rw_key)
    with FakeServer(fake) as server:
        inv = Inventory.model_validate(
            {
                "version": 1,
                "providers": {"mail": {"mc": {"type": "mailcow", "url": server.url, "api_key": "env:MC_KEY"}}},
            }
        )
        component = MailcowComponent(ComponentContext(settings, EventBus(), inv))
        ok = await component.health_check()
        assert ok.status is HealthStatus.OK and "2026-08" in ok.detail
        fake.stopped = {"postfix"}
        degraded = await component.health_check()
        assert degraded.status is HealthStatus.DEGRADED and "postfix-mailcow" in degraded.detail
        monkeypatch.setenv("MC_KEY", fake.ro_key[:-1] + "0")
        down = await component.health_check()
        assert down.status is HealthStatus.DOWN and "authentication failed" in down.detail


def test_export_help_says_which_headers_are_unconfirmed(cli: Cli) -> None:
    done = cli("export", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "reconstructed (unconfirmed)" in text and "holds secrets" in text
