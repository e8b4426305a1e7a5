"""Every `email-infra` command the image and the compose file run exists in the package."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer.main
from ruamel.yaml import YAML

from email_infrastructure.cli.app import app

ROOT = Path(__file__).parents[2]


def registered() -> dict[str, Any]:
    """The root command's subcommands by name."""
    group = typer.main.get_command(app)
    return dict(getattr(group, "commands", {}))


def dockerfile_commands() -> list[list[str]]:
    """The argument lists of ENTRYPOINT + CMD and of the HEALTHCHECK (exec form)."""
    text = (ROOT / "Dockerfile").read_text()
    forms = {m.group(1): json.loads(m.group(2)) for m in re.finditer(r"^(ENTRYPOINT|CMD) (\[.*\])$", text, re.M)}
    health = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", text, re.M)
    assert forms.get("ENTRYPOINT") == ["email-infra"] and health is not None
    return [forms["CMD"], json.loads(health.group(1))[1:]]


def compose() -> dict[str, Any]:
    data = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_the_image_runs_commands_that_exist() -> None:
    commands = registered()
    for argv in dockerfile_commands():
        assert argv[0] in commands, argv
        # the options exist too (`worker --check`)
        params = {opt for p in commands[argv[0]].params for opt in getattr(p, "opts", [])}
        assert {a for a in argv[1:] if a.startswith("--")} <= params, argv


def test_the_compose_services_run_commands_that_exist() -> None:
    services = compose()["services"]
    assert {"api", "worker", "scheduler", "postgres", "redis"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
    commands = registered()
    ours = {name: services[name]["command"] for name in ("api", "worker", "scheduler")}
    assert ours["api"][0] == "serve"
    for name, argv in ours.items():
        assert argv[0] in commands, (name, argv)
        params = {opt for p in commands[argv[0]].params for opt in getattr(p, "opts", [])}
        assert {a for a in argv[1:] if a.startswith("--")} <= params, (name, argv)
    assert {"worker", "scheduler"} <= set(commands)


def test_the_compose_services_share_one_database_and_redis() -> None:
    data = compose()
    services = data["services"]
    urls = {
        (services[s]["environment"]["DATABASE_URL"], services[s]["environment"]["REDIS_URL"])
        for s in ("api", "worker", "scheduler")
    }
    assert len(urls) == 1
    database_url, redis_url = urls.pop()
    assert "@postgres:5432/" in database_url and redis_url.startswith("redis://redis:6379")


def test_the_api_service_listens_where_its_port_and_healthcheck_point() -> None:
    api = compose()["services"]["api"]
    argv = api["command"]
    port = argv[argv.index("--port") + 1]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # reachable from the published port, not only in-container
    assert any(str(mapping).endswith(f":{port}") for mapping in api["ports"]), api["ports"]
    assert f"127.0.0.1:{port}/health" in " ".join(api["healthcheck"]["test"])
