"""`email-infra domain check` and `plan`/`apply --buy --budget`: prices at the Porkbun fake, never a purchase
without --buy, the whole set refused over the budget; secrets never printed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.porkbun import FakePorkbun
from tests.registrars.conftest import porkbun
from tests.registrars.test_reconcile import TWO, inventory

__all__ = ["porkbun"]  # the fake's fixture, used here


def test_check_prices_names_and_buys_nothing(cli: Cli, tmp_path: Path, porkbun: FakePorkbun) -> None:
    porkbun.taken.add("taken-1.com")
    porkbun.premium["cash.com"] = 250_000
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(porkbun.url, TWO), encoding="utf-8")
    env = {"PB_TEST_KEY": porkbun.apikey, "PB_TEST_SECRET": porkbun.secretapikey}
    as_json = cli(
        "domain", "check", "coldmail-9.com", "taken-1.com", "cash.com", "-f", str(path), "--format", "json", env=env
    )
    assert as_json.returncode == 0, as_json.stderr
    quotes = {q["domain"]: q for q in json.loads(as_json.stdout)["quotes"]}
    assert (quotes["coldmail-9.com"]["available"], quotes["coldmail-9.com"]["price"]) == (True, "11.08")
    assert quotes["taken-1.com"]["available"] is False
    assert quotes["cash.com"]["premium"] is True and quotes["cash.com"]["price"] == "2500.00"
    table = cli("domain", "check", "cash.com", "-f", str(path), env=env)
    assert table.returncode == 0 and "never bought automatically" in table.stdout
    unknown = cli("domain", "check", "a.com", "-f", str(path), "--registrar", "nope", env=env)
    assert unknown.returncode == 2 and "no registrar named 'nope'" in unknown.stderr
    assert not porkbun.charges and not porkbun.calls("domain/create")
    everything = as_json.stdout + as_json.stderr + table.stdout + table.stderr
    assert porkbun.apikey not in everything and porkbun.secretapikey not in everything


def test_plan_shows_the_total_and_apply_buys_only_with_buy_under_the_budget(
    cli: Cli, tmp_path: Path, porkbun: FakePorkbun
) -> None:
    porkbun.create_attempts = (100, 1.0)
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(porkbun.url, TWO), encoding="utf-8")
    env = {"PB_TEST_KEY": porkbun.apikey, "PB_TEST_SECRET": porkbun.secretapikey}
    planned = cli("plan", "-f", str(path), "--budget", "30", env=env)
    assert planned.returncode == 0, planned.stderr
    assert "purchases: 2 domain(s), total 22.16 USD (budget 30 USD): needs --buy" in planned.stdout
    assert "domain coldmail-1.com at pb (11.08 USD)" in planned.stdout
    bad = cli("plan", "-f", str(path), "--budget", "lots", env=env)
    assert bad.returncode == 2
    without = cli("apply", "-f", str(path), "--yes", env=env)
    assert without.returncode == 1 and not porkbun.charges
    over = cli("apply", "-f", str(path), "--yes", "--buy", "--budget", "20", "--json", env=env)
    assert over.returncode == 1 and not porkbun.charges
    assert "over the budget 20" in json.loads(over.stdout)["purchases"]["refused"]
    bought = cli("apply", "-f", str(path), "--yes", "--buy", "--budget", "30", env=env)
    assert bought.returncode == 0, bought.stdout + bought.stderr
    assert sorted(c.domain for c in porkbun.charges) == ["coldmail-1.com", "coldmail-2.com"]
