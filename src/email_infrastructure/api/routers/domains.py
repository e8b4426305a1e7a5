"""`/api/v1/domains`: the desired state's domains (services/domains.py); writes are recorded with the key's name."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from email_infrastructure.api.deps import AppDep, ReadKey, WriteKey, actor
from email_infrastructure.api.schemas import DomainIn, DomainList, DomainOut, DomainUpdate, Envelope, MailboxIn, ok
from email_infrastructure.services.domain_detail import domain_detail
from email_infrastructure.services.domains import (
    DomainView,
    add_domain,
    domain_status,
    page_domains,
    remove_domain,
)
from email_infrastructure.services.domains import (
    replace_domain as replace_owned_domain,
)

router = APIRouter(prefix="/domains", tags=["domains"])
Name = Annotated[str, Query(min_length=1, max_length=253)]


def _out(view: DomainView, status_: str) -> DomainOut:
    return DomainOut.model_validate(
        {"name": view.name, "owner": view.owner, "status": status_, "spec": view.spec, "mailboxes": view.mailboxes}
    )


def _mailboxes(items: list[MailboxIn]) -> list[dict[str, str]]:
    return [m.model_dump(exclude_none=True) for m in items]


@router.get("", response_model=Envelope[DomainList])
async def list_domains(
    request: Request,
    app: AppDep,
    key: ReadKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    status_: Annotated[Literal["ok", "warning", "error", "unknown"] | None, Query(alias="status")] = None,
    provider: Annotated[str | None, Query(max_length=128)] = None,
    server: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """A page of domains by name, with the total; filter by check status, DNS provider or server."""
    page = await page_domains(app, limit=limit, offset=offset, status=status_, provider=provider, server=server)
    items = b",".join(_item_json(v, page.statuses.get(v.name, "unknown")) for v in page.domains)
    # What `ok(DomainList(…)).model_dump_json()` gives, from items serialised once per view: the
    # hot path of the API skips validating and dumping fifty models per request.
    body = b'{"success":true,"data":{"items":[%s],"total":%d,"limit":%d,"offset":%d}}' % (
        items,
        page.total,
        limit,
        offset,
    )
    return Response(body, media_type="application/json", headers=dict(request.state.rate_limit_headers))


def _item_json(view: DomainView, status_: str) -> bytes:
    """The item's JSON, kept on the view itself: views are immutable and cached per App (services/domains.py)."""
    data: bytes | None = view.rendered.get(("api.item", status_))
    if data is None:
        data = view.rendered[("api.item", status_)] = _out(view, status_).model_dump_json().encode()
    return data


@router.post("", response_model=Envelope[DomainOut], status_code=status.HTTP_201_CREATED)
async def create_domain(app: AppDep, key: WriteKey, body: DomainIn) -> Envelope[DomainOut]:
    """Add a domain with the stored defaults; 409 when another owner (a file) holds it."""
    view = await add_domain(app, body.name, dict(body.options), _mailboxes(body.mailboxes), source=actor(key))
    return ok(_out(view, await domain_status(app, view.name)))


@router.get("/{name}", response_model=Envelope[DomainOut])
async def get_domain(app: AppDep, key: ReadKey, name: str) -> Envelope[DomainOut]:
    """One domain, defaults applied, with its status as the list gives it (the domain page's read model)."""
    detail = await domain_detail(app, name, sections=False)
    return ok(_out(detail.view, detail.status))


@router.put("/{name}", response_model=Envelope[DomainOut])
async def replace_domain(app: AppDep, key: WriteKey, name: str, body: DomainUpdate) -> Envelope[DomainOut]:
    """Replace an API-owned domain's options and mailboxes; 404 if absent, 409 if another owner holds it."""
    view = await replace_owned_domain(app, name, dict(body.options), _mailboxes(body.mailboxes), source=actor(key))
    return ok(_out(view, await domain_status(app, view.name)))


@router.delete("/{name}", response_model=Envelope[DomainOut])
async def delete_domain(app: AppDep, key: WriteKey, name: str) -> Envelope[DomainOut]:
    """Drop a domain from the desired state (the next apply removes the records we made for it)."""
    view = await remove_domain(app, name, source=actor(key))
    return ok(_out(view, await domain_status(app, view.name)))
