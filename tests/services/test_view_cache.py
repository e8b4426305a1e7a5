"""The App's domain view cache across workspaces: a view or fleet computed in one is never served in another."""

from __future__ import annotations

from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.domains import page_domains, show_domain
from email_infrastructure.services.scope import acting_in
from email_infrastructure.services.view_cache import DomainViewCache
from tests.services.conftest import WriteInventory, two_domains


def test_fleets_are_kept_per_workspace() -> None:
    cache: DomainViewCache[str] = DomainViewCache()
    cache.keep_fleet(1, "stamp", "rows of 1")
    assert cache.fleet(1, "stamp") == "rows of 1"
    assert cache.fleet(2, "stamp") is None and cache.fleet(1, "other stamp") is None
    cache.invalidate()
    assert cache.fleet(1, "stamp") is None


async def test_each_workspace_lists_views_of_its_own_fleet(app: App, write_inventory: WriteInventory) -> None:
    await workspaces.create(app, "amber")
    await workspaces.create(app, "birch")
    for name, server, domains in (
        ("amber", "mx-amber", ("one.test", "two.test")),
        ("birch", "mx-birch", ("three.test", "four.test")),
    ):
        text = two_domains(*domains).replace("mx1", server)
        with acting_in(name):
            await import_inventory(app, write_inventory(text, f"{name}.yaml"))
    for _ in range(2):  # the second round is served from the cache
        for name, server, count in (("amber", "mx-amber", 2), ("birch", "mx-birch", 2)):
            with acting_in(name):
                page = await page_domains(app)
                one = await show_domain(app, page.domains[0].name)
            assert page.total == count == len(page.domains)
            assert {v.spec["server"] for v in page.domains} == {server} and one.spec["server"] == server
