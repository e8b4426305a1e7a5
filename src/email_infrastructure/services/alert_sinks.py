"""A workspace's alert sinks (`monitoring.alert_sinks` of its stored desired state): list them with their
secrets masked, add one, remove one, and send a test alert through the real sink code.

An edit writes the stored `monitoring` setting, owned by `api` like every edit that is not a file's
(services/desired.py). A setting a file owns is changed in that file: here only with `take_over`, as
the CLI's `--force` takes a domain over; a later import of that file then keeps the stored sinks when
it leaves `monitoring` out, and conflicts (until its `--force`) when it declares another. Events and
pages carry a sink's name, type and masked target, never a secret or a URL's token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict
from urllib.parse import urlsplit

from email_infrastructure.core.errors import EmailInfraError, InventoryError, NotFoundError, UserError
from email_infrastructure.core.events import Event, Topic
from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.core.inventory.schema import SECRET_REF, SinkSpec
from email_infrastructure.core.logging import redact_text
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import API_OWNER, Owned, OwnershipConflictError, from_rows, write_snapshot

TYPES = ("webhook", "slack", "email")
MASK = "****"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: per type: the settings a sink takes, those it needs, and those that are secrets (env:NAME references)
FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "secret"),
    "slack": ("webhook_url",),
    "email": ("host", "port", "from", "to", "starttls", "username", "password"),
}
REQUIRED: dict[str, tuple[str, ...]] = {"webhook": ("url",), "slack": ("webhook_url",), "email": ("from", "to")}
SECRETS = ("secret", "webhook_url", "password")
STARTTLS = ("auto", "always", "never")


class SinkPayload(TypedDict, total=False):
    """A sink added, removed or tested: its name, type and masked target (never a secret)."""

    name: str
    type: str
    target: str
    owner: str
    #: a test send: delivered or not, and why not (redacted)
    delivered: bool
    error: str


SINK_ADDED: Topic[SinkPayload] = Topic("desired.alert_sink.added", SinkPayload)
SINK_REMOVED: Topic[SinkPayload] = Topic("desired.alert_sink.removed", SinkPayload)
SINK_TESTED: Topic[SinkPayload] = Topic("monitoring.alert_sink.tested", SinkPayload)
#: the topic of the alert a test send delivers
TEST_TOPIC = "monitoring.alert.test"


def mask_url(url: str) -> str:
    """A URL as shown: scheme and host, its path and query (where tokens live) as `/…/****`."""
    if SECRET_REF.match(url):
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if parts.scheme not in ("http", "https") or not host:
        return MASK
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}{port}" + ("/…/" + MASK if hidden else "/")


def _shown(key: str, value: Any) -> str:
    """One setting as shown: references as written, URLs masked, a literal secret never."""
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if key in SECRETS or key.endswith(("token", "password", "secret", "key")):
        return text if SECRET_REF.match(text) else MASK
    return mask_url(text) if key.endswith("url") else text


@dataclass(frozen=True)
class SinkView:
    """A sink as people see it: name, type, masked target and settings."""

    name: str
    type: str
    target: str
    settings: list[tuple[str, str]] = field(default_factory=list)


def view(index: int, spec: SinkSpec) -> SinkView:
    """The masked view of the `index`th sink (its name as the monitor names it: `build_sink`)."""
    settings = spec.settings
    shown = [(k, _shown(k, v)) for k, v in sorted(settings.items())]
    if spec.type == "email":
        to = settings.get("to", [])
        target = f"{_shown('to', to)} via {settings.get('host', 'localhost')}:{settings.get('port', 587)}"
    else:
        target = _shown(_key(spec.type), settings.get(_key(spec.type), ""))
    return SinkView(spec.name or f"{spec.type}-{index}", spec.type, target, shown)


def _key(kind: str) -> str:
    return "url" if kind == "webhook" else "webhook_url"


@dataclass(frozen=True)
class SinkList:
    """The workspace's sinks and who owns the monitoring settings (None: nobody stored them yet)."""

    sinks: list[SinkView]
    owner: str | None

    @property
    def editable(self) -> bool:
        """True when an edit here needs no take-over (nobody, or the API, owns the settings)."""
        return self.owner in (None, API_OWNER)


async def _stored(app: App) -> tuple[list[SinkSpec], str | None]:
    """The stored sinks and the owner of the monitoring setting."""
    if not app.has_state():
        return [], None
    async with app.uow() as uow:
        rows = await uow.desired.load(only=[])  # the fleet's small tables only, whatever the number of domains
    snap = from_rows(rows)
    owner = snap.settings["monitoring"].owner if "monitoring" in snap.settings else None
    return list(snap.inventory().monitoring.alert_sinks), owner


async def list_sinks(app: App) -> SinkList:
    """The alert sinks of the workspace units of work act in, masked."""
    specs, owner = await _stored(app)
    return SinkList([view(i, s) for i, s in enumerate(specs)], owner)


def sink_settings(kind: str, form: dict[str, str]) -> dict[str, Any]:
    """A sink's settings from text fields (empty ones left out); UserError on a missing or malformed one."""
    if kind not in TYPES:
        raise UserError(f"unknown alert sink type {kind!r} (one of {', '.join(TYPES)})")
    given = {k: form[k].strip() for k in FIELDS[kind] if form.get(k, "").strip()}
    missing = [k for k in REQUIRED[kind] if k not in given]
    if missing:
        raise UserError(f"a {kind} sink needs {', '.join(missing)}")
    settings: dict[str, Any] = dict(given)
    if kind == "webhook" and mask_url(given["url"]) == MASK:
        raise UserError("url: give the webhook's http:// or https:// address")
    if kind == "email":
        recipients = [r.strip() for r in given["to"].split(",") if r.strip()]
        bad = [a for a in [given["from"], *recipients] if not _ADDRESS.match(a)]
        if bad or not recipients:
            raise UserError(f"from, to: not an email address: {', '.join(bad) or '(none)'}")
        settings["to"] = recipients
        if "port" in given:
            if not given["port"].isdigit() or not 0 < int(given["port"]) < 65536:
                raise UserError("port: a number from 1 to 65535")
            settings["port"] = int(given["port"])
        if given.get("starttls", "auto") not in STARTTLS:
            raise UserError(f"starttls: one of {', '.join(STARTTLS)}")
    return settings


def _validated(spec: dict[str, Any]) -> tuple[SinkSpec, list[str]]:
    """The sink checked as an inventory file's would be (a secret must be an env:NAME reference); the
    warnings (a referenced variable this process does not have) are returned, not raised."""
    text = json.dumps({"version": 1, "monitoring": {"alert_sinks": [spec]}})
    try:
        loaded = parse_inventory_text(text, "sink")
    except InventoryError as exc:
        # the file's `where:line:col: ` means nothing here; the problem itself names the field
        problems = [re.sub(r"^sink:\d+:\d+: monitoring\.alert_sinks\.0\.?", "", p) for p in exc.problems]
        raise UserError("; ".join(problems)) from None
    warnings = [re.sub(r"^sink:\d+:\d+: monitoring\.alert_sinks\.0\.", "", w) for w in loaded.warnings]
    return loaded.inventory.monitoring.alert_sinks[0], warnings


Change = Callable[[list[SinkSpec]], tuple[SinkView, Topic[SinkPayload]]]


async def _edit(app: App, change: Change, *, take_over: bool, source: str) -> SinkView:
    """Apply `change` to the stored sinks under the ownership rule, write them and log its event."""
    async with app.uow() as uow:
        rows = await uow.desired.load(only=[])  # the fleet's small tables: an edit costs the same at any size
        snap = from_rows(rows)
        stored = snap.settings.get("monitoring")
        if stored is not None and stored.owner != API_OWNER and not take_over:
            raise OwnershipConflictError(
                f"the monitoring settings are owned by {stored.owner}: change the sinks there, or take them over here"
            )
        monitoring = snap.inventory().monitoring
        sinks = list(monitoring.alert_sinks)
        shown, topic = change(sinks)
        value = monitoring.model_dump(mode="json", exclude_none=True)
        value["alert_sinks"] = [s.model_dump(mode="json", exclude_none=True) for s in sinks]
        snap.settings["monitoring"] = Owned(value, API_OWNER)
        snap.inventory()  # the whole desired state must stay valid before anything is written
        await write_snapshot(uow, rows, snap)
        payload = SinkPayload(name=shown.name, type=shown.type, target=shown.target, owner=API_OWNER)
        uow.emit(topic, payload, source=source)
        await uow.commit()
    return shown


async def add_sink(
    app: App, kind: str, form: dict[str, str], *, take_over: bool = False, source: str = API_OWNER
) -> tuple[SinkView, list[str]]:
    """Add a sink of `kind` from text fields (`name` optional); its view and its validation's warnings."""
    settings = sink_settings(kind, form)
    name = form.get("name", "").strip()
    if name and not _NAME.match(name):
        raise UserError(f"name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    warnings: list[str] = []

    def change(sinks: list[SinkSpec]) -> tuple[SinkView, Topic[SinkPayload]]:
        taken = {view(i, s).name for i, s in enumerate(sinks)}
        wanted = name or next(f"{kind}-{n}" for n in range(1, len(taken) + 2) if f"{kind}-{n}" not in taken)
        if wanted in taken:
            raise UserError(f"an alert sink named {wanted!r} exists already")
        spec, found = _validated({"type": kind, "name": wanted, **settings})
        warnings.extend(found)
        sinks.append(spec)
        return view(len(sinks) - 1, spec), SINK_ADDED

    return await _edit(app, change, take_over=take_over, source=source), warnings


async def remove_sink(app: App, name: str, *, take_over: bool = False, source: str = API_OWNER) -> SinkView:
    """Remove the sink called `name` (as listed); NotFoundError when there is none."""

    def change(sinks: list[SinkSpec]) -> tuple[SinkView, Topic[SinkPayload]]:
        for index, spec in enumerate(sinks):
            if view(index, spec).name == name:
                del sinks[index]
                return view(index, spec), SINK_REMOVED
        raise NotFoundError(f"no alert sink named {name!r}")

    return await _edit(app, change, take_over=take_over, source=source)


async def send_test_alert(app: App, name: str, *, source: str = API_OWNER) -> SinkView:
    """Send a test alert now through the sink called `name` (the monitor's own sink code) and log the
    outcome; the sink's error, its URL masked and secrets redacted, as a ProviderError when it fails."""
    from email_infrastructure.core.errors import ProviderError
    from email_infrastructure.monitoring.sinks import build_sink

    specs, _owner = await _stored(app)
    found = next(((i, s) for i, s in enumerate(specs) if view(i, s).name == name), None)
    if found is None:
        raise NotFoundError(f"no alert sink named {name!r}")
    shown = view(*found)
    raw = str(found[1].settings.get(_key(found[1].type), ""))
    summary = f"a test alert sent by {source} to check the sink {shown.name}; nothing is wrong"
    event = Event(TEST_TOPIC, {"check": "alert-test", "subject": shown.name, "status": "test", "summary": summary})
    error = ""
    try:
        sink = build_sink(found[0], found[1])
        try:
            await sink.send(event)
        finally:
            await sink.close()
    except EmailInfraError as exc:
        error = redact_text(str(exc).replace(raw, shown.target) if raw else str(exc))
    payload = SinkPayload(name=shown.name, type=shown.type, target=shown.target, delivered=not error)
    if error:
        payload["error"] = error
    async with app.uow() as uow:
        uow.emit(SINK_TESTED, payload, source=source)
        await uow.commit()
    if error:
        raise ProviderError(f"the test alert to {shown.name} failed: {error}", provider=f"{shown.type} sink")
    return shown


__all__ = [
    "SINK_ADDED",
    "SINK_REMOVED",
    "SINK_TESTED",
    "TYPES",
    "SinkList",
    "SinkView",
    "add_sink",
    "list_sinks",
    "mask_url",
    "remove_sink",
    "send_test_alert",
    "sink_settings",
    "view",
]
