"""Load an inventory file: YAML with positions → pydantic models, every problem as FILE:LINE:COL."""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml import composer as _composer
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from email_infrastructure.core.errors import InventoryError, SecretReferenceError
from email_infrastructure.core.inventory.forwarding import forwarding_problems
from email_infrastructure.core.inventory.mail import no_mail_backend
from email_infrastructure.core.inventory.schema import PATTERN_MESSAGES, SECRET_REF, Inventory, MailboxSpec
from email_infrastructure.core.logging import register_secret
from email_infrastructure.core.names import normalise_domain

Path_ = tuple[str | int, ...]
#: (provider kind, type) → pydantic model of that type's settings, supplied by the components
ProviderSchemas = Mapping[tuple[str, str], type[BaseModel]]

# Limits on what an inventory may cost to load (docs/limits.md). Loading is the first thing every
# command does, so a hostile or broken file must be refused in bounded time and memory.
#: Larger files are refused before parsing: ruamel's round-trip parser needs ~8 s a MiB of
#: inventory and quadratic time for long runs of comments (4 MiB of comments: ~11 s).
MAX_INVENTORY_BYTES = 5 * 1024 * 1024
#: Values (mappings, sequences, scalars) once aliases are expanded; 10,000 domains with two
#: mailboxes each are ~90,000. Bounds "billion laughs" documents (9 levels of 9 aliases = 9**9).
MAX_NODES = 1_000_000
#: Nesting of mappings and sequences (an inventory needs 7); ruamel's composer recurses once a
#: level and would hit Python's recursion limit at ~200.
MAX_DEPTH = 64
# ruamel.yaml >= 0.19 enforces max_depth itself, with a position; older versions only have the
# RecursionError guard and the depth check in _plain.
_MaxDepthExceeded: Any = getattr(_composer, "MaxDepthExceededError", None)

# Keys whose values are credentials: they must be env:NAME references, never literals.
_SECRET_KEY = re.compile(r"(^|_)(token|password|secret|api_key|apikey|key|webhook_url|url_secret|dqs_key)$")


@dataclass
class LoadedInventory:
    """A valid inventory, where it came from, and the warnings found while loading it."""

    inventory: Inventory
    path: Path
    warnings: list[str] = field(default_factory=list)
    #: what the file asks for that will not happen (a domain's mailboxes without a mail backend):
    #: `validate` lists them; `plan` says them in the steps concerned
    advice: list[str] = field(default_factory=list)


@dataclass
class _Positions:
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            found = table.get(path[:cut]) or self.values.get(path[:cut])
            if found:
                return found
        return (1, 1)


@dataclass
class _Budget:
    """Values produced so far by _plain: aliases share one ruamel object, so only here do they expand."""

    where: str
    nodes: int = 0
    #: ids of the collections already converted: meeting one again means an alias (*name)
    seen: set[int] = field(default_factory=set)
    #: the outermost alias being expanded: ruamel gives aliased values the position of their
    #: anchor (&name), not of the alias, so that is what an overflow can point at
    expanding: tuple[int, int, str] | None = None

    def spend(self, path: Path_, pos: _Positions) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.expanding:
                line, col, anchor = self.expanding
                what = f"aliases (*{anchor}) of this anchor take the inventory beyond {MAX_NODES:,} values"
            else:
                (line, col), what = pos.at(path), f"the inventory has more than {MAX_NODES:,} values"
            raise InventoryError([f"{self.where}:{line}:{col}: {what} (MAX_NODES, see docs/limits.md)"])
        if len(path) >= MAX_DEPTH:
            raise InventoryError([_too_deep(self.where, *pos.at(path))])


def _too_deep(where: str, line: int, col: int) -> str:
    return f"{where}:{line}:{col}: the inventory is nested more than {MAX_DEPTH} levels deep (see docs/limits.md)"


def _plain(node: Any, path: Path_, pos: _Positions, budget: _Budget) -> Any:
    """Turn ruamel nodes into plain data while recording 1-based line/column of each path."""
    budget.spend(path, pos)
    if isinstance(node, CommentedMap | CommentedSeq):
        if budget.expanding is None and id(node) in budget.seen:
            anchor = getattr(getattr(node, "anchor", None), "value", None) or "?"
            budget.expanding = (*pos.at(path), str(anchor))
            try:
                return _plain_collection(node, path, pos, budget)
            finally:
                budget.expanding = None
        budget.seen.add(id(node))
    return _plain_collection(node, path, pos, budget)


def _plain_collection(node: Any, path: Path_, pos: _Positions, budget: _Budget) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        here = pos.values.get(path, (1, 1))
        # Keys brought in by a merge key (<<: *anchor) have no position of their own in this
        # mapping: report them at the mapping that merges them.
        own = node.lc.data
        for key, value in node.items():
            child = (*path, str(key))
            if key in own:
                line, col = node.lc.key(key)
                vline, vcol = node.lc.value(key)
                pos.keys[child] = (line + 1, col + 1)
                pos.values[child] = (vline + 1, vcol + 1)
            else:
                pos.keys[child] = pos.values[child] = here
            out[str(key)] = _plain(value, child, pos, budget)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            pos.values[child] = pos.keys[child] = (line + 1, col + 1)
            items.append(_plain(value, child, pos, budget))
        return items
    return node


def _model_at(model: type[BaseModel], loc: Path_) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of `loc` (for "did you mean")."""
    current: Any = model
    for part in loc[:-1]:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        elif origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        else:
            return tp


def _hint(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_pydantic(
    exc: ValidationError, model: type[BaseModel], base: Path_, pos: _Positions, where: str
) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc: Path_ = (*base, *tuple(err["loc"]))
        inner = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, inner)
            hint = _hint(str(inner[-1]), list(owner.model_fields)) if owner else ""
            line, col = pos.at(loc, key=True)
            problems.append(f"{where}:{line}:{col}: unknown key {inner[-1]!r}{hint}")
            continue
        line, col = pos.at(loc)
        dotted = ".".join(str(p) for p in loc) or "inventory"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            pattern = str((err.get("ctx") or {}).get("pattern", ""))
            message = PATTERN_MESSAGES.get(pattern, "this value does not have the expected form")
            # A credential is never echoed: the value that failed may be a pasted token.
            if isinstance(err.get("input"), str) and not pattern.startswith("^env:"):
                message = f"{message}; got {err['input']!r}"
        problems.append(f"{where}:{line}:{col}: {dotted}: {message}")
    return problems


def _secret_problems(data: Any, path: Path_, pos: _Positions, where: str) -> list[str]:
    problems: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if _SECRET_KEY.search(key) and isinstance(value, str) and not SECRET_REF.match(value):
                line, col = pos.at(child)
                problems.append(
                    f"{where}:{line}:{col}: {'.'.join(map(str, child))}: a secret must be an "
                    "env:NAME reference, never a literal value"
                )
            else:
                problems.extend(_secret_problems(value, child, pos, where))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            problems.extend(_secret_problems(value, (*path, index), pos, where))
    return problems


def _env_refs(data: Any, path: Path_) -> list[tuple[Path_, str]]:
    if isinstance(data, dict):
        return [ref for k, v in data.items() for ref in _env_refs(v, (*path, k))]
    if isinstance(data, list):
        return [ref for i, v in enumerate(data) for ref in _env_refs(v, (*path, i))]
    if isinstance(data, str) and (match := SECRET_REF.match(data)):
        return [(path, match.group(1))]
    return []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _reference_problems(data: dict[str, Any], pos: _Positions, where: str) -> list[str]:
    """Duplicates and references to undeclared names, read from the raw data.

    Works on the raw mapping so that these problems are reported together with schema
    errors elsewhere in the file, not only once the rest is valid.
    """
    problems: list[str] = []

    def bad(path: Path_, message: str) -> None:
        line, col = pos.at(path)
        problems.append(f"{where}:{line}:{col}: {'.'.join(map(str, path))}: {message}")

    #: (what, name) → index in `problems` and how many references: one line per missing name,
    #: not one per domain that uses it (a file of 110 domains on a server it does not declare)
    missing: dict[tuple[str, str], list[int]] = {}

    def ref(path: Path_, name: Any, known: list[str], what: str) -> None:
        if isinstance(name, str) and name not in known:
            seen = missing.get((what, name))
            if seen is not None:
                seen[1] += 1
                return
            missing[(what, name)] = [len(problems), 1]
            bad(path, f"{what} {name!r} is not declared{_hint(name, known)}")

    providers = _mapping(data.get("providers"))
    dns, mail, vps, sequencers, registrars = (
        list(_mapping(providers.get(k))) for k in ("dns", "mail", "vps", "sequencers", "registrars")
    )

    def uses(path: Path_, value: Any) -> None:
        """A `sequencers:` list: each name declared, none twice."""
        named: set[str] = set()
        for k, use in enumerate(value) if isinstance(value, list) else ():
            name = use if isinstance(use, str) else _mapping(use).get("name")
            ref((*path, k), name, sequencers, "sequencer")
            if isinstance(name, str) and name in named:
                bad((*path, k), f"sequencer {name!r} is listed twice")
            named.add(str(name))

    servers: list[str] = []
    for i, server in _items(data.get("servers")):
        ref(("servers", i, "provider"), server.get("provider"), vps, "VPS provider")
        ref(("servers", i, "mail_backend"), server.get("mail_backend"), mail, "mail provider")
        if server.get("name") in servers:
            bad(("servers", i, "name"), f"duplicate server {server.get('name')!r}")
        servers.append(str(server.get("name")))
    defaults = _mapping(data.get("defaults"))
    ref(("defaults", "dns_provider"), defaults.get("dns_provider"), dns, "DNS provider")
    ref(("defaults", "server"), defaults.get("server"), servers, "server")
    uses(("defaults", "sequencers"), defaults.get("sequencers"))
    ref(("defaults", "registrar"), defaults.get("registrar"), registrars, "registrar")

    seen: dict[str, int] = {}
    for i, domain in _items(data.get("domains")):
        try:
            name = normalise_domain(str(domain.get("name", "")))
        except ValueError:
            name = None  # reported by the schema
        if name is not None and name in seen:
            bad(("domains", i, "name"), f"duplicate domain {name!r} (first at domains.{seen[name]})")
        elif name is not None:
            seen[name] = i
        ref(("domains", i, "dns_provider"), domain.get("dns_provider"), dns, "DNS provider")
        ref(("domains", i, "server"), domain.get("server"), servers, "server")
        uses(("domains", i, "sequencers"), domain.get("sequencers"))
        ref(("domains", i, "registrar"), domain.get("registrar"), registrars, "registrar")
        buys = next((d[k] for d in (domain, defaults) for k in ("register", "registration") if d.get(k)), None)
        if buys is not None and domain.get("registrar", defaults.get("registrar")) is None:
            bad(("domains", i, "register"), "register: needs a registrar (set registrar here or in defaults)")
        if "name" in domain and domain.get("dns_provider", defaults.get("dns_provider")) is None:
            bad(("domains", i, "name"), "no DNS provider: set dns_provider here or in defaults")
        locals_seen: set[str] = set()
        for j, raw in _items(domain.get("mailboxes")):
            uses(("domains", i, "mailboxes", j, "sequencers"), raw.get("sequencers"))
            try:
                local = MailboxSpec.model_validate(raw).address_local_part
            except ValidationError:
                continue  # reported by the schema
            if local in locals_seen:
                bad(
                    ("domains", i, "mailboxes", j),
                    f"duplicate mailbox {local}@{name or domain.get('name')}",
                )
            locals_seen.add(local)
    for (what, _), (index, count) in missing.items():
        more = f"; {count - 1} more reference{'s' if count > 2 else ''} to it" if count > 1 else ""
        problems[index] += (
            f"{more} (a file declares every {what} it uses, even one another inventory stored already:"
            " the same block there and here)"
        )
    return problems


def _forwarding_problems(inv: Inventory, data: dict[str, Any], pos: _Positions, where: str) -> list[str]:
    """Forwards that clash with a listed mailbox, forward to themselves or loop, at the block that
    declares them: the domain's own, else the defaults' (generated mailboxes are checked by the plan)."""
    problems: list[str] = []
    raw = [d for _, d in _items(data.get("domains"))]
    for i, domain in enumerate(inv.resolved_domains()):
        own = i < len(raw) and raw[i].get("forwarding") is not None
        base: Path_ = ("domains", i, "forwarding") if own else ("defaults", "forwarding")
        for path, message in forwarding_problems(domain, [m.address_local_part for m in domain.mailboxes]):
            line, col = pos.at((*base, *path))
            dotted = ".".join(map(str, (*base, *path)))
            problems.append(f"{where}:{line}:{col}: {dotted}: {message}")
    return problems


def _provider_problems(inv: Inventory, schemas: ProviderSchemas, pos: _Positions, where: str) -> list[str]:
    problems: list[str] = []
    for kind in ("dns", "mail", "vps", "sequencers", "registrars"):
        known = sorted(t for k, t in schemas if k == kind)
        for name, spec in getattr(inv.providers, kind).items():
            base: Path_ = ("providers", kind, name)
            model = schemas.get((kind, spec.type))
            if model is None:
                line, col = pos.at((*base, "type"))
                problems.append(
                    f"{where}:{line}:{col}: providers.{kind}.{name}.type: unknown {kind} provider "
                    f"type {spec.type!r}{_hint(spec.type, known)}; known: {', '.join(known)}"
                )
                continue
            try:
                model.model_validate(spec.settings)
            except ValidationError as exc:
                problems.extend(_format_pydantic(exc, model, base, pos, where))
    return problems


def _line_order(problem: str) -> tuple[int, int]:
    match = re.search(r":(\d+):(\d+): ", problem)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def parse_inventory_text(text: str, where: str, provider_schemas: ProviderSchemas | None = None) -> LoadedInventory:
    """Validate inventory YAML text; raise InventoryError listing every problem."""
    # Characters are at most 4 bytes: only long texts need encoding to be measured.
    if len(text) * 4 > MAX_INVENTORY_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_INVENTORY_BYTES:
        raise InventoryError([_too_large(where)])
    pos = _Positions()
    try:
        yaml = YAML(typ="rt")
        yaml.allow_duplicate_keys = False
        yaml.max_depth = MAX_DEPTH
        root = yaml.load(text)
    except RecursionError:
        raise InventoryError([_too_deep(where, 1, 1)]) from None
    except MarkedYAMLError as exc:
        if _MaxDepthExceeded is not None and isinstance(exc, _MaxDepthExceeded) and exc.problem_mark:
            raise InventoryError([_too_deep(where, exc.problem_mark.line + 1, exc.problem_mark.column + 1)]) from None
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise InventoryError([f"{where}:{line}:{col}: invalid YAML: {exc.problem or exc}"]) from None
    except YAMLError as exc:
        raise InventoryError([f"{where}:1:1: invalid YAML: {exc}"]) from None
    if root is None:
        raise InventoryError([f"{where}:1:1: the inventory is empty"])
    data = _plain(root, (), pos, _Budget(where))
    if not isinstance(data, dict):
        raise InventoryError([f"{where}:1:1: the inventory must be a mapping (version: 1, ...)"])

    problems = _secret_problems(data, (), pos, where)
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as exc:
        problems.extend(_format_pydantic(exc, Inventory, (), pos, where))
        problems.extend(_reference_problems(data, pos, where))
        raise InventoryError(sorted(problems, key=_line_order)) from None
    problems.extend(_reference_problems(data, pos, where))
    problems.extend(_forwarding_problems(inv, data, pos, where))
    if provider_schemas is not None:
        problems.extend(_provider_problems(inv, provider_schemas, pos, where))
    if problems:
        raise InventoryError(sorted(problems, key=_line_order))

    warnings = []
    for path, name in _env_refs(data, ()):
        if name not in os.environ:
            line, col = pos.at(path)
            warnings.append(
                f"{where}:{line}:{col}: {'.'.join(map(str, path))}: environment variable "
                f"{name} is not set (needed when this is used)"
            )
    advice = []
    for index, domain in enumerate(inv.resolved_domains()):
        reason = no_mail_backend(domain)
        if reason:
            line, col = pos.at(("domains", index))
            advice.append(f"{where}:{line}:{col}: {reason}")
    return LoadedInventory(inventory=inv, path=Path(where), warnings=warnings, advice=advice)


def load_inventory(path: Path, provider_schemas: ProviderSchemas | None = None) -> LoadedInventory:
    """Read and validate an inventory file (refused unread beyond MAX_INVENTORY_BYTES)."""
    try:
        # Read one byte past the limit, never more: the file may be huge or endless (/dev/zero).
        with path.open("rb") as handle:
            raw = handle.read(MAX_INVENTORY_BYTES + 1)
        if len(raw) > MAX_INVENTORY_BYTES:
            raise InventoryError([_too_large(str(path))])
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InventoryError([f"{path}:1:1: cannot read inventory: {reason}"]) from None
    return parse_inventory_text(text, str(path), provider_schemas)


def _too_large(where: str) -> str:
    limit = MAX_INVENTORY_BYTES
    return (
        f"{where}:1:1: the inventory is larger than the limit of {limit:,} bytes "
        f"({limit / 2**20:g} MiB; see docs/limits.md)"
    )


def resolve_secret(value: str) -> str:
    """Resolve an `env:NAME` reference to its value, or raise when the variable is unset."""
    match = SECRET_REF.match(value)
    if not match:
        raise SecretReferenceError("secrets must be given as env:NAME references")
    name = match.group(1)
    resolved = os.environ.get(name)
    if not resolved:
        raise SecretReferenceError(f"environment variable {name} is not set")
    register_secret(resolved)
    return resolved
