"""Admin pages (admin scope): API keys (`/admin/keys`), alert sinks (`/admin/alerts`) and, for an operator,
the vault's status (`/admin/vault`); over services/key_admin.py, services/alert_sinks.py, services/vault.py.

A new key is shown once, on the page that answers its creation (`Cache-Control: no-store`, as every
page); it is never stored, logged or put in an event. Revoking the key you are logged in with is
allowed, after a warning on the confirmation page: the session ends with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from email_infrastructure.core.errors import NotFoundError, ProviderError
from email_infrastructure.dashboard.render import PageRoute, link, redirect, render
from email_infrastructure.dashboard.session import Visitor, check_csrf
from email_infrastructure.dashboard.workspaces import Member, Place
from email_infrastructure.services.apikeys import SCOPES, ApiKeyService, KeyInfo, require
from email_infrastructure.services.app import App

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]
KeyName = Annotated[str, Path(max_length=128)]
#: the command that rotates the vault key (never from a page: see docs/deploy.md)
ROTATE = "email-infra vault rotate-key"


async def admin(who: Member) -> Visitor:
    """The visitor acting in the page's workspace, whose key must have the admin scope (403 otherwise)."""
    assert who.key is not None
    require(who.key, "admin")
    return who


Admin = Annotated[Visitor, Depends(admin)]


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


def _keys(request: Request) -> ApiKeyService:
    # the server's own service: a revocation here clears its cache of verified keys at once
    keys: ApiKeyService = request.app.state.keys
    return keys


def _key(who: Visitor) -> KeyInfo:
    assert who.key is not None
    return who.key


def _workspace(request: Request) -> str:
    place: Place = request.state.place
    return place.workspace


def _source(who: Visitor) -> str:
    return f"dashboard:{_key(who).name}"


@router.get("/admin")
async def admin_home(request: Request, who: Admin) -> Response:
    """The admin pages start with the keys."""
    return redirect(link(request, "/admin/keys"))


async def _keys_page(request: Request, who: Visitor, status_code: int = 200, **context: object) -> Response:
    from email_infrastructure.services.key_admin import visible_keys

    found = await visible_keys(_keys(request), _key(who), _workspace(request))
    return render(request, "admin_keys.html", status_code, keys=found, scopes=SCOPES, **context)


@router.get("/admin/keys")
async def keys_page(request: Request, who: Admin) -> Response:
    """The keys of the workspace (and, for an operator, the operator keys) with the form to create one."""
    return await _keys_page(request, who)


@router.post("/admin/keys")
async def create(request: Request, who: Admin, form: Form) -> Response:
    """Create a key and show it this once."""
    from email_infrastructure.services.key_admin import create_key

    made = await create_key(
        _keys(request),
        _key(who),
        _workspace(request),
        form.get("name", ""),
        form.get("scope", ""),
        operator=form.get("operator") == "yes",
        source=_source(who),
    )
    return await _keys_page(request, who, created=made)


@router.get("/admin/keys/{name}/revoke")
async def confirm_revoke(request: Request, who: Admin, name: KeyName) -> Response:
    """Ask before revoking; warn when it is the key this session is logged in with."""
    from email_infrastructure.services.key_admin import find_key

    target = await find_key(_keys(request), _key(who), _workspace(request), name)
    return render(request, "admin_revoke.html", target=target, own=target.name == _key(who).name)


@router.post("/admin/keys/{name}/revoke")
async def revoke(request: Request, who: Admin, form: Form, name: KeyName) -> Response:
    """Revoke the key; revoking your own ends this session (the login page follows)."""
    from email_infrastructure.services.key_admin import revoke_key

    await revoke_key(_keys(request), _key(who), _workspace(request), name, source=_source(who))
    if name == _key(who).name:
        return redirect("/login")
    return redirect(link(request, "/admin/keys"))


async def _alerts_page(request: Request, status_code: int = 200, **context: object) -> Response:
    from email_infrastructure.services.alert_sinks import TYPES, list_sinks

    found = await list_sinks(_app(request))
    return render(request, "admin_alerts.html", status_code, found=found, types=TYPES, **context)


@router.get("/admin/alerts")
async def alerts_page(request: Request, who: Admin) -> Response:
    """The workspace's alert sinks, secrets masked, with test, remove and add."""
    return await _alerts_page(request)


@router.post("/admin/alerts")
async def add(request: Request, who: Admin, form: Form) -> Response:
    """Add a sink (validated as an inventory file's would be); the next monitor run uses it."""
    from email_infrastructure.services.alert_sinks import add_sink

    added, warnings = await add_sink(
        _app(request), form.get("type", ""), form, take_over=form.get("take_over") == "yes", source=_source(who)
    )
    return await _alerts_page(request, done=f"added the alert sink {added.name}", warnings=warnings)


@router.post("/admin/alerts/test")
async def test_send(request: Request, who: Admin, form: Form) -> Response:
    """Send a test alert through the sink now; say whether it was delivered."""
    from email_infrastructure.services.alert_sinks import send_test_alert

    try:
        sent = await send_test_alert(_app(request), form.get("name", ""), source=_source(who))
    except ProviderError as exc:
        return await _alerts_page(request, 502, failed=str(exc))
    return await _alerts_page(request, done=f"a test alert was delivered to {sent.name} ({sent.target})")


@router.post("/admin/alerts/remove")
async def remove(request: Request, who: Admin, form: Form) -> Response:
    """Remove a sink."""
    from email_infrastructure.services.alert_sinks import remove_sink

    await remove_sink(
        _app(request), form.get("name", ""), take_over=form.get("take_over") == "yes", source=_source(who)
    )
    return redirect(link(request, "/admin/alerts"))


@router.get("/admin/vault")
async def vault_page(request: Request, who: Admin) -> Response:
    """The vault's key id, last rotation and secrets (install-wide: an operator's page only)."""
    from email_infrastructure.services.vault import vault_status

    if not _key(who).operator:
        raise NotFoundError("no such page")
    return render(request, "admin_vault.html", vault=await vault_status(_app(request)), rotate=ROTATE)


__all__ = ["router"]
