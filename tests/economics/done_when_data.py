"""Issue 8's "Done when" dataset: real traffic driven through the gateway over several days, and the hand
calculation of what every report must then say.

Three customers of the caller's product over three days (2026-11-02 to 2026-11-04), two features, two models:

- ``acme`` mostly on the cheap model, pays 6.00 USD (``POST /revenue``);
- ``globex`` a mix, pays 2.50 USD (``tollway revenue import`` of a CSV);
- ``initech`` heavy on the dear model and pays 0.40 USD through Stripe (an invoice synced twice): unprofitable;
- some traffic without a customer (reported as unattributed).

The clock is moved with ``time_machine`` (the gateway's code is untouched: it reads the real ``datetime.now``);
every expected figure is computed here from the prices below and the token counts each response reported to its
client, never read back from the gateway's own cost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import time_machine

__all__ = ["DAYS", "MODELS", "PLAN", "PRICES", "Ledger", "Usage", "drive"]

DAYS = (date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4))
# USD per token, exactly ten times cheaper on "budget" (mock upstream: in-process, deterministic usage).
PRICES = {
    "premium": (Decimal("0.0005"), Decimal("0.0015")),
    "budget": (Decimal("0.00005"), Decimal("0.00015")),
}
MODELS = [
    {
        "model_name": name,
        "litellm_params": {
            "model": f"mock/{name}-model",
            "input_cost_per_token": float(prices[0]),
            "output_cost_per_token": float(prices[1]),
        },
    }
    for name, prices in PRICES.items()
]


@dataclass(frozen=True)
class Traffic:
    """``count`` requests a day of one customer (None = unattributed) on one feature and model."""

    customer: str | None
    feature: str | None
    model: str
    count: int
    max_tokens: int


PLAN = (
    Traffic("acme", "chat", "budget", 6, 120),
    Traffic("acme", "search", "premium", 1, 40),
    Traffic("globex", "chat", "premium", 2, 100),
    Traffic("globex", "search", "budget", 3, 60),
    Traffic("initech", "chat", "premium", 8, 400),
    Traffic("initech", "search", "premium", 4, 300),
    Traffic(None, None, "budget", 2, 50),
)


@dataclass
class Usage:
    """Summed usage and cost of one group, as the hand calculation gives it."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)

    def add(self, input_tokens: int, output_tokens: int, cost: Decimal) -> None:
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost += cost


@dataclass
class Ledger:
    """What was sent, keyed every way the reports group it."""

    by: dict[tuple[str, Any], Usage] = field(default_factory=lambda: defaultdict(Usage))
    tokens: dict[tuple[str | None, str], tuple[int, int]] = field(default_factory=lambda: defaultdict(lambda: (0, 0)))

    def record(self, traffic: Traffic, day: date, input_tokens: int, output_tokens: int) -> None:
        price_in, price_out = PRICES[traffic.model]
        cost = input_tokens * price_in + output_tokens * price_out
        customer = traffic.customer
        for key in (
            ("customer", customer),
            ("customer_model", (customer, traffic.model)),
            ("customer_feature", (customer, traffic.feature)),
            ("customer_day", (customer, day)),
            ("all", None),
        ):
            self.by[key].add(input_tokens, output_tokens, cost)
        before_in, before_out = self.tokens[(customer, traffic.model)]
        self.tokens[(customer, traffic.model)] = (before_in + input_tokens, before_out + output_tokens)

    def cost(self, kind: str, key: Any) -> Decimal:
        return self.by[(kind, key)].cost


async def drive(client: httpx.AsyncClient, master: str) -> Ledger:
    """Send ``PLAN`` on each of ``DAYS`` (at noon UTC) through the gateway; the ledger of what was answered."""
    ledger = Ledger()
    for day in DAYS:
        with time_machine.travel(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=True):
            for traffic in PLAN:
                for number in range(traffic.count):
                    usage = await _call(client, master, traffic, number)
                    ledger.record(traffic, day, usage["prompt_tokens"], usage["completion_tokens"])
    return ledger


async def _call(client: httpx.AsyncClient, master: str, traffic: Traffic, number: int) -> dict[str, int]:
    headers = {"authorization": f"Bearer {master}"}
    if traffic.feature is not None:
        headers["x-tollway-feature"] = traffic.feature
    body: dict[str, Any] = {
        "model": traffic.model,
        "messages": [{"role": "user", "content": f"request {number} about {traffic.feature}"}],
        "max_tokens": traffic.max_tokens,
    }
    if traffic.customer is not None:
        body["user"] = traffic.customer
    answer = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    usage: dict[str, int] = answer.json()["usage"]
    return usage
