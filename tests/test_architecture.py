"""The rules of the house that the code itself can be checked against (docs/architecture.md).

Imports are read from the source with `ast`, function-local ones included: a lazy import is
still a dependency, and a cycle it hides still breaks when someone moves the import up. Only
imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import email_infrastructure

ROOT = Path(email_infrastructure.__file__).parent
PACKAGE = "email_infrastructure"
#: the faces: they render service results and decide nothing
FACES = ("api", "dashboard", "cli", "workers")
#: components: each talks to one kind of outside system and imports no other component
COMPONENTS = ("dns", "mailcow", "vps", "delivery", "dmarc", "sequencers", "registrars")
#: libraries that speak a wire protocol or an RFC's message format: components' business
WIRE = ("smtplib", "imaplib", "poplib", "ssl", "socket", "dkim", "dns", "email", "aiosmtplib", "httpx", "lxml")


@dataclass(frozen=True)
class Import:
    """One import statement: the module it names, and where."""

    module: str
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below `node`, except what sits under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    return {_module_name(path): path for path in ROOT.rglob("*.py")}


@functools.cache
def tree(name: str) -> ast.Module:
    """The parsed source of a module."""
    return ast.parse(modules()[name].read_text(), filename=str(modules()[name]))


@functools.cache
def imports(name: str) -> tuple[Import, ...]:
    """What a module imports at run time (absolute names; `from pkg import mod` names the module)."""
    found: list[Import] = []
    is_package = modules()[name].name == "__init__.py"
    for node in _walk(tree(name)):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append(Import(submodule if submodule in modules() else base, node.lineno))
    return tuple(found)


def internal_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    known = modules()
    return {name: {i.module for i in imports(name) if i.module in known and i.module != name} for name in known}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(layers: tuple[str, ...], forbidden: tuple[str, ...], *, external: bool = False) -> list[str]:
    """`module:line imports target` for each module in `layers` importing something in `forbidden`."""
    out = []
    for name in sorted(modules()):
        if _layer(name) not in layers:
            continue
        for imp in imports(name):
            target = imp.module.split(".")[0] if external else _layer(imp.module)
            inside = imp.module.startswith(PACKAGE + ".")
            if (inside != external) and target in forbidden and target != _layer(name):
                out.append(f"{name}:{imp.line} imports {imp.module}")
    return sorted(set(out))


def test_no_import_cycle() -> None:
    """No two modules import each other, directly or around a loop (function-local imports count)."""
    assert _cycles(internal_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a loop through three modules is found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_faces_use_no_database_directly() -> None:
    """A face neither imports SQLAlchemy, storage or the step graph nor opens a unit of work: services do."""
    found = _violations(FACES, ("sqlalchemy",), external=True) + _violations(FACES, ("storage", "reconcile"))
    for name in sorted(modules()):
        if _layer(name) in FACES:
            for node in _walk(tree(name)):
                if isinstance(node, ast.Attribute) and node.attr == "uow":
                    found.append(f"{name}:{node.lineno} opens a unit of work")
    assert found == []


def test_services_speak_no_wire_protocol() -> None:
    """Protocol code (SMTP, IMAP, DNS, message formats, HTTP) lives in components, not in services/."""
    assert _violations(("services",), WIRE, external=True) == []


def test_components_are_independent() -> None:
    """A component imports core/ only: no other component, and nothing above it."""
    above = ("services", "reconcile", "monitoring", "storage", *FACES)
    assert _violations(COMPONENTS, COMPONENTS + above) == []
    assert _violations(("core",), COMPONENTS + above) == []


def test_faces_reach_components_through_services() -> None:
    """A face calls services; only `monitoring/`'s result types and names are rendered directly."""
    assert _violations(FACES, COMPONENTS) == []


def test_services_import_no_face() -> None:
    """The application layer knows no face (and no task queue implementation)."""
    assert _violations(("services", "reconcile", "monitoring", "storage", *COMPONENTS), FACES) == []


@pytest.mark.parametrize("method", ["emit", "intend"])
def test_events_are_emitted_with_topics(method: str) -> None:
    """No event is emitted under a bare string: a `Topic` names it and types its payload."""
    position = 1 if method == "intend" else 0
    found = []
    for name in sorted(modules()):
        for node in _walk(tree(name)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method:
                args = node.args
                topic = args[position] if len(args) > position else None
                if isinstance(topic, ast.Constant | ast.JoinedStr):
                    found.append(f"{name}:{node.lineno}")
    assert found == []


def test_background_tasks_are_declared_in_one_registry() -> None:
    """Every task is declared once, in `services/tasks.py`: no face or component keeps its own."""
    declared = []
    for name in sorted(modules()):
        for node in _walk(tree(name)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "TaskSpec":
                declared.append(name)
    assert declared and set(declared) == {f"{PACKAGE}.services.tasks"}
