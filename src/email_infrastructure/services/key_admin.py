"""API keys as an admin of one workspace manages them (the dashboard's `/admin/keys`), over ApiKeyService.

Who sees what: a workspace key sees and manages the keys of its own workspace only; an operator key
those of the workspace it acts in and the operator keys (every workspace's), and only it may make an
operator key. Every change is ApiKeyService's (its events: `api.key.created`, `api.key.revoked`).
"""

from __future__ import annotations

from email_infrastructure.core.errors import NotFoundError
from email_infrastructure.services.apikeys import ApiKeyService, CreatedKey, KeyInfo, PermissionDeniedError, require


def _visible(who: KeyInfo, workspace: str, key: KeyInfo) -> bool:
    if who.operator:
        return key.operator or key.workspace == workspace
    return key.workspace_id == who.workspace_id


async def visible_keys(keys: ApiKeyService, who: KeyInfo, workspace: str) -> list[KeyInfo]:
    """The keys `who` (an admin) manages in `workspace`: active ones first, then revoked, each by name."""
    require(who, "admin")
    found = [k for k in await keys.list() if _visible(who, workspace, k)]
    return sorted(found, key=lambda k: (k.revoked_at is not None, k.name))


async def create_key(
    keys: ApiKeyService, who: KeyInfo, workspace: str, name: str, scope: str, *, operator: bool, source: str
) -> CreatedKey:
    """A new key of `workspace` (or, for an operator, of every workspace); shown once by the caller."""
    require(who, "admin")
    if operator and not who.operator:
        raise PermissionDeniedError("only an operator key may create an operator key")
    return await keys.create(name.strip(), scope, source=source, workspace=None if operator else workspace)


async def revoke_key(keys: ApiKeyService, who: KeyInfo, workspace: str, name: str, *, source: str) -> KeyInfo:
    """Revoke one key `who` manages (another workspace's is not found, whatever it is called)."""
    require(who, "admin")
    target = await find_key(keys, who, workspace, name)
    if target.revoked_at is not None:
        return target
    return await keys.revoke(target.name, source=source)


async def find_key(keys: ApiKeyService, who: KeyInfo, workspace: str, name: str) -> KeyInfo:
    """One key `who` manages; NotFoundError otherwise."""
    found = next((k for k in await visible_keys(keys, who, workspace) if k.name == name), None)
    if found is None:
        raise NotFoundError(f"no API key named {name!r} here")
    return found


__all__ = ["create_key", "find_key", "revoke_key", "visible_keys"]
