"""``price_children``: the price-lookup child processes a test starts, each recorded with the models it was asked for
(and run for real)."""

from __future__ import annotations

import pytest

from tollway.pricing import prices as prices_module
from tollway.pricing.entries import ModelEntry


@pytest.fixture
def price_children(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[str, str]]]:
    children: list[list[tuple[str, str]]] = []
    real = prices_module.lookup_in_child

    def counted(models: list[tuple[str, str]]) -> list[ModelEntry | None] | None:
        children.append(list(models))
        return real(models)

    monkeypatch.setattr(prices_module, "lookup_in_child", counted)
    return children
