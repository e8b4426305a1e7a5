"""Background work's layering: workers/ imports services/, never the reverse, and no import cycle among them.

Every import counts, function-local and TYPE_CHECKING ones included: a cycle hidden inside a
function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import email_infrastructure

PACKAGE = Path(email_infrastructure.__file__).parent
#: the modules of background work: the registry, the queues, job rows, stored plans and their faces
BACKGROUND = (
    "services.jobs",
    "services.local_queue",
    "services.plans",
    "services.queue",
    "services.tasks",
    "workers.events",
    "workers.queue",
    "workers.scheduler",
    "workers.worker",
    "api.app",
    "api.deps",
    "api.routers.jobs",
    "api.routers.plans",
    "dashboard.plans",
    "cli.serve",
    "cli.worker",
)


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name under `email_infrastructure.`."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `path` imports, anywhere in it."""
    prefix = "email_infrastructure."
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            base = node.module.removeprefix(prefix)
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix(prefix) for a in node.names if a.name.startswith(prefix))
    return {n for n in names if n in known}


def test_services_never_import_workers() -> None:
    known = modules()
    wrong = {name: sorted(i for i in imports(path, known) if i.startswith("workers")) for name, path in known.items()}
    assert {n: w for n, w in wrong.items() if n.startswith("services") and w} == {}


def test_no_module_of_background_work_is_in_an_import_cycle() -> None:
    known = modules()
    graph = {name: imports(path, known) for name, path in known.items()}
    for start in BACKGROUND:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:  # everything `start` reaches; a cycle through it reaches `start` again
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        assert start not in seen, f"{start} imports itself through {sorted(m for m in seen if start in graph[m])}"
