"""The run's purchase switch and spending caps, and the verdict over the whole purchase set.

Nothing is bought unless the run says `buy` (`apply --buy`, or an admin's stored plan). Even then
the purchases go through only *together*: every domain within its `max_price`, the sum within the
run's budget, each registrar's balance enough for its share, and at least one cap declared. If any
of that fails, no domain is bought and every purchase step says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.reconcile.graph import GraphPlan
from email_infrastructure.registrars.provider import Registrar

#: the step kind of a purchase (and of a domain's check at its registrar)
DOMAIN_KIND = "registrar.domain"
NEEDS_BUY = "needs --buy: nothing is bought unless apply is run with --buy"


@dataclass
class PurchaseRun:
    """What this run may spend; `review` fills in the verdict before anything is applied."""

    buy: bool = False
    budget: Decimal | None = None
    #: True once `review` found the whole set within every cap (and `buy` was given)
    allowed: bool = False
    #: why nothing is bought (shown on every purchase step)
    reason: str = NEEDS_BUY
    total: Decimal = Decimal(0)
    purchases: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The plan's `purchases` section (amounts as text)."""
        return {
            "buy": self.buy,
            "budget": None if self.budget is None else str(self.budget),
            "total": str(self.total),
            "currency": "USD",
            "allowed": self.allowed,
            "refused": None if self.allowed else self.reason,
            "domains": list(self.purchases),
        }


def _purchase(new: Mapping[str, Any]) -> tuple[Decimal, Decimal | None]:
    price = Decimal(str(new["price"]))
    cap = new.get("max_price")
    return price, (Decimal(str(cap)) if cap is not None else None)


async def review(plan: GraphPlan, run: PurchaseRun, registrars: Mapping[str, Registrar]) -> None:
    """Decide for the whole purchase set at once, and note the verdict on every purchase step."""
    steps = [s for s in plan.ordered if s.key.startswith(f"{DOMAIN_KIND}:") and s.changes and not s.error]
    run.purchases, run.total, problems = [], Decimal(0), []
    by_registrar: dict[str, Decimal] = {}
    for step in steps:
        new = step.changes[0].new
        price, cap = _purchase(new)
        domain, registrar = step.key.split(":", 1)[1], str(new["registrar"])
        run.purchases.append({"domain": domain, "registrar": registrar, "price": str(price), "years": new["years"]})
        run.total += price
        by_registrar[registrar] = by_registrar.get(registrar, Decimal(0)) + price
        if cap is not None and price > cap:
            problems.append(f"{domain} costs {price}, over its max_price {cap}")
        if cap is None and run.budget is None:
            problems.append(f"{domain} has no max_price and the run has no budget")
    if run.budget is not None and run.total > run.budget:
        problems.append(f"the purchases total {run.total}, over the budget {run.budget}")
    if steps and run.buy and not problems:
        for name, due in sorted(by_registrar.items()):
            try:
                balance = await registrars[name].balance()
            except (EmailInfraError, KeyError) as exc:
                problems.append(f"the balance at registrar {name} could not be read: {exc}")
                continue
            if balance < due:
                problems.append(f"registrar {name} holds {balance}, the purchases there cost {due}")
    if problems:
        run.allowed, run.reason = False, "no domain is bought: " + "; ".join(problems)
    elif not run.buy:
        run.allowed, run.reason = False, NEEDS_BUY
    else:
        run.allowed, run.reason = True, ""
    for step in steps:
        price = step.changes[0].new["price"]
        verdict = f"buys it for {price} USD" if run.allowed else run.reason
        step.notes.append(f"purchase: {verdict}")
