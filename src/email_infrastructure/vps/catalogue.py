"""Plan-time checks of a server against its provider's catalogue, and the catalogue's cache."""

from __future__ import annotations

import difflib
import json
import os
import time
from pathlib import Path

from email_infrastructure.core.inventory import ServerSpec
from email_infrastructure.vps.cloud_init import MAILCOW_MIN_MEMORY_MIB
from email_infrastructure.vps.provider import Catalogue, ServerType, VpsProvider

#: a provider's catalogue changes rarely; a day keeps plans from asking on every run
CACHE_SECONDS = 24 * 3600


def _unknown(what: str, value: str, known: frozenset[str] | set[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{what} {value!r} is not offered{hint}"


def catalogue_problems(spec: ServerSpec, catalogue: Catalogue, provider: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a server's type, location and image at its provider."""
    errors: list[str] = []
    warnings: list[str] = []
    size, region, image = spec.size or "", spec.region or "", spec.image or ""
    server_type = catalogue.server_types.get(size)
    if server_type is None:
        errors.append(_unknown(f"{provider} server type", size, set(catalogue.server_types)))
    if region not in catalogue.locations:
        errors.append(_unknown(f"{provider} location", region, catalogue.locations))
    if image and image not in catalogue.images:
        errors.append(_unknown(f"{provider} image", image, catalogue.images))
    if server_type is not None:
        if server_type.locations is not None and region in catalogue.locations and region not in server_type.locations:
            errors.append(f"{provider} server type {size!r} is not available in {region!r}")
        if spec.mail_backend and server_type.memory_mib < MAILCOW_MIN_MEMORY_MIB:
            warnings.append(
                f"server {spec.name}: {size} has {server_type.memory_mib / 1024:g} GiB of memory; Mailcow needs "
                f"at least {MAILCOW_MIN_MEMORY_MIB // 1024} GiB (plus 1 GiB swap, which the install adds)"
            )
    return errors, warnings


def _to_json(catalogue: Catalogue) -> dict[str, object]:
    return {
        "server_types": {
            name: {
                "cores": t.cores,
                "memory_mib": t.memory_mib,
                "disk_gb": t.disk_gb,
                "locations": sorted(t.locations) if t.locations is not None else None,
            }
            for name, t in catalogue.server_types.items()
        },
        "locations": sorted(catalogue.locations),
        "images": sorted(catalogue.images),
    }


def _from_json(data: dict[str, object]) -> Catalogue:
    types = data["server_types"]
    assert isinstance(types, dict)
    locations, images = data["locations"], data["images"]
    assert isinstance(locations, list) and isinstance(images, list)
    return Catalogue(
        server_types={
            str(name): ServerType(
                str(name),
                int(t["cores"]),
                int(t["memory_mib"]),
                int(t["disk_gb"]),
                frozenset(t["locations"]) if t.get("locations") is not None else None,
            )
            for name, t in types.items()
        },
        locations=frozenset(str(x) for x in locations),
        images=frozenset(str(x) for x in images),
    )


async def cached_catalogue(provider: VpsProvider, cache_dir: Path, key: str) -> Catalogue:
    """The provider's catalogue, from `cache_dir` when younger than a day (a bad cache is refetched)."""
    path = cache_dir / f"vps-catalogue-{key}.json"
    try:
        if time.time() - path.stat().st_mtime < CACHE_SECONDS:
            return _from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        pass
    catalogue = await provider.catalogue()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_to_json(catalogue)))
    tmp.replace(path)
    return catalogue
