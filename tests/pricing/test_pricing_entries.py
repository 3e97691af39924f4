"""Model entries: genai-prices' prices as plain data, the same as ``ModelInfo.get_prices`` for every model, time and
context; their JSON form; the lookup in a child process (``TOLLWAY_PRICE_LOOKUP=subprocess``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tollway.pricing import prices as prices_module
from tollway.pricing.entries import Constraint, ModelEntry, from_model_info

# Dated changes and both sides of DeepSeek's off-peak window (16:30-00:30 UTC), aware and naive (naive is UTC).
TIMES = [
    datetime(2023, 1, 1, tzinfo=UTC),
    datetime(2025, 6, 1, 12, tzinfo=UTC),
    datetime(2025, 6, 10, 0, 15, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 3, 2, 16, 29, 59, tzinfo=UTC),
    datetime(2026, 3, 2, 16, 30, tzinfo=UTC),
    datetime(2026, 3, 3, 0, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 3, 0),
    datetime(2030, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.fixture(autouse=True)
def bundled_price_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Price from genai-prices' bundled data even where `tollway prices update` has written a cache file."""
    monkeypatch.setenv("TOLLWAY_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(prices_module.LOOKUP_ENV, raising=False)
    prices_module.clear_caches()
    yield
    prices_module.clear_caches()


def _price_of(entry: ModelEntry, at: datetime, context: dict[str, str]) -> Any:
    period = prices_module._period(entry, at) if entry.conditional else 0
    variants = prices_module._active_variants(entry, at, context) if context else ()
    return prices_module._converted(entry, period, variants)


def test_entries_price_as_genai_prices_for_every_model_time_and_context() -> None:
    from genai_prices.data_snapshot import get_snapshot

    providers = get_snapshot().providers
    contexts = [{}] + [dict(variant.when) for p in providers for m in p.models for variant in (m.price_variants or ())]
    unique = [dict(c) for c in {tuple(sorted(c.items())) for c in contexts}]
    compared = 0
    for provider in providers:
        for info in provider.models:
            entry = from_model_info(provider.id, info, "x", own=True)
            again = ModelEntry.from_json(orjson.loads(orjson.dumps(entry.to_json())))
            for at in TIMES:
                for context in unique:
                    theirs = vars(info.get_prices(at, context or None))
                    expected = prices_module.to_price(theirs, source="x", provider_id=provider.id, model_id=info.id)
                    assert _price_of(entry, at, context) == expected, (provider.id, info.id, at, context)
                    assert _price_of(again, at, context) == expected, (provider.id, info.id, at, context)
                    compared += 1
    assert compared > 10_000


def test_time_window_constraint_in_utc() -> None:
    night = Constraint(start_time=time(16, 30, tzinfo=UTC), end_time=time(0, 30, tzinfo=UTC))
    assert night.active(datetime(2026, 1, 1, 16, 30, tzinfo=UTC))
    assert night.active(datetime(2026, 1, 1, 0, 29))  # naive: UTC
    assert not night.active(datetime(2026, 1, 1, 0, 30, tzinfo=UTC))  # the end is exclusive
    assert not night.active(datetime(2026, 1, 1, 18, 0, tzinfo=timezone(timedelta(hours=3))))  # 15:00 UTC


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o-mini"), ("deepseek", "deepseek-chat")])
def test_lookup_in_a_child_process_is_the_lookup_here(
    provider: str, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = prices_module.find_entry(provider, model)
    assert here is not None
    monkeypatch.setenv(prices_module.LOOKUP_ENV, "subprocess")
    found = prices_module.lookup_in_child([(provider, model), ("openai", "no-such-model-xyz")])
    assert found is not None
    child, missing = found
    assert missing is None
    assert child is not None
    assert child.to_json() == here.to_json()
    assert prices_module.lookup(provider, model) == here


def test_child_lookups_are_bounded_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setenv(prices_module.LOOKUP_ENV, "subprocess")
    monkeypatch.setattr(prices_module, "CHILD_LOOKUPS", 2)
    monkeypatch.setattr(prices_module, "lookup_in_child", calls.append)  # returns None: a failed child
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3"):
        assert prices_module.lookup("openai", model) is not None
    assert len(calls) == 2  # then in this process


def test_a_failed_child_is_reported_and_the_lookup_done_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(prices_module.LOOKUP_ENV, "subprocess")
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    price = prices_module.resolve_price("openai", "gpt-4o-mini")
    assert price is not None
    assert price.input == Decimal("0.15") / 1_000_000
    assert "price lookup in a child process failed" in capsys.readouterr().err


def test_prefetch_looks_models_up_in_one_child_ahead_of_their_first_use(
    monkeypatch: pytest.MonkeyPatch, price_children: list[list[tuple[str, str]]]
) -> None:
    children = price_children
    models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"), ("openai", "no-such-model-xyz")]
    assert prices_module.prefetch(models) == 0  # lookups in this process (the default): nothing to do ahead
    assert children == []
    monkeypatch.setenv(prices_module.LOOKUP_ENV, "subprocess")
    assert prices_module.prefetch([*models, models[0], ("mock", "demo")]) == 3  # once each; mock has no data
    assert children == [models]
    for provider, model in models:
        found = prices_module.lookup(provider, model)
        here = prices_module.find_entry(provider, model)
        assert (found is None, found and found.to_json()) == (here is None, here and here.to_json())
    assert len(children) == 1  # the first requests found them: no child of their own
    prices_module.clear_caches()
    assert prices_module._prefetched().answers == {}


def test_prefetch_keeps_to_the_child_lookups_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(prices_module.LOOKUP_ENV, "subprocess")
    monkeypatch.setattr(prices_module, "CHILD_LOOKUPS", 2)
    asked: list[list[tuple[str, str]]] = []
    monkeypatch.setattr(prices_module, "lookup_in_child", lambda models: asked.append(list(models)))  # fails
    assert prices_module.lookup("openai", "gpt-4o") is not None  # one child (failed: looked up here)
    assert prices_module.prefetch([("openai", "gpt-4o-mini"), ("openai", "o3")]) == 0  # the failed child
    assert asked == [[("openai", "gpt-4o")], [("openai", "gpt-4o-mini")]]  # one left of the two
    assert prices_module.lookup("openai", "gpt-4o-mini") is not None  # looked up here after the failed child
    assert prices_module._prefetched().pending == set()


def test_a_lookup_during_a_prefetch_waits_for_its_child(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setenv(prices_module.LOOKUP_ENV, "subprocess")
    started, release = threading.Event(), threading.Event()
    children: list[list[tuple[str, str]]] = []
    real = prices_module.lookup_in_child

    def slow(models: list[tuple[str, str]]) -> list[ModelEntry | None] | None:
        children.append(list(models))
        started.set()
        release.wait(10)
        return real(models)

    monkeypatch.setattr(prices_module, "lookup_in_child", slow)
    worker = threading.Thread(target=prices_module.prefetch, args=([("openai", "gpt-4o-mini")],))
    worker.start()
    assert started.wait(10)
    threading.Timer(0.2, release.set).start()
    entry = prices_module.lookup("openai", "gpt-4o-mini")  # while the child runs: waits for its answer
    worker.join(10)
    here = prices_module.find_entry("openai", "gpt-4o-mini")
    assert entry is not None
    assert here is not None
    assert entry.to_json() == here.to_json()
    assert children == [[("openai", "gpt-4o-mini")]]  # one child, not one more for the lookup
