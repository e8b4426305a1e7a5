"""Inventory limits: size, nesting and alias expansion are bounded before they can exhaust the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from email_infrastructure.core.errors import InventoryError
from email_infrastructure.core.inventory import load_inventory, loader
from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.reconcile.registry import provider_schemas

BASE = """\
version: 1
providers:
  dns:
    local: {type: zonefile}
servers:
  - name: mx1
    hostname: mail.example.test
    ipv4: 127.0.0.10
defaults:
  dns_provider: local
  server: mx1
domains:
  - name: example.test
"""

# The classic "billion laughs": nine levels of nine aliases, 9**9 strings once expanded, in ~600 bytes.
BOMB = (
    "version: 1\n"
    + 'x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]\n" for i in range(1, 9))
    + "domains: *x8\n"
)
#: address space for a capped CLI run: ~150 MiB are enough for `validate` on a small inventory
MEMORY_CAP = 768 << 20


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory_text(text, "inv.yaml", provider_schemas())
    return info.value.problems


def capped_validate(path: Path) -> subprocess.CompletedProcess[str]:
    """`email-infra validate -f path` with bounded memory and CPU, so a regression cannot eat the machine."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        resource.setrlimit(resource.RLIMIT_CPU, (60, 60))

    # Not measured by coverage: tracing the expansion of a bomb costs five times the CPU and could
    # reach the limit above; the loader's limits are covered in process (MAX_NODES lowered).
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    return subprocess.run(
        [sys.executable, "-m", "email_infrastructure", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limits,
        timeout=120,
        check=False,
    )


def test_billion_laughs_is_refused_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 700
    result = capped_validate(path)  # its timeout fails the test if the expansion never ends
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {path}:")
    assert "of this anchor take the inventory beyond 1,000,000 values" in errors[0]
    assert "MemoryError" not in result.stderr


def test_an_endless_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    result = capped_validate(Path("/dev/zero"))
    assert result.returncode == 2, result.stderr
    assert "larger than the limit of 5,242,880 bytes (5 MiB" in result.stderr


def test_alias_expansion_is_counted_and_reported_where_it_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_NODES", 200)
    text = "version: 1\nx0: &x0 [a, b, c, d, e, f, g, h]\nx1: &x1 [*x0, *x0, *x0, *x0, *x0]\nx2: [*x1, *x1, *x1, *x1, *x1]\n"
    found = problems(text)
    assert len(found) == 1
    # ruamel gives aliased values the position of their anchor: the expansion that overflows is *x1's
    assert found[0] == (
        "inv.yaml:3:5: aliases (*x1) of this anchor take the inventory beyond 200 values "
        "(MAX_NODES, see docs/limits.md)"
    )


def test_aliases_within_the_budget_are_plain_values() -> None:
    text = BASE.replace("  - name: example.test\n", "") + (
        "  - name: a.example.test\n    mailboxes: &people\n      - {first_name: Ann, last_name: Lee}\n"
        "  - name: b.example.test\n    mailboxes: *people\n"
    )
    inv = parse_inventory_text(text, "inv.yaml", provider_schemas()).inventory
    assert [[m.address_local_part for m in d.mailboxes] for d in inv.domains] == [["ann.lee"], ["ann.lee"]]


def test_merge_keys_are_understood() -> None:
    text = BASE.replace("  - name: example.test\n", "") + (
        "  - &common {name: a.example.test, daily_send_limit: 20}\n  - <<: *common\n    name: b.example.test\n"
    )
    inv = parse_inventory_text(text, "inv.yaml", provider_schemas()).inventory
    assert [(d.name, d.daily_send_limit) for d in inv.domains] == [("a.example.test", 20), ("b.example.test", 20)]


def test_a_problem_in_a_merged_key_is_reported_at_the_mapping() -> None:
    text = BASE.replace("  - name: example.test\n", "") + (
        "  - &common {name: a.example.test, daily_send_limit: 20000}\n  - <<: *common\n    name: b.example.test\n"
    )
    found = problems(text)
    assert [p.split(": ", 1)[0] for p in found] == ["inv.yaml:13:54", "inv.yaml:14:5"]
    assert all("daily_send_limit" in p for p in found)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused_with_its_position(style: str) -> None:
    depth = 1000
    if style == "flow":
        text = "version: 1\nx: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "version: 1\nx:\n" + "".join(" " * i + "-\n" for i in range(1, depth))
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith("inv.yaml:")
    assert not found[0].startswith("inv.yaml:1:1:")
    assert f"nested more than {loader.MAX_DEPTH} levels deep" in found[0]


def test_nesting_within_the_limit_is_accepted_by_the_loader() -> None:
    depth = loader.MAX_DEPTH - 2  # the root mapping and the key `x` take one level each
    found = problems("version: 1\nx: " + "[" * depth + "]" * depth + "\n")
    assert found == ["inv.yaml:2:1: unknown key 'x'"]


def test_an_oversized_inventory_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("version: 1\n" + ("# " + "x" * 77 + "\n") * (loader.MAX_INVENTORY_BYTES // 80 + 1))
    assert path.stat().st_size > loader.MAX_INVENTORY_BYTES

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the oversized text was parsed")

    monkeypatch.setattr(loader, "parse_inventory_text", never)  # refused without parsing (~20 s here)
    with pytest.raises(InventoryError) as info:
        load_inventory(path, provider_schemas())
    assert info.value.problems == [
        f"{path}:1:1: the inventory is larger than the limit of 5,242,880 bytes (5 MiB; see docs/limits.md)"
    ]


def test_the_size_limit_counts_bytes_and_applies_to_text_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_INVENTORY_BYTES", len(BASE.encode()) + 10)
    parse_inventory_text(BASE + "# é\n", "inv.yaml", provider_schemas())
    found = problems(BASE + "# éééééééé\n")
    assert len(found) == 1
    assert found[0].startswith("inv.yaml:1:1: the inventory is larger than the limit of")
