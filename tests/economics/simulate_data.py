"""A hand-computed model-swap dataset (shared by ``test_econ_simulate_*.py``): 3 customers + unattributed traffic,
3 model groups over 2 days, with a failed call, a cache hit, unpriced calls, a call of a model group no longer
configured, a call long enough to cross a 200k-token price tier once scaled (``E11_TOKENS``), and revenue
(prorated, and in another currency). Every expected figure below was worked out by hand from the prices in
``MODEL_LIST`` (see the comments), not by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tollway.economics.revenue import RevenueRecord, parse_revenue
from tollway.governance.spend_event import SpendEvent
from tollway.storage.database import Database
from tollway.storage.revenue_store import RevenueStore
from tollway.storage.spend_store import SpendStore

__all__ = ["E11_TOKENS", "EVENTS", "MODEL_LIST", "SWAP_CHAT", "SWAP_CHEAP", "seed"]

PERIOD = {"start": "2025-06-01", "end": "2025-06-02"}

# USD per token. "smart" and "cheap" are o200k models (ratio 1.00); "claude" is Claude (1.20). Targets give every
# price the dataset's calls use (cache reads included), so no figure depends on the bundled price data, which the
# overrides are laid over (an overridden price drops the data's tiers for it).
MODEL_LIST: list[dict[str, Any]] = [
    {
        "model_name": "smart",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": "sk-unused",
            "input_cost_per_token": "0.00001",
            "output_cost_per_token": "0.00003",
        },
    },
    {
        "model_name": "cheap",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-unused",
            "input_cost_per_token": "0.000001",
            "output_cost_per_token": "0.000002",
            "cache_read_input_token_cost": "0.0000005",
        },
    },
    {
        "model_name": "claude",
        "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5",
            "api_key": "sk-unused",
            "input_cost_per_token": "0.000002",
            "output_cost_per_token": "0.00001",
            "cache_read_input_token_cost": "0.0000002",
        },
    },
    {"model_name": "local", "litellm_params": {"model": "ollama/llama3"}},  # no price anywhere
]


E11_TOKENS = (180_000, 1000)  # x 1.2 (o200k -> Claude) = 216000 input tokens: above a 200k tier


def _event(name: str, customer: str | None, group: str, day: int, **fields: Any) -> SpendEvent:
    provider, model = {
        "smart": ("openai", "gpt-4o"),
        "claude": ("anthropic", "claude-sonnet-4-5"),
        "legacy": ("ollama", "llama3"),
    }[group]
    cost = fields.pop("cost")
    return SpendEvent(
        ts=datetime(2025, 6, day, 12, 30, tzinfo=UTC),
        request_id=name,
        customer_id=customer,
        model_group=group,
        provider=provider,
        model=model,
        cost=None if cost is None else Decimal(cost),
        **fields,
    )


EVENTS = [
    _event(
        "e1",
        "acme",
        "smart",
        1,
        feature="chat",
        tags=["web"],
        input_tokens=1000,
        cached_tokens=200,
        output_tokens=500,
        reasoning_tokens=100,
        cost="0.025",
    ),
    _event("e2", "acme", "smart", 2, feature="search", input_tokens=2000, output_tokens=1000, cost="0.05"),
    _event("e3", "beta", "smart", 1, feature="chat", input_tokens=4000, output_tokens=1000, cost="0.07"),
    _event("e4", "beta", "claude", 2, feature="chat", input_tokens=1200, output_tokens=600, cost="0.0084"),
    _event("e5", "beta", "smart", 2, feature="chat", status=500, error_class="InternalServerError", cost="0"),
    _event("e6", "gamma", "smart", 1, feature="chat", cache_hit=True, input_tokens=1000, output_tokens=100, cost="0"),
    _event("e7", "gamma", "smart", 2, feature="chat", input_tokens=3000, output_tokens=600, cost=None),
    _event("e8", None, "smart", 1, input_tokens=500, output_tokens=100, cost="0.008"),
    _event("e9", "acme", "smart", 3, feature="chat", input_tokens=10, output_tokens=10, cost="9"),  # after the period
    _event("e10", "gamma", "legacy", 2, input_tokens=100, output_tokens=50, cost=None),  # group since removed
    _event(
        "e11",
        "acme",
        "smart",
        2,
        feature="chat",
        tags=["web"],
        input_tokens=E11_TOKENS[0],
        output_tokens=E11_TOKENS[1],
        cost="1.9",
    ),
]

REVENUE = [
    {"customer_id": "acme", "amount": "1", "currency": "USD", "date": "2025-06-01", "external_id": "a1"},
    # 50 over 10 days: 10 in the period
    {
        "customer_id": "beta",
        "amount": "50",
        "currency": "USD",
        "period_start": "2025-06-01",
        "period_end": "2025-06-10",
        "external_id": "b1",
    },
    {"customer_id": "gamma", "amount": "10", "currency": "EUR", "date": "2025-06-02", "external_id": "g1"},
]
OTHER_CURRENCIES = [{"customer_id": "gamma", "currency": "EUR", "revenue": "10"}]
BASELINE = {"acme": "1.975", "beta": "0.0784", "gamma": "0", None: "0.008"}  # /margin's cost of each customer


async def seed(database: Database) -> None:
    """Write the spend rows through ``SpendStore.write_batch`` and the revenue through ``RevenueStore``."""
    assert await SpendStore(database).write_batch(EVENTS) == len(EVENTS)
    records: list[RevenueRecord] = [parse_revenue(payload) for payload in REVENUE]
    await RevenueStore(database).add_many(records)


def _customer(customer: str | None, *values: Any) -> dict[str, Any]:
    names = (
        "baseline_cost",
        "simulated_cost",
        "savings",
        "savings_pct",
        "revenue",
        "margin_before",
        "margin_after",
        "margin_pct_before",
        "margin_pct_after",
        "requests",
        "substituted_requests",
        "unpriced_requests",
    )
    return {"customer_id": customer, **dict(zip(names, values, strict=True))}


# {"smart": "cheap"}: every successful, uncached smart call (e1 e2 e3 e7 e8 e11) at 1e-6 in / 2e-6 out, ratio 1
# (cached 5e-7; cheap has no reasoning price: reasoning is output):
# e1 800 in + 200 cached + 500 out = 0.0008 + 0.0001 + 0.001 = 0.0019; e2 0.002 + 0.002 = 0.004;
# e3 0.004 + 0.002 = 0.006; e8 0.0005 + 0.0002 = 0.0007; e11 0.18 + 0.002 = 0.182;
# e7 (no recorded cost) 0.003 + 0.0012 = 0.0042, left out of the totals.
SWAP_CHEAP: dict[str, Any] = {
    "start": "2025-06-01",
    "end": "2025-06-02",
    "currency": "USD",
    "baseline_cost": "2.0614",  # 1.975 + 0.0784 + 0 + 0.008
    "simulated_cost": "0.203",  # acme 0.1879 + beta 0.0144 + gamma 0 + none 0.0007
    "savings": "1.8584",
    "savings_pct": "90.15",  # 1.8584 / 2.0614 = 90.152 %
    "revenue": "11",  # acme 1 + beta 10 (the EUR is listed, not added)
    "margin_before": "8.9386",
    "margin_after": "10.797",
    "margin_pct_before": "81.26",
    "margin_pct_after": "98.15",
    "requests": 10,  # e1..e8, e10, e11 (e9 is after the period)
    "substituted_requests": 6,
    "unpriced": {"baseline_requests": 2, "simulated_requests": 0, "simulated_cost_of_baseline_unpriced": "0.0042"},
    "substitutions": [
        {
            "from": "smart",
            "to": "cheap",
            "priced_as": "openai/gpt-4o-mini",
            "target_family": "openai-o200k",
            "requests": 6,
            "input_tokens": 190_500,
            "output_tokens": 4200,
            "simulated_input_tokens": "190500",
            "simulated_output_tokens": "4200",
            "baseline_cost": "2.053",  # e1 e2 e3 e8 e11: 0.025 + 0.05 + 0.07 + 0.008 + 1.9
            "simulated_cost": "0.1946",
            "savings": "1.8584",
            "savings_pct": "90.52",
            "unpriced_requests": {"baseline": 1, "simulated": 0},
            "simulated_cost_of_baseline_unpriced": "0.0042",
            "tokenizer": [{"model": "openai/gpt-4o", "family": "openai-o200k", "ratio": "1", "requests": 6}],
        }
    ],
    "customers": [  # least profitable after the swap first
        _customer(None, "0.008", "0.0007", "0.0073", "91.25", "0", "-0.008", "-0.0007", None, None, 1, 1, 0),
        _customer("gamma", "0", "0", "0", None, "0", "0", "0", None, None, 3, 1, 2),  # e7 e10 unpriced
        _customer("acme", "1.975", "0.1879", "1.7871", "90.49", "1", "-0.975", "0.8121", "-97.50", "81.21", 3, 3, 0),
        # e5 failed: kept at its recorded 0; e4 is not smart
        _customer("beta", "0.0784", "0.0144", "0.064", "81.63", "10", "9.9216", "9.9856", "99.22", "99.86", 3, 1, 0),
    ],
    "other_currencies": OTHER_CURRENCIES,
}

# {"smart": "claude", "claude": "cheap"} for feature "chat" only: smart chat calls e1 e3 e7 e11 as claude (ratio
# 1.2/1.0 = 1.2), claude's e4 as cheap (1.0/1.2 = 0.8333). e1: (800 x 2e-6 + 200 cached x 2e-7 + 500 x 1e-5) x 1.2
# = 0.007968; e3 (0.008 + 0.01) x 1.2 = 0.0216; e7 (unpriced) (0.006 + 0.006) x 1.2 = 0.0144; e11 (180000 x 2e-6 +
# 1000 x 1e-5) x 1.2 = 0.444; e4 (1200 x 1e-6 + 600 x 2e-6) x 0.8333 = 0.00199992.
SWAP_CHAT: dict[str, Any] = {
    "baseline_cost": "2.0614",
    "simulated_cost": "0.53356792",  # acme 0.501968 + beta 0.02359992 + none 0.008
    "savings": "1.52783208",
    "savings_pct": "74.12",
    "margin_after": "10.46643208",
    "margin_pct_after": "95.15",
    "substituted_requests": 5,
    "unpriced": {"baseline_requests": 2, "simulated_requests": 0, "simulated_cost_of_baseline_unpriced": "0.0144"},
    "substitutions": [
        {
            "from": "smart",
            "to": "claude",
            "priced_as": "anthropic/claude-sonnet-4-5",
            "target_family": "anthropic-claude",
            "requests": 4,
            "input_tokens": 188_000,
            "output_tokens": 3100,
            "simulated_input_tokens": "225600",
            "simulated_output_tokens": "3720",
            "baseline_cost": "1.995",
            "simulated_cost": "0.473568",
            "savings": "1.521432",
            "savings_pct": "76.26",
            "unpriced_requests": {"baseline": 1, "simulated": 0},
            "simulated_cost_of_baseline_unpriced": "0.0144",
            "tokenizer": [{"model": "openai/gpt-4o", "family": "openai-o200k", "ratio": "1.2", "requests": 4}],
        },
        {
            "from": "claude",
            "to": "cheap",
            "priced_as": "openai/gpt-4o-mini",
            "target_family": "openai-o200k",
            "requests": 1,
            "input_tokens": 1200,
            "output_tokens": 600,
            "simulated_input_tokens": "999.96",
            "simulated_output_tokens": "499.98",
            "baseline_cost": "0.0084",
            "simulated_cost": "0.00199992",
            "savings": "0.00640008",
            "savings_pct": "76.19",
            "unpriced_requests": {"baseline": 0, "simulated": 0},
            "simulated_cost_of_baseline_unpriced": "0",
            "tokenizer": [
                {"model": "anthropic/claude-sonnet-4-5", "family": "anthropic-claude", "ratio": "0.8333", "requests": 1}
            ],
        },
    ],
    "customers": [
        _customer(None, "0.008", "0.008", "0", "0.00", "0", "-0.008", "-0.008", None, None, 1, 0, 0),
        _customer("gamma", "0", "0", "0", None, "0", "0", "0", None, None, 3, 1, 2),
        _customer(
            "acme", "1.975", "0.501968", "1.473032", "74.58", "1", "-0.975", "0.498032", "-97.50", "49.80", 3, 2, 0
        ),
        _customer(
            "beta",
            "0.0784",
            "0.02359992",
            "0.05480008",
            "69.90",
            "10",
            "9.9216",
            "9.97640008",
            "99.22",
            "99.76",
            3,
            2,
            0,
        ),
    ],
}
