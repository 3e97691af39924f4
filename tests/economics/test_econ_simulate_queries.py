"""``simulate_of`` (the service behind ``POST /simulate`` and ``tollway simulate``) over SQLite and PostgreSQL, on the
hand-computed dataset of ``simulate_data``: the totals, substitutions and customers a hand calculation gives; the
baseline equals ``/margin``'s cost; scoping by customers, features and tags; a source known only from the recorded
calls; exact money sums on SQLite; the group count stays small however many rows there are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from simulate_data import BASELINE, E11_TOKENS, MODEL_LIST, PERIOD, SWAP_CHAT, SWAP_CHEAP, seed

from tollway.economics.simulate import make_plan
from tollway.economics.simulate_models import ModelDirectory, noon
from tollway.economics.simulate_request import SimulationError, parse_request
from tollway.governance.spend_event import SpendEvent
from tollway.pricing import price_for
from tollway.router.config import parse_model_list
from tollway.storage.database import Database
from tollway.storage.margin_queries import margin_of
from tollway.storage.migrate import upgrade
from tollway.storage.simulate_queries import simulate_of, usage_groups
from tollway.storage.spend_store import SpendStore

DEPLOYMENTS = parse_model_list(MODEL_LIST, {})


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[Database]:
    """A migrated database holding the dataset."""
    database = Database(database_url)
    try:
        await upgrade(database)
        await seed(database)
        yield database
    finally:
        await database.aclose()


async def simulate(database: Database, **fields: Any) -> dict[str, Any]:
    report = await simulate_of(database, PERIOD | fields, deployments=DEPLOYMENTS)
    answer: dict[str, Any] = report.to_api()
    return answer


async def test_the_hand_computed_simulations(seeded: Database) -> None:
    assert await simulate(seeded, replace={"smart": "cheap"}) == SWAP_CHEAP
    chat = await simulate(seeded, replace={"smart": "claude", "claude": "cheap"}, features=["chat"])
    assert {name: chat[name] for name in SWAP_CHAT} == SWAP_CHAT
    # The substitutions' savings add up to the total.
    assert sum(Decimal(item["savings"]) for item in chat["substitutions"]) == Decimal(chat["savings"])
    # The baseline is the margin report's cost, customer by customer, and so is the margin before the swap.
    margin = await margin_of(seeded, day("start"), day("end"))
    assert {row["customer_id"]: row["cost"] for row in margin.rows} == BASELINE
    assert {row["customer_id"]: row["baseline_cost"] for row in chat["customers"]} == BASELINE
    margins = {row["customer_id"]: row["margin"] for row in margin.rows}
    assert {row["customer_id"]: row["margin_before"] for row in chat["customers"]} == margins


async def test_a_long_call_is_priced_at_its_tier_and_the_short_one_beside_it_is_not(seeded: Database) -> None:
    # acme's chat calls as Claude Sonnet 4.5 from the price data (tiered above 200k input tokens), ratio 1.2: e11
    # (180000 -> 216000 tokens) crosses the tier, e1 (1000 -> 1200) does not, though their sum would.
    price = price_for("anthropic", "claude-sonnet-4-5", at=noon(day("end")))
    assert price is not None
    assert price.tiers
    assert price.tiers[0].start == 200_000
    tier = price.for_input_tokens(200_001)
    assert price.input is not None
    assert price.output is not None
    assert price.cache_read is not None
    assert tier.input is not None
    assert tier.output is not None
    ratio = Decimal("1.2")
    e1 = (800 * price.input + 200 * price.cache_read + 500 * price.output) * ratio
    e11 = (E11_TOKENS[0] * tier.input + E11_TOKENS[1] * tier.output) * ratio
    body = await simulate(
        seeded, replace={"smart": "anthropic/claude-sonnet-4-5"}, customer_ids=["acme"], features=["chat"]
    )
    (item,) = body["substitutions"]
    assert Decimal(item["simulated_cost"]) == e1 + e11
    summed = (800 * tier.input + 200 * (tier.cache_read or price.cache_read) + 500 * tier.output) * ratio + e11
    assert Decimal(item["simulated_cost"]) != summed
    # A provider model needs no configuration, as a target or as a source.
    report = await simulate_of(seeded, PERIOD | {"replace": {"openai/gpt-4o": "gpt-4o-mini"}})
    (only,) = report.substitutions
    assert (only["priced_as"], only["requests"]) == ("openai/gpt-4o-mini", 6)


def day(name: str) -> Any:
    return datetime.fromisoformat(PERIOD[name]).date()


async def test_scopes_sources_and_unknown_models(seeded: Database) -> None:
    beta = await simulate(seeded, replace={"smart": "cheap"}, customer_ids=["beta"])
    assert [row["customer_id"] for row in beta["customers"]] == ["beta"]
    assert (beta["baseline_cost"], beta["simulated_cost"], beta["revenue"], beta["requests"]) == (
        "0.0784",
        "0.0144",
        "10",
        3,
    )
    assert beta["other_currencies"] == []  # gamma's euros are not beta's
    # Only e1 and e11 carry the tag "web": 2.0614 - (0.025 - 0.0019) - (1.9 - 0.182)
    web = await simulate(seeded, replace={"smart": "cheap"}, tags=["web", "absent"])
    assert (web["simulated_cost"], web["substituted_requests"]) == ("0.3203", 2)
    # e10's model group is not configured and its model has no price: its calls still name it, by group, provider
    # model or model. As cheap (llama 1.10 -> o200k 1.00: 0.9091): (100 x 1e-6 + 50 x 2e-6) x 0.9091; its own
    # recorded cost is unknown, so it is shown apart and saves nothing.
    for source in ("legacy", "ollama/llama3", "llama3"):
        body = await simulate(seeded, replace={source: "cheap"})
        (item,) = body["substitutions"]
        tokenizer = [{"model": "ollama/llama3", "family": "meta-llama-3", "ratio": "0.9091", "requests": 1}]
        assert item["tokenizer"] == tokenizer, source
        assert item["simulated_cost_of_baseline_unpriced"] == "0.00018182"
        assert (item["unpriced_requests"], body["savings"]) == ({"baseline": 1, "simulated": 0}, "0")
    for replace, param, code in (
        ({"nothing-like-this": "cheap"}, "replace", "unknown_model"),
        ({"smart": "nothing-like-this"}, "replace.smart", "unknown_model"),
        ({"smart": "local"}, "replace.smart", "model_not_priced"),
        ({"smart": "ollama/llama3"}, "replace.smart", "model_not_priced"),
    ):
        with pytest.raises(SimulationError) as raised:
            await simulate(seeded, replace=replace)
        assert (raised.value.param, raised.value.code) == (param, code), replace
        named = next(iter(replace)) if param == "replace" else next(iter(replace.values()))
        assert repr(named) in raised.value.message


async def test_money_is_summed_exactly_and_rows_come_back_grouped(database_url: str) -> None:
    # Amounts with all 12 places, whole parts, a negative amount: summed in SQL by parts on SQLite, as NUMERIC on
    # PostgreSQL; both exactly. Then 600 calls of 3 customers come back as a handful of groups.
    amounts = ["0.000000000001", "123.456789012345", "7", "-0.5", "0.999999999999", "1e3"]
    exact = [
        SpendEvent(
            ts=datetime(2025, 7, 1, 1, index, tzinfo=UTC),
            request_id=f"m{index}",
            customer_id="acme",
            model_group="other",
            cost=Decimal(amount),
        )
        for index, amount in enumerate(amounts)
    ]
    many = [
        SpendEvent(
            ts=datetime(2025, 6, 1 + index % 2, 10, index % 60, tzinfo=UTC),
            request_id=f"r{index}",
            customer_id=f"c{index % 3}",
            model_group="smart" if index % 4 else "other",
            provider="openai",
            model="gpt-4o",
            input_tokens=100 + index,
            output_tokens=10,
            cost=Decimal("0.001"),
        )
        for index in range(600)
    ]
    database = Database(database_url)
    try:
        await upgrade(database)
        await SpendStore(database).write_batch(exact + many)
        report = await simulate_of(
            database, {"start": "2025-07-01", "end": "2025-07-01", "replace": {"gpt-4o": "gpt-4o-mini"}}
        )
        plan = make_plan(parse_request(PERIOD | {"replace": {"smart": "cheap"}}), ModelDirectory(DEPLOYMENTS))
        async with database.read() as connection:
            groups = await usage_groups(connection, plan, sqlite=database.is_sqlite)
    finally:
        await database.aclose()
    # 0.000000000001 + 123.456789012345 + 7 - 0.5 + 0.999999999999 + 1000
    assert report.totals["baseline_cost"] == "1130.956789012345"
    assert sum(group.requests for group in groups) == 600
    assert sum(group.cost for group in groups) == Decimal("0.6")
    # customers x (substituted or not); one price period, no tier: not one line per row
    assert len(groups) <= 3 * 2
