"""Model strings to provider specs."""

import pytest

import tollway
from tollway.registry import PROVIDERS, load_adapter, resolve_model


@pytest.mark.parametrize(
    ("model", "provider", "upstream"),
    [
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
        ("mock/anything/with/slashes", "mock", "anything/with/slashes"),
        ("ft:gpt-4o-mini:org:custom:id", "openai", "ft:gpt-4o-mini:org:custom:id"),
    ],
)
def test_resolve(model: str, provider: str, upstream: str) -> None:
    spec, name = resolve_model(model)
    assert (spec.name, name) == (provider, upstream)


def test_forced_provider_keeps_whole_name() -> None:
    spec, name = resolve_model("my/fine-tune", "openai")
    assert (spec.name, name) == ("openai", "my/fine-tune")


def test_unknown_prefix_suggests_close_names() -> None:
    with pytest.raises(tollway.UnknownProviderError, match="Did you mean 'anthropic/'") as info:
        resolve_model("antropic/claude-3")
    assert info.value.status_code == 400
    assert info.value.param == "model"


def test_provider_list_and_adapters_load() -> None:
    names = tollway.provider_list
    assert names == sorted(names)
    assert {"openai", "anthropic", "mock"} <= set(names)
    for spec in PROVIDERS.values():
        adapter = load_adapter(spec.adapter)
        assert hasattr(adapter, "build_chat_request")
