"""With prices looked up in child processes (``tollway serve``'s default), the gateway looks every configured
deployment's price up in one child while it starts, so no request of theirs waits for a child of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tollway.pricing import price_for
from tollway.pricing import prices as prices_module
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

MODELS = (
    {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "k"}},
    {"model_name": "fast", "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_key": "k"}},
    # Priced as its base model: that is the model looked up.
    {"model_name": "mine", "litellm_params": {"model": "openai/my-ft", "api_key": "k", "base_model": "gpt-4o"}},
    {"model_name": "demo", "litellm_params": {"model": "mock/demo"}},
)


@pytest.fixture(autouse=True)
def fresh_prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TOLLWAY_CACHE_DIR", str(tmp_path))
    prices_module.clear_caches()
    yield
    prices_module.clear_caches()


@pytest.mark.parametrize("lookup", ["subprocess", None])
async def test_configured_models_are_priced_in_one_child_at_start(
    lookup: str | None, monkeypatch: pytest.MonkeyPatch, price_children: list[list[tuple[str, str]]]
) -> None:
    if lookup is None:
        monkeypatch.delenv(prices_module.LOOKUP_ENV, raising=False)
    else:
        monkeypatch.setenv(prices_module.LOOKUP_ENV, lookup)
    children = price_children
    app = create_app(GatewayConfig(model_list=MODELS, master_key="sk-test-master-key-0123456789"), environ={})
    async with app.router.lifespan_context(app):
        pass  # the lifespan's end waits for the prefetch
    if lookup is None:
        assert children == []  # lookups in the process: nothing to do ahead
        return
    assert len(children) == 1
    assert sorted(children[0]) == [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o"), ("openai", "gpt-4o-mini")]
    for provider, model in children[0]:
        assert price_for(provider, model) is not None
    assert len(children) == 1  # the first requests' prices were there: no child of their own
