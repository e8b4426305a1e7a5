"""Create and edit from the browser: add a domain, add or remove mailboxes, change the DMARC policy or the
redirect, remove a domain. Each form posts to a preview (the plan the change causes; nothing written),
whose Confirm writes it and starts the apply job (services/changes.py, the rules of the CLI and the API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.dashboard.render import PageRoute, link, redirect, render
from email_infrastructure.dashboard.session import check_csrf
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App
from email_infrastructure.services.changes import confirm, new_domain_form, parse_personas, preview
from email_infrastructure.services.domain_edits import DomainEdit
from email_infrastructure.services.job_history import plan_sections
from email_infrastructure.services.queue import TaskQueue

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]
#: the form fields of each change, carried from the form to its preview and on to its confirmation
FIELDS: dict[str, tuple[str, ...]] = {
    "add": ("name", "dns_provider", "server", "dmarc_policy", "redirect", "tracking", "mailboxes", "count", "pattern"),
    "mailboxes": ("mailboxes", "count", "pattern"),
    "unmailbox": ("address",),
    "dmarc": ("dmarc_policy",),
    "redirect": ("redirect",),
    "remove": (),
}
#: what each change is called on its preview
TITLES = {
    "add": "Add domain",
    "mailboxes": "Add mailboxes",
    "unmailbox": "Remove a mailbox",
    "dmarc": "Change the DMARC policy",
    "redirect": "Change the redirect",
    "remove": "Remove domain",
}
POLICIES = ("none", "quarantine", "reject")


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


def _count(text: str) -> int:
    try:
        count = int(text or 0)
    except ValueError:
        raise UserError(f"{text!r} is not a number of mailboxes") from None
    if not 0 <= count <= 50:
        raise UserError("a number of mailboxes is 0 to 50")
    return count


def _policy(text: str) -> str:
    if text not in POLICIES:
        raise UserError(f"{text!r} is not a DMARC policy (one of {', '.join(POLICIES)})")
    return text


def edit_of(action: str, name: str, fields: dict[str, str]) -> DomainEdit:
    """The change a form asks for (its text turned into values; the rules are the service's)."""
    people = parse_personas(fields.get("mailboxes", ""))
    count, pattern = _count(fields.get("count", "")), fields.get("pattern", "").strip() or None
    if action == "add":
        options: dict[str, Any] = {
            k: fields[k].strip() for k in ("dns_provider", "server", "redirect") if fields.get(k)
        }
        if fields.get("tracking", "").strip():
            options["tracking"] = {"platform": fields["tracking"].strip()}
        if pattern:
            options["mailbox_pattern"] = pattern
        policy = _policy(fields["dmarc_policy"]) if fields.get("dmarc_policy") else None
        return DomainEdit("add", fields.get("name", "").strip(), options, people, count=count, dmarc_policy=policy)
    if action == "mailboxes":
        if not people and not count:
            raise UserError("give people (one 'First Last' per line) or a number of mailboxes")
        return DomainEdit("mailboxes", name, mailboxes=people, count=count, pattern=pattern)
    if action == "unmailbox":
        return DomainEdit("mailboxes", name, remove=[fields.get("address", "")])
    if action == "dmarc":
        return DomainEdit("update", name, dmarc_policy=_policy(fields.get("dmarc_policy", "")))
    if action == "redirect":
        return DomainEdit("update", name, {"redirect": fields.get("redirect", "").strip() or None})
    if action == "remove":
        return DomainEdit("remove", name)
    raise NotFoundError(f"no change {action!r}")


def _carried(action: str, form: dict[str, str]) -> dict[str, str]:
    return {k: form.get(k, "") for k in FIELDS[action]}


async def _form_page(request: Request, fields: dict[str, str], error: str | None = None) -> Response:
    found = await new_domain_form(_app(request))
    status = 400 if error else 200
    return render(request, "domain_new.html", status_code=status, form=found, fields=fields, error=error)


@router.get("/domains/new")
async def new_domain(request: Request, who: Member) -> Response:
    """The form of a new domain, prefilled with the stored defaults."""
    assert who.key is not None
    require(who.key, "write")
    found = await new_domain_form(_app(request))
    d = found.defaults
    fields = {
        "dns_provider": d.get("dns_provider", ""),
        "server": d.get("server", ""),
        "dmarc_policy": (d.get("dmarc") or {}).get("policy", "none"),
        "redirect": d.get("redirect", ""),
        "tracking": (d.get("tracking") or {}).get("platform", "") or "",
        "pattern": d.get("mailbox_pattern", ""),
    }
    return render(request, "domain_new.html", form=found, fields=fields, error=None)


async def _preview(request: Request, action: str, name: str, form: dict[str, str]) -> Response:
    """The plan the change causes, with the form's fields carried to its Confirm."""
    shown = await preview(_app(request), edit_of(action, name, form))
    return render(
        request,
        "edit_preview.html",
        action=action,
        title=TITLES[action],
        shown=shown,
        fields=_carried(action, form),
        sections=plan_sections(shown.plan) if shown.plan is not None else None,
        target="/domains/new/confirm" if action == "add" else f"/domains/{shown.name}/change/{action}/confirm",
    )


async def _confirm(request: Request, action: str, name: str, form: dict[str, str], key_name: str) -> Response:
    queue: TaskQueue = request.app.state.runner
    done = await confirm(
        _app(request),
        queue,
        edit_of(action, name, form),
        stamp=form.get("stamp", ""),
        checksum=form.get("checksum", ""),
        key_name=key_name,
        source=f"dashboard:{key_name}",
        confirmed=form.get("confirm_name") if action == "remove" else None,
    )
    if done.job is not None:
        return redirect(link(request, f"/jobs/{done.job.id}"))
    return render(request, "edit_done.html", view=done.view)


@router.post("/domains/new/preview")
async def preview_new(request: Request, who: Member, form: Form) -> Response:
    """The plan of a new domain (nothing written); bad input shows the form again with what was wrong."""
    assert who.key is not None
    require(who.key, "write")
    try:
        return await _preview(request, "add", "", form)
    except UserError as exc:
        return await _form_page(request, _carried("add", form), str(exc))


@router.post("/domains/new/confirm")
async def confirm_new(request: Request, who: Member, form: Form) -> Response:
    """Add the previewed domain and start applying its plan."""
    assert who.key is not None
    require(who.key, "write")
    return await _confirm(request, "add", "", form, who.key.name)


@router.post("/domains/{name}/change/{action}/preview")
async def preview_change(request: Request, who: Member, form: Form, name: str, action: str) -> Response:
    """The plan a change of this domain causes (nothing written)."""
    assert who.key is not None
    require(who.key, "write")
    if action not in FIELDS or action == "add":
        raise NotFoundError(f"no change {action!r}")
    return await _preview(request, action, name, form)


@router.post("/domains/{name}/change/{action}/confirm")
async def confirm_change(request: Request, who: Member, form: Form, name: str, action: str) -> Response:
    """Write the previewed change of this domain and start applying its plan."""
    assert who.key is not None
    require(who.key, "write")
    if action not in FIELDS or action == "add":
        raise NotFoundError(f"no change {action!r}")
    return await _confirm(request, action, name, form, who.key.name)
