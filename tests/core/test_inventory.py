"""Inventory loading: every problem at once, with positions; secrets only as references."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import InventoryError, SecretReferenceError
from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.core.inventory.loader import parse_inventory_text, resolve_secret
from email_infrastructure.reconcile.registry import provider_schemas

EXAMPLES = Path(__file__).parents[2] / "examples"

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
    mailboxes:
      - {first_name: Ann, last_name: Lee}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory_text(text, "inv.yaml", provider_schemas())
    return info.value.problems


@pytest.mark.parametrize("name", ["quickstart.yaml", "full.yaml", "agency/acme.yaml", "agency/globex.yaml"])
def test_examples_are_valid(name: str) -> None:
    loaded = load_inventory(EXAMPLES / name, provider_schemas())
    assert loaded.inventory.domains


def test_full_example_declares_three_domains_with_three_mailboxes() -> None:
    inv = load_inventory(EXAMPLES / "full.yaml", provider_schemas()).inventory
    assert [len(d.mailboxes) for d in inv.domains] == [3, 3, 3]
    assert {p.type for p in inv.providers.dns.values()} == {"cloudflare"}


def test_every_problem_is_reported_with_its_position() -> None:
    text = (
        BASE.replace("  server: mx1\n", "  server: mx1\n  sever: x\n").replace(
            "      - {first_name: Ann, last_name: Lee}\n",
            "      - {first_name: Ann, last_name: Lee}\n      - {first_name: Ann, last_name: Lee}\n",
        )
        + "  - name: bad_name..test\n"
    )
    found = problems(text)
    assert len(found) == 3
    assert found[0] == "inv.yaml:12:3: unknown key 'sever' (did you mean 'server'?)"
    assert found[1].startswith("inv.yaml:17:9: domains.0.mailboxes.1: duplicate mailbox ann.lee@example.test")
    assert found[2].startswith("inv.yaml:18:11: domains.1.name: invalid domain name 'bad_name..test'")


def test_idn_domains_are_normalised_and_duplicates_found_across_forms() -> None:
    text = BASE + "  - name: Bücher.test\n  - name: xn--bcher-kva.test\n"
    found = problems(text)
    assert len(found) == 1
    assert "duplicate domain 'xn--bcher-kva.test'" in found[0]
    assert found[0].startswith("inv.yaml:17:11: domains.2.name")


def test_idn_domain_is_stored_as_punycode() -> None:
    inv = parse_inventory_text(BASE + "  - name: Bücher.TEST\n", "inv.yaml").inventory
    assert inv.domains[1].name == "xn--bcher-kva.test"


def test_references_to_undeclared_names_are_errors_with_hints() -> None:
    text = BASE.replace("  dns_provider: local", "  dns_provider: locl").replace("  server: mx1", "  server: mx2")
    found = problems(text)
    assert any("DNS provider 'locl' is not declared (did you mean 'local'?)" in p for p in found)
    assert any("server 'mx2' is not declared" in p for p in found)


def test_literal_secret_is_refused_without_echoing_it() -> None:
    text = BASE.replace(
        "local: {type: zonefile}",
        "local: {type: zonefile}\n    cf: {type: cloudflare, api_token: sk-live-abcdef123456}",
    )
    found = problems(text)
    assert any("a secret must be an env:NAME reference" in p for p in found)
    assert not any("sk-live-abcdef123456" in p for p in found)


def test_unset_env_reference_is_a_warning_then_an_error_when_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CF_TOKEN_FOR_TEST", raising=False)
    text = BASE.replace(
        "local: {type: zonefile}",
        "local: {type: zonefile}\n    cf: {type: cloudflare, api_token: env:CF_TOKEN_FOR_TEST}",
    )
    loaded = parse_inventory_text(text, "inv.yaml", provider_schemas())
    assert loaded.warnings == [
        "inv.yaml:5:39: providers.dns.cf.api_token: environment variable CF_TOKEN_FOR_TEST "
        "is not set (needed when this is used)"
    ]
    with pytest.raises(SecretReferenceError, match="CF_TOKEN_FOR_TEST is not set"):
        resolve_secret("env:CF_TOKEN_FOR_TEST")
    monkeypatch.setenv("CF_TOKEN_FOR_TEST", "tok-123456")
    assert resolve_secret("env:CF_TOKEN_FOR_TEST") == "tok-123456"


def test_unknown_provider_type_and_settings_key() -> None:
    text = BASE.replace(
        "local: {type: zonefile}",
        "local: {type: zonfile}\n    pdns: {type: powerdns, api_url: 'http://127.0.0.1:1', api_key: env:X, sever_id: a}",
    )
    found = problems(text)
    assert any("unknown dns provider type 'zonfile' (did you mean 'zonefile'?)" in p for p in found)
    assert any(p.startswith("inv.yaml:5:") and "unknown key 'sever_id' (did you mean 'server_id'?)" in p for p in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nproviders: [\n", "inv.yaml:3:1: invalid YAML"),
        ("", "inv.yaml:1:1: the inventory is empty"),
        ("- a\n- b\n", "inv.yaml:1:1: the inventory must be a mapping"),
        ("version: 2\n", "inv.yaml:1:10: version: Input should be 1"),
        ("version: 1\nversion: 1\n", "inv.yaml:2:1: invalid YAML"),
        ("version: 1\nservers:\n  - {name: a, hostname: m.example.test}\n", "needs ipv4 or ipv6"),
        ("version: 1\nworkspace: Acme_Corp\n", "inv.yaml:2:12: workspace: a workspace name is lowercase letters"),
        ("version: 1\nworkspace: ''\n", "inv.yaml:2:12: workspace: a workspace name"),
    ],
)
def test_bad_files_get_one_clear_problem(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read inventory"):
        load_inventory(tmp_path / "missing.yaml")


def test_defaults_are_applied_and_overridden() -> None:
    text = BASE.replace("defaults:\n", "defaults:\n  daily_send_limit: 25\n  dmarc: {policy: quarantine}\n") + (
        "  - name: other.test\n    daily_send_limit: 10\n    dmarc: {policy: reject}\n"
    )
    inv = parse_inventory_text(text, "inv.yaml").inventory
    first, second = inv.resolved_domains()
    assert (first.daily_send_limit, first.dmarc.policy) == (25, "quarantine")
    assert (second.daily_send_limit, second.dmarc.policy) == (10, "reject")
    assert first.server is not None and first.server.ips == ["127.0.0.10"]
    assert first.mailboxes[0].address_local_part == "ann.lee"
