"""Workspaces from the CLI: two clients' inventories side by side in one install, each isolated."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.services.conftest import QUICKSTART


def _client(tmp_path: Path, workspace: str, prefix: str, spf_all: str, ip: str) -> Path:
    """The quickstart as one client's inventory: its workspace, domains, SPF policy and server address (server
    and provider keep the quickstart's names, and the zone files share one directory)."""
    text = (
        QUICKSTART.replace("version: 1\n", f"version: 1\nworkspace: {workspace}\n")
        .replace("acme-outreach.test", f"{prefix}-outreach.test")
        .replace("acme-mail.test", f"{prefix}-mail.test")
        .replace("  dns_provider: local\n", f"  dns_provider: local\n  spf_all: '{spf_all}'\n")
        .replace("ipv4: 127.0.0.10", f"ipv4: {ip}")
    )
    path = tmp_path / f"{workspace}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _zone(tmp_path: Path, domain: str) -> str:
    return next((tmp_path / "data" / "zones").glob(f"{domain}*")).read_text(encoding="utf-8")


def test_two_clients_apply_side_by_side_and_each_plan_is_then_empty(cli: Cli, tmp_path: Path) -> None:
    acme = _client(tmp_path, "acme", "acme", "-all", "127.0.0.10")
    beta = _client(tmp_path, "beta", "beta", "~all", "127.0.0.11")
    for path in (acme, beta):
        done = cli("apply", "-f", str(path), "--yes")
        assert done.returncode == 0, done.stderr
    assert "v=spf1 ip4:127.0.0.10 -all" in _zone(tmp_path, "acme-outreach.test")
    assert "v=spf1 ip4:127.0.0.11 ~all" in _zone(tmp_path, "beta-outreach.test")
    for path in (acme, beta):  # from the files, and from the stored state of each workspace
        assert cli("plan", "-f", str(path), "--detailed-exitcode").returncode == 0
    for name in ("acme", "beta"):
        assert cli("plan", "--workspace", name, "--detailed-exitcode").returncode == 0
        assert cli("-w", name, "plan", "--detailed-exitcode").returncode == 0
    listed = {w["name"]: w for w in json.loads(cli("workspace", "list", "--format", "json").stdout)}
    assert {n: (w["domains"], w["mailboxes"], w["servers"]) for n, w in listed.items()} == {
        "acme": (2, 3, 1),
        "beta": (2, 3, 1),
        "default": (0, 0, 0),
    }
    listed = cli("domain", "list", "--workspace", "beta", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(d["name"] for d in json.loads(listed.stdout)["domains"]) == ["beta-mail.test", "beta-outreach.test"]
    # the default workspace, where a command that names none acts, holds neither
    assert json.loads(cli("domain", "list", "--json").stdout) == {"domains": []}


def test_a_file_never_writes_into_another_workspace(cli: Cli, tmp_path: Path) -> None:
    acme = _client(tmp_path, "acme", "acme", "-all", "127.0.0.10")
    assert cli("apply", "-f", str(acme), "--yes").returncode == 0
    before = _zone(tmp_path, "acme-outreach.test")
    refused = cli("apply", "-f", str(acme), "--yes", "--workspace", "beta")
    assert refused.returncode == 2
    assert "names workspace 'acme' but the command acts in 'beta'" in refused.stderr
    # the same domain in a second workspace is refused, and nothing changes
    taken = _client(tmp_path, "beta", "acme", "~all", "127.0.0.11")
    refused = cli("apply", "-f", str(taken), "--yes")
    assert refused.returncode == 2
    assert "held by another workspace" in refused.stderr
    assert _zone(tmp_path, "acme-outreach.test") == before
    assert cli("plan", "-w", "acme", "--detailed-exitcode").returncode == 0


def test_workspace_commands(cli: Cli, tmp_path: Path) -> None:
    assert cli("workspace", "create", "acme").returncode == 0
    again = cli("workspace", "create", "acme")
    assert again.returncode == 2 and "exists already" in again.stderr
    assert cli("workspace", "create", "Not_Valid").returncode == 2
    assert cli("workspace", "rename", "acme", "acme-corp").returncode == 0
    shown = json.loads(cli("workspace", "show", "acme-corp", "--format", "json").stdout)
    assert shown["name"] == "acme-corp" and shown["domains"] == 0
    assert cli("workspace", "show", "acme").returncode == 2
    for refused in (("rename", "default", "x"), ("remove", "default")):
        done = cli("workspace", *refused)
        assert done.returncode == 2 and "default" in done.stderr
    client = _client(tmp_path, "acme-corp", "acme", "-all", "127.0.0.10")
    assert cli("apply", "-f", str(client), "--yes").returncode == 0
    held = cli("workspace", "remove", "acme-corp")
    assert held.returncode == 2 and "not empty (2 domains, 3 mailboxes, 1 servers)" in held.stderr
    pruned = cli("workspace", "remove", "acme-corp", "--prune", "--yes", "--force")
    assert pruned.returncode == 0, pruned.stderr
    assert "v=spf1" not in _zone(tmp_path, "acme-outreach.test")  # what it created is gone
    names = [w["name"] for w in json.loads(cli("workspace", "list", "--format", "json").stdout)]
    assert names == ["default"]
    # its domain names are free again
    assert cli("apply", "-f", str(_client(tmp_path, "other", "acme", "~all", "127.0.0.11")), "--yes").returncode == 0


def test_unknown_workspace_is_a_clear_error(cli: Cli) -> None:
    assert cli("workspace", "create", "acme").returncode == 0
    for command in (
        ("status",),
        ("plan",),
        ("domain", "list"),
        ("dmarc", "summary"),
        ("apikey", "create", "--name", "k", "--scope", "read"),
    ):
        done = cli(*command, "--workspace", "nowhere")
        assert done.returncode == 2, (command, done.stdout)
        assert "workspace nowhere does not exist" in done.stderr


def test_keys_of_a_workspace_and_operator_keys(cli: Cli) -> None:
    assert cli("workspace", "create", "acme").returncode == 0
    assert cli("apikey", "create", "--name", "client", "--scope", "read", "-w", "acme").returncode == 0
    assert cli("apikey", "create", "--name", "ops", "--scope", "admin", "--operator").returncode == 0
    assert cli("apikey", "create", "--name", "team", "--scope", "write").returncode == 0
    keys = {k["name"]: k["workspace"] for k in json.loads(cli("apikey", "list", "--json").stdout)}
    assert keys == {"client": "acme", "ops": None, "team": "default"}


def test_reading_every_workspace(cli: Cli, tmp_path: Path) -> None:
    for name, ip in (("acme", "127.0.0.10"), ("beta", "127.0.0.11")):
        assert cli("apply", "-f", str(_client(tmp_path, name, name, "-all", ip)), "--yes").returncode == 0
    listed = json.loads(cli("domain", "list", "--all-workspaces", "--json").stdout)["domains"]
    assert sorted((d["workspace"], d["name"]) for d in listed) == [
        ("acme", "acme-mail.test"),
        ("acme", "acme-outreach.test"),
        ("beta", "beta-mail.test"),
        ("beta", "beta-outreach.test"),
    ]
    status = cli("status", "--all-workspaces", "--json")
    assert status.returncode == 0, status.stderr
    assert sorted(json.loads(status.stdout)["workspaces"]) == ["acme", "beta", "default"]
    table = cli("status", "--all-workspaces")
    assert "workspace acme" in table.stdout and "workspace beta" in table.stdout
    mixed = cli("status", "--all-workspaces", "-w", "acme")
    assert mixed.returncode == 2 and "name none" in mixed.stderr


def test_the_agency_examples_apply_side_by_side(cli: Cli) -> None:
    examples = Path(__file__).parents[2] / "examples" / "agency"
    files = sorted(examples.glob("*.yaml"))
    assert [f.name for f in files] == ["acme.yaml", "globex.yaml"]
    for path in files:
        done = cli("apply", "-f", str(path), "--yes")
        assert done.returncode == 0, done.stderr
    for path in files:
        assert cli("plan", "-f", str(path), "--detailed-exitcode").returncode == 0


def test_commands_of_one_workspace_never_show_or_change_anothers(cli: Cli, tmp_path: Path) -> None:
    for name, ip in (("acme", "127.0.0.10"), ("beta", "127.0.0.11")):
        assert cli("apply", "-f", str(_client(tmp_path, name, name, "-all", ip)), "--yes").returncode == 0
    acme_zone = _zone(tmp_path, "acme-outreach.test")
    reads = [
        ("domain", "list", "--json"),
        ("server", "list", "--json"),
        ("server", "show", "mx1", "--json"),
        ("status", "--json"),
        ("plan", "--json"),
        ("dmarc", "summary", "--format", "json"),
        ("apikey", "list", "--json"),
        ("workspace", "show", "beta", "--format", "json"),
    ]
    for command in reads:
        done = cli(*command, "-w", "beta")
        assert done.returncode in (0, 1), (command, done.stderr)
        assert "acme-outreach" not in done.stdout and "127.0.0.10" not in done.stdout, command
    # acme's domain is not there for beta: not shown, not removed, no records, no credentials
    for command in (
        ("domain", "show", "acme-outreach.test"),
        ("domain", "remove", "acme-outreach.test"),
        ("records", "acme-outreach.test"),
        ("export", "--format", "generic", "--domain", "acme-outreach.test"),
    ):
        done = cli(*command, "-w", "beta")
        assert done.returncode == 2, (command, done.stdout)
        assert "acme-outreach.test" not in done.stdout, command
    # nor does an apply with --prune in beta delete anything of acme's in the shared zone directory
    assert cli("apply", "-w", "beta", "--prune", "--yes").returncode == 0
    assert _zone(tmp_path, "acme-outreach.test") == acme_zone
    assert cli("plan", "-w", "acme", "--detailed-exitcode").returncode == 0
