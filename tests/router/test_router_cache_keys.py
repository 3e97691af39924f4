"""Cache keys are stable (same request, same key, whatever the dict order) and sensitive (a change that can change
the answer changes the key); cache controls parse LiteLLM's ``cache={...}`` and reject malformed values clearly."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from pydantic import BaseModel

from tollway.errors import BadRequestError
from tollway.router.cache_keys import IGNORED_FIELDS, SEMANTIC_FIELDS, CacheControl, cache_key, should_cache
from tollway.types import Message

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def base_request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "temperature": 0.2,
        "max_tokens": 100,
    }
    request.update(changes)
    return request


def reordered(value: Any) -> Any:
    """The same JSON with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def test_a_key_is_64_hex_digits_and_a_namespace_prefixes_it() -> None:
    key = cache_key("gpt-4o", base_request())
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert cache_key("gpt-4o", base_request(), namespace="team-a") == f"team-a:{key}"


def test_the_key_format_is_stable_across_versions() -> None:
    # A changed canonical form silently empties every shared cache on upgrade; bump _KEY_VERSION on purpose instead.
    request = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    canonical = (
        b'{"model_group":"gpt-4o","request":{"messages":[{"content":"hi","role":"user"}],"temperature":0.0},"v":1}'
    )
    assert cache_key("gpt-4o", request) == hashlib.sha256(canonical).hexdigest()


def test_dict_order_does_not_change_the_key() -> None:
    assert cache_key("gpt-4o", reordered(base_request())) == cache_key("gpt-4o", base_request())


@pytest.mark.parametrize(
    "changes",
    [
        {"temperature": 0.3},
        {"max_tokens": 101},
        {"messages": [{"role": "user", "content": "Weather in Lyon?"}]},
        {"tools": []},
        {"tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
        {"top_p": 0.5},
        {"seed": 7},
        {"n": 2},
        {"stop": ["\n"]},
        {"reasoning_effort": "high"},
        {"max_completion_tokens": 100},
        {"extra_body": {"top_k": 5}},
        {"safety_settings": [{"category": "HARM", "threshold": "NONE"}]},  # unknown to tollway: hashed
    ],
)
def test_a_field_that_can_change_the_answer_changes_the_key(changes: dict[str, Any]) -> None:
    assert cache_key("gpt-4o", base_request(**changes)) != cache_key("gpt-4o", base_request())


def test_the_model_group_is_part_of_the_key() -> None:
    assert cache_key("gpt-4o", base_request()) != cache_key("gpt-4o-mini", base_request())


@pytest.mark.parametrize(
    "changes",
    [
        {"user": "alice"},
        {"metadata": {"trace": "abc"}},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"timeout": 30, "num_retries": 3},
        {"api_key": "sk-other", "api_base": "https://eu.example"},
        {"cache": {"ttl": 60}},
        {"model": "openai/gpt-4o-2024-08-06"},
        {"litellm_call_id": "123"},
        {"extra_headers": {"x-request-id": "42"}},
        {"seed": None},  # None is the same as absent
    ],
)
def test_fields_that_cannot_change_the_answer_are_ignored(changes: dict[str, Any]) -> None:
    assert cache_key("gpt-4o", base_request(**changes)) == cache_key("gpt-4o", base_request())


def test_equivalent_spellings_share_a_key() -> None:
    assert cache_key("g", base_request(temperature=0)) == cache_key("g", base_request(temperature=0.0))
    assert cache_key("g", base_request(stop="END")) == cache_key("g", base_request(stop=["END"]))
    assert cache_key("g", base_request(logit_bias={50256: -100})) == cache_key(
        "g", base_request(logit_bias={"50256": -100})
    )


def test_semantic_and_ignored_fields_do_not_overlap() -> None:
    assert not SEMANTIC_FIELDS & IGNORED_FIELDS
    assert {"messages", "temperature", "tools", "n", "seed"} <= SEMANTIC_FIELDS
    assert {"stream", "user", "metadata", "api_key", "cache"} <= IGNORED_FIELDS


def test_objects_are_keyed_by_their_json() -> None:
    message = {"role": "assistant", "content": "Sunny."}
    with_object = base_request(messages=[Message(dict(message))])
    assert cache_key("g", with_object) == cache_key("g", base_request(messages=[message]))


def test_a_pydantic_response_format_is_keyed_by_its_schema() -> None:
    class Answer(BaseModel):
        city: str

    class Other(BaseModel):
        city: int

    first = cache_key("g", base_request(response_format=Answer))
    assert first == cache_key("g", base_request(response_format=Answer))
    assert first != cache_key("g", base_request(response_format=Other))
    assert cache_key("g", base_request(response_format=Answer(city="Paris"))) != first


def test_a_value_without_json_form_cannot_be_keyed_or_cached() -> None:
    request = base_request(tools=[object()])
    with pytest.raises(TypeError, match="cannot be cached"):
        cache_key("g", request)
    assert not should_cache(request)


def test_should_cache_follows_litellm_on_sampling_and_refuses_mock_answers() -> None:
    assert should_cache(base_request(temperature=1.5))
    assert should_cache(base_request(n=3))
    assert should_cache(base_request(stream=True))
    assert not should_cache(base_request(mock_response="hello"))


# --- CacheControl -----------------------------------------------------------------------------------------------


def test_cache_control_defaults() -> None:
    values: tuple[object, ...] = (None, True, {})
    for value in values:
        control = CacheControl.parse(value)
        assert control == CacheControl()
        assert control.may_read
        assert control.may_store


def test_cache_control_false_turns_the_cache_off_for_the_request() -> None:
    control = CacheControl.parse(False)
    assert not control.may_read
    assert not control.may_store


def test_cache_control_reads_litellm_keys() -> None:
    control = CacheControl.parse({"no-cache": True, "no-store": False, "ttl": 30, "s-maxage": 0, "namespace": "t1"})
    assert control == CacheControl(no_cache=True, no_store=False, ttl=30.0, s_maxage=0.0, namespace="t1")
    assert not control.may_read
    assert control.may_store
    assert CacheControl.parse({"no_store": True, "s_maxage": 5.5}) == CacheControl(no_store=True, s_maxage=5.5)


def test_s_maxage_accepts_only_young_enough_entries() -> None:
    control = CacheControl.parse({"s-maxage": 10})
    assert control.fresh(stored_at=100.0, now=110.0)
    assert not control.fresh(stored_at=100.0, now=110.5)
    assert CacheControl().fresh(stored_at=0.0, now=1e12)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no-cache", "cache must be an object"),
        (["no-cache"], "cache must be an object"),
        ({"no-cahce": True}, "unknown cache control 'no-cahce'"),
        ({1: True}, "unknown cache control 1"),
        ({"no-cache": "true"}, "'no-cache' must be true or false"),
        ({"no-store": 1}, "'no-store' must be true or false"),
        ({"ttl": "60"}, "'ttl' must be a number of seconds"),
        ({"ttl": True}, "'ttl' must be a number of seconds"),
        ({"ttl": float("inf")}, "'ttl' must be a number of seconds"),
        ({"ttl": 0}, "'ttl' must be more than 0 seconds"),
        ({"s-maxage": -1}, "'s-maxage' must be 0 or more seconds"),
        ({"namespace": ""}, "'namespace' must be a non-empty string"),
        ({"namespace": "a b"}, "'namespace' must be a non-empty string"),
        ({"namespace": 3}, "'namespace' must be a non-empty string"),
        ({"no-cache": True, "no_cache": False}, "'no-cache' given twice"),
    ],
)
def test_malformed_cache_controls_are_bad_requests_naming_the_entry(value: object, message: str) -> None:
    with pytest.raises(BadRequestError, match=re.escape(message)) as caught:
        CacheControl.parse(value)
    assert caught.value.param == "cache"
    assert caught.value.status_code == 400
