"""`/api/v1/domains`: the desired state's domains (services/domains.py); writes are recorded with the key's name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status

from email_infrastructure.api.deps import AppDep, ReadKey, WriteKey, actor
from email_infrastructure.api.schemas import DomainIn, DomainList, DomainOut, DomainUpdate, Envelope, MailboxIn, ok
from email_infrastructure.services.desired import API_OWNER, OwnershipConflictError
from email_infrastructure.services.domains import (
    DomainView,
    add_domain,
    domain_status,
    page_domains,
    remove_domain,
    show_domain,
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


#: id of a (cached, immutable) view → (the view, its status, its item as JSON); holding the view
#: keeps its id from being reused while the entry lives
_ITEMS: dict[int, tuple[DomainView, str, bytes]] = {}
_ITEMS_MAX = 20_000


def _item_json(view: DomainView, status_: str) -> bytes:
    entry = _ITEMS.get(id(view))
    if entry is not None and entry[0] is view and entry[1] == status_:
        return entry[2]
    if len(_ITEMS) >= _ITEMS_MAX:  # bounded: forget them all rather than grow
        _ITEMS.clear()
    data = _out(view, status_).model_dump_json().encode()
    _ITEMS[id(view)] = (view, status_, data)
    return data


@router.post("", response_model=Envelope[DomainOut], status_code=status.HTTP_201_CREATED)
async def create_domain(app: AppDep, key: WriteKey, body: DomainIn) -> Envelope[DomainOut]:
    """Add a domain with the stored defaults; 409 when another owner (a file) holds it."""
    view = await add_domain(app, body.name, dict(body.options), _mailboxes(body.mailboxes), source=actor(key))
    return ok(_out(view, await domain_status(app, view.name)))


@router.get("/{name}", response_model=Envelope[DomainOut])
async def get_domain(app: AppDep, key: ReadKey, name: str) -> Envelope[DomainOut]:
    """One domain, defaults applied, with its status as the list gives it."""
    view = await show_domain(app, name)
    return ok(_out(view, await domain_status(app, view.name)))


@router.put("/{name}", response_model=Envelope[DomainOut])
async def replace_domain(app: AppDep, key: WriteKey, name: str, body: DomainUpdate) -> Envelope[DomainOut]:
    """Replace an API-owned domain's options and mailboxes; 404 if absent, 409 if another owner holds it."""
    current = await show_domain(app, name)
    if current.owner != API_OWNER:
        raise OwnershipConflictError(f"{current.name} is owned by {current.owner}: change it there")
    options: dict[str, Any] = dict(body.options)
    view = await add_domain(app, current.name, options, _mailboxes(body.mailboxes), force=True, source=actor(key))
    return ok(_out(view, await domain_status(app, view.name)))


@router.delete("/{name}", response_model=Envelope[DomainOut])
async def delete_domain(app: AppDep, key: WriteKey, name: str) -> Envelope[DomainOut]:
    """Drop a domain from the desired state (the next apply removes the records we made for it)."""
    view = await remove_domain(app, name, source=actor(key))
    return ok(_out(view, await domain_status(app, view.name)))
