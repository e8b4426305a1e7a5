"""Plan-time checks of a server against its provider's catalogue, and the catalogue's cache."""

from __future__ import annotations

import os
from pathlib import Path

from email_infrastructure.core.inventory import ServerSpec
from email_infrastructure.vps.catalogue import CACHE_SECONDS, cached_catalogue, catalogue_problems
from email_infrastructure.vps.provider import Catalogue, ServerType

CATALOGUE = Catalogue(
    server_types={
        "cx22": ServerType("cx22", 2, 4096, 40, frozenset({"fsn1", "nbg1"})),
        "cx32": ServerType("cx32", 4, 8192, 80, frozenset({"fsn1", "nbg1"})),
        "cpx11": ServerType("cpx11", 2, 2048, 40, None),
    },
    locations=frozenset({"fsn1", "nbg1", "ash"}),
    images=frozenset({"debian-12", "ubuntu-24.04"}),
)


def spec(**fields: str) -> ServerSpec:
    base = {"name": "mx1", "hostname": "mail.fleet.test", "provider": "hz", "size": "cx32", "region": "nbg1"}
    return ServerSpec.model_validate({**base, "image": "debian-12", "mail_backend": "mc", **fields})


def test_a_valid_server_has_no_problem() -> None:
    assert catalogue_problems(spec(), CATALOGUE, "hetzner") == ([], [])


def test_unknown_names_are_errors_with_suggestions() -> None:
    errors, _ = catalogue_problems(spec(size="cx23", region="nbg2", image="debian-13"), CATALOGUE, "hetzner")
    assert errors == [
        "hetzner server type 'cx23' is not offered (did you mean cx32, cx22?)",
        "hetzner location 'nbg2' is not offered (did you mean nbg1?)",
        "hetzner image 'debian-13' is not offered (did you mean debian-12?)",
    ]


def test_a_type_not_sold_in_the_location_is_an_error() -> None:
    errors, _ = catalogue_problems(spec(region="ash"), CATALOGUE, "hetzner")
    assert errors == ["hetzner server type 'cx32' is not available in 'ash'"]


def test_too_little_memory_for_mailcow_is_a_warning_only_for_a_mail_server() -> None:
    _, warnings = catalogue_problems(spec(size="cx22"), CATALOGUE, "hetzner")
    assert warnings and "4 GiB of memory; Mailcow needs at least 6 GiB" in warnings[0]
    relay = ServerSpec.model_validate(
        {"name": "r1", "hostname": "r.fleet.test", "provider": "hz", "size": "cx22", "region": "nbg1"}
    )
    assert catalogue_problems(relay, CATALOGUE, "hetzner") == ([], [])


class Counting:
    type = "fake"

    def __init__(self) -> None:
        self.calls = 0

    async def catalogue(self) -> Catalogue:
        self.calls += 1
        return CATALOGUE


async def test_the_catalogue_is_cached_for_a_day_and_a_broken_cache_is_refetched(tmp_path: Path) -> None:
    provider = Counting()
    first = await cached_catalogue(provider, tmp_path, "k")  # type: ignore[arg-type]  # only catalogue() is used
    second = await cached_catalogue(provider, tmp_path, "k")  # type: ignore[arg-type]  # only catalogue() is used
    assert first == second == CATALOGUE and provider.calls == 1
    path = tmp_path / "vps-catalogue-k.json"
    old = path.stat().st_mtime - CACHE_SECONDS - 1
    os.utime(path, (old, old))
    await cached_catalogue(provider, tmp_path, "k")  # type: ignore[arg-type]  # only catalogue() is used
    assert provider.calls == 2
    path.write_text("{not json")
    assert await cached_catalogue(provider, tmp_path, "k") == CATALOGUE  # type: ignore[arg-type]  # only catalogue() is used
    assert provider.calls == 3
