"""parse_model_list and parse_router_settings: LiteLLM's shapes in, validated values out, exact error paths."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from tollway.errors import ConfigurationError
from tollway.router.config import CacheSettings, RouterSettings, parse_model_list, parse_router_settings


def entry(name: str = "gpt-4o", model: str = "openai/gpt-4o", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, **params}}


def test_entry_fields_are_lifted_and_the_rest_kept_as_call_params() -> None:
    raw = entry(
        api_key="os.environ/OPENAI_KEY",
        api_base="http://127.0.0.1:9/v1",
        rpm=600,
        tpm="90000",
        weight=2.5,
        order=1,
        tags=["paid", "eu"],
        region_name="eu-west-1",
        timeout=30,
        stream_timeout=5,
        max_parallel_requests=8,
    )
    raw["model_info"] = {"id": "azure-eu", "max_input_tokens": 128000}
    (dep,) = parse_model_list([raw], {"OPENAI_KEY": "sk-test"})
    assert dep.id == "azure-eu"
    assert dep.model_name == "gpt-4o"
    assert dep.model == "openai/gpt-4o"
    assert dict(dep.call_params) == {"api_key": "sk-test", "api_base": "http://127.0.0.1:9/v1"}
    assert (dep.rpm, dep.tpm, dep.weight, dep.order, dep.max_parallel_requests) == (600, 90000, 2.5, 1, 8)
    assert dep.tags == frozenset({"paid", "eu"})
    assert dep.region == "eu-west-1"
    assert (dep.timeout, dep.stream_timeout) == (30.0, 5.0)
    assert dep.model_info["max_input_tokens"] == 128000


def test_env_references_resolve_in_nested_values_and_model_info() -> None:
    raw = entry(extra_headers={"X-Key": "os.environ/HDR"}, stop=["os.environ/STOP"])
    raw["model_info"] = {"note": "os.environ/NOTE"}
    (dep,) = parse_model_list([raw], {"HDR": "h", "STOP": "s", "NOTE": "n"})
    assert dep.call_params["extra_headers"] == {"X-Key": "h"}
    assert dep.call_params["stop"] == ["s"]
    assert dep.model_info["note"] == "n"


def test_a_missing_env_variable_names_the_entry_path_and_variable() -> None:
    model_list = [entry("a"), entry("b"), entry("c", api_key="os.environ/OPENAI_KEY")]
    with pytest.raises(ConfigurationError) as info:
        parse_model_list(model_list, {})
    assert str(info.value) == "model_list[2].litellm_params.api_key: os.environ/OPENAI_KEY is not set"


def test_generated_ids_are_stable_distinct_and_ignore_resolved_secrets() -> None:
    model_list = [entry(api_key="os.environ/K"), entry(api_base="http://127.0.0.1:1")]
    first = parse_model_list(model_list, {"K": "one"})
    again = parse_model_list(model_list, {"K": "rotated"})
    assert [d.id for d in first] == [d.id for d in again]
    assert first[0].id != first[1].id
    assert len(first[0].id) == 16
    assert first[0].model_info["id"] == first[0].id


def test_wildcard_model_names_are_allowed() -> None:
    deps = parse_model_list([entry("openai/*", "openai/*"), entry("*", "*")], {})
    assert [d.model_name for d in deps] == ["openai/*", "*"]


def test_custom_llm_provider_is_used_to_resolve_the_model() -> None:
    (dep,) = parse_model_list([entry(model="my-model", custom_llm_provider="anthropic")], {})
    assert dep.call_params["custom_llm_provider"] == "anthropic"


@pytest.mark.parametrize(
    ("model_list", "message"),
    [
        ([], "model_list: expected a non-empty list"),
        ({"model_name": "x"}, "model_list: expected a non-empty list"),
        (None, "model_list: expected a non-empty list"),
        ([entry(), "gpt-4o"], "model_list[1]: expected an object"),
        ([{"litellm_params": {"model": "gpt-4o"}}], "model_list[0].model_name: expected a non-empty string"),
        ([{"model_name": "a"}], "model_list[0].litellm_params: expected an object"),
        ([{"model_name": "a", "litellm_params": {"api_key": "k"}}], "model_list[0].litellm_params.model: expected"),
        ([entry(), entry(rpm="lots")], "model_list[1].litellm_params.rpm: expected a number"),
        ([entry(tpm=True)], "model_list[0].litellm_params.tpm: expected a number"),
        ([entry(weight=-1)], "model_list[0].litellm_params.weight: expected a finite number >= 0"),
        ([entry(rpm=1.5)], "model_list[0].litellm_params.rpm: expected a whole number"),
        ([entry(tags="paid")], "model_list[0].litellm_params.tags: expected a list of strings"),
        ([entry(), entry(model="nosuchvendor/m")], "model_list[1].litellm_params.model: unknown provider"),
        ([{**entry(), "model_info": ["x"]}], "model_list[0].model_info: expected an object"),
    ],
)
def test_malformed_entries_name_the_exact_entry(model_list: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_model_list(model_list, {})
    assert str(info.value).startswith(message), str(info.value)


def test_duplicate_ids_name_both_entries() -> None:
    a = {**entry(), "model_info": {"id": "same"}}
    b = {**entry(api_base="http://127.0.0.1:2"), "model_info": {"id": "same"}}
    with pytest.raises(
        ConfigurationError, match=r"model_list\[2\]: duplicate deployment id 'same' \(also model_list\[0\]\)"
    ):
        parse_model_list([a, entry(api_base="http://127.0.0.1:3"), b], {})


def test_identical_entries_without_ids_are_duplicates() -> None:
    with pytest.raises(ConfigurationError, match=r"model_list\[1\]: duplicate deployment id"):
        parse_model_list([entry(), entry()], {})


def test_settings_defaults_are_litellms() -> None:
    settings = parse_router_settings()
    assert settings == RouterSettings()
    assert settings.routing_strategy == "simple-shuffle"
    assert settings.num_retries == 2
    assert settings.allowed_fails == 3
    assert settings.cooldown_time == 5.0
    assert settings.max_fallbacks == 5
    assert settings.cache_params == CacheSettings()
    assert settings.ignored == ()


def test_settings_are_parsed() -> None:
    settings = parse_router_settings(
        routing_strategy="latency-based-routing",
        routing_strategy_args={"lowest_latency_buffer": 0.5, "ttl": 60},
        num_retries=4,
        retry_policy={"RateLimitErrorRetries": 7},
        allowed_fails=1,
        allowed_fails_policy={"TimeoutErrorAllowedFails": 9},
        cooldown_time=30,
        disable_cooldowns=True,
        fallbacks=[{"a": ["b", "c"]}, {"b": "c"}],
        context_window_fallbacks=[{"a": ["big"]}],
        content_policy_fallbacks=[{"a": ["safe"]}],
        default_fallbacks=["c"],
        max_fallbacks=2,
        timeout=60,
        stream_timeout=10,
        enable_tag_filtering=True,
        tag_filtering_match_any=True,
        enable_pre_call_checks=True,
        redis_url="redis://127.0.0.1:6379/0",
        redis_host="127.0.0.1",
        redis_port="6379",
        redis_password="pw",
        cache=True,
        cache_params={"type": "redis", "ttl": 120, "namespace": "ns", "max_items": 10},
    )
    assert settings.routing_strategy_args == {"lowest_latency_buffer": 0.5, "ttl": 60.0}
    assert settings.retry_policy.num_retries == 4
    assert settings.retry_policy.per_class == {"RateLimitErrorRetries": 7}
    assert settings.cooldown.allowed_fails == 1
    assert settings.cooldown.allowed_fails_policy == {"TimeoutErrorAllowedFails": 9}
    assert settings.cooldown.cooldown_time == 30.0
    assert settings.cooldown.disable is True
    assert dict(settings.fallbacks) == {"a": ("b", "c"), "b": ("c",)}
    assert dict(settings.context_window_fallbacks) == {"a": ("big",)}
    assert dict(settings.content_policy_fallbacks) == {"a": ("safe",)}
    assert settings.default_fallbacks == ("c",)
    assert (settings.max_fallbacks, settings.timeout, settings.stream_timeout) == (2, 60.0, 10.0)
    assert settings.enable_tag_filtering
    assert settings.tag_filtering_match_any
    assert settings.enable_pre_call_checks
    assert settings.redis_port == 6379
    assert settings.cache is True
    assert settings.cache_params == CacheSettings(
        type="redis",
        ttl=120.0,
        namespace="ns",
        max_items=10,
        redis_url="redis://127.0.0.1:6379/0",
        redis_host="127.0.0.1",
        redis_port=6379,
        redis_password="pw",
    )


def test_cache_responses_is_litellms_name_for_cache() -> None:
    assert parse_router_settings(cache_responses=True).cache is True


def test_unknown_strategy_lists_the_valid_names() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_router_settings(routing_strategy="fastest")
    message = str(info.value)
    assert message.startswith("router_settings.routing_strategy: unknown strategy 'fastest'")
    for name in (
        "simple-shuffle",
        "least-busy",
        "latency-based-routing",
        "usage-based-routing-v2",
        "cost-based-routing",
    ):
        assert name in message


def test_unimplemented_settings_are_kept_and_reported_in_one_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = parse_router_settings(
            model_group_alias={"a": "b"}, client_ttl=10, made_up=1, cache_params={"type": "local", "s3_bucket": "x"}
        )
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "ignored: client_ttl, made_up, model_group_alias, cache_params.s3_bucket" in message
    assert "not LiteLLM router settings either: made_up" in message
    assert settings.ignored == ("client_ttl", "made_up", "model_group_alias", "cache_params.s3_bucket")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_retries": -1}, "router_settings.num_retries"),
        ({"num_retries": "2"}, "router_settings.num_retries"),
        ({"allowed_fails": 1.5}, "router_settings.allowed_fails"),
        ({"cooldown_time": "soon"}, "router_settings.cooldown_time"),
        ({"max_fallbacks": True}, "router_settings.max_fallbacks"),
        ({"timeout": 0}, "router_settings.timeout"),
        ({"disable_cooldowns": "yes"}, "router_settings.disable_cooldowns"),
        ({"retry_policy": {"TeapotErrorRetries": 1}}, "retry_policy.TeapotErrorRetries"),
        ({"retry_policy": {"RateLimitErrorRetries": -2}}, "retry_policy.RateLimitErrorRetries"),
        ({"allowed_fails_policy": {"Nope": 1}}, "allowed_fails_policy.Nope"),
        ({"allowed_fails_policy": [1]}, "router_settings.allowed_fails_policy"),
        ({"fallbacks": "gpt-4o"}, "router_settings.fallbacks"),
        ({"fallbacks": [["a"]]}, "router_settings.fallbacks[0]"),
        ({"fallbacks": [{"a": [1]}]}, "router_settings.fallbacks[0]['a']"),
        ({"fallbacks": [{"a": ["b"]}, {"a": ["c"]}]}, "router_settings.fallbacks[1]: 'a' already has fallbacks"),
        ({"default_fallbacks": [""]}, "router_settings.default_fallbacks"),
        ({"routing_strategy_args": {"lowest_latency_buffer": "x"}}, "routing_strategy_args.lowest_latency_buffer"),
        ({"routing_strategy_args": 3}, "router_settings.routing_strategy_args"),
        ({"cache_params": {"type": "s3"}}, "router_settings.cache_params.type"),
        ({"cache_params": {"ttl": -1}}, "router_settings.cache_params.ttl"),
        ({"redis_port": "http"}, "router_settings.redis_port"),
    ],
)
def test_invalid_settings_name_the_setting(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_router_settings(**settings)
    assert message in str(info.value)


def test_litellm_policy_objects_are_read_through_model_dump() -> None:
    class PolicyLike:
        def model_dump(self, exclude_none: bool) -> dict[str, int]:
            assert exclude_none
            return {"TimeoutErrorRetries": 3}

    assert parse_router_settings(retry_policy=PolicyLike()).retry_policy.per_class == {"TimeoutErrorRetries": 3}


def test_fallback_plan_rejects_unknown_groups_and_cycles_at_build() -> None:
    groups = ["a", "b", "c"]
    with pytest.raises(ConfigurationError, match=r"fallbacks\['a'\]: unknown model group 'gpt-5'"):
        parse_router_settings(fallbacks=[{"a": ["gpt-5"]}]).fallback_plan(groups)
    with pytest.raises(ConfigurationError, match="fallback cycle a -> b -> c -> a"):
        parse_router_settings(fallbacks=[{"a": ["b"]}, {"b": ["c"]}, {"c": ["a"]}]).fallback_plan(groups)
    plan = parse_router_settings(fallbacks=[{"a": ["b"]}], default_fallbacks=["c"]).fallback_plan(groups)
    assert plan.default_fallbacks == ("c",)
