"""FallbackPlan: which groups follow a failure, validation at build, and the pre-call context-window check."""

from __future__ import annotations

import pytest

from tollway.errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
)
from tollway.router.config import parse_router_settings
from tollway.router.fallbacks import FallbackPlan

GROUPS = ["a", "b", "c", "d", "e", "f", "g", "big", "bigger", "safe", "openai/*"]


def plan(**settings: object) -> FallbackPlan:
    return FallbackPlan.build(parse_router_settings(**settings), GROUPS)


def test_generic_fallbacks_for_any_error() -> None:
    p = plan(fallbacks=[{"a": ["b", "c"]}])
    assert p.next_groups("a", InternalServerError("500")) == ["b", "c"]
    assert p.next_groups("a", AuthenticationError("401")) == ["b", "c"]
    assert p.next_groups("b", InternalServerError("500")) == []


def test_wildcard_then_default_fallbacks() -> None:
    p = plan(fallbacks=[{"a": ["b"]}, {"*": ["c", "d"]}], default_fallbacks=["e"])
    assert p.next_groups("a", InternalServerError("x")) == ["b"]
    assert p.next_groups("f", InternalServerError("x")) == ["c", "d"]
    assert p.next_groups("c", InternalServerError("x")) == ["d"]  # never itself
    q = plan(default_fallbacks=["e"])
    assert q.next_groups("f", InternalServerError("x")) == ["e"]
    assert q.next_groups("e", InternalServerError("x")) == []


def test_context_window_and_content_policy_lists_first_else_generic() -> None:
    p = plan(
        fallbacks=[{"a": ["b"]}],
        context_window_fallbacks=[{"a": ["big"]}],
        content_policy_fallbacks=[{"a": ["safe"]}],
    )
    assert p.next_groups("a", ContextWindowExceededError("long")) == ["big"]
    assert p.next_groups("a", ContentPolicyViolationError("refused")) == ["safe"]
    assert p.next_groups("a", InternalServerError("500")) == ["b"]
    only_generic = plan(fallbacks=[{"a": ["b"]}])
    assert only_generic.next_groups("a", ContextWindowExceededError("long")) == ["b"]
    assert only_generic.next_groups("a", ContentPolicyViolationError("refused")) == ["b"]


def test_budget_errors_have_no_fallback() -> None:
    assert plan(fallbacks=[{"a": ["b"]}]).next_groups("a", BudgetExceededError("spent")) == []


def test_max_fallbacks_caps_and_exclude_skips_tried_groups() -> None:
    p = plan(fallbacks=[{"a": ["b", "c", "d", "e", "f", "g"]}], max_fallbacks=3)
    assert p.next_groups("a", InternalServerError("x")) == ["b", "c", "d"]
    assert p.next_groups("a", InternalServerError("x"), exclude={"b", "d"}) == ["c", "e", "f"]
    assert plan(fallbacks=[{"a": list("bcdefg")}]).next_groups("a", InternalServerError("x")) == list("bcdef")


def test_wildcard_groups_make_concrete_names_known() -> None:
    assert plan(fallbacks=[{"a": ["openai/gpt-4o"]}]).next_groups("a", InternalServerError("x")) == ["openai/gpt-4o"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fallbacks": [{"a": ["gpt-5"]}]}, "fallbacks['a']: unknown model group 'gpt-5'"),
        ({"fallbacks": [{"nope": ["a"]}]}, "fallbacks['nope']: unknown model group 'nope'"),
        ({"context_window_fallbacks": [{"a": ["huge"]}]}, "context_window_fallbacks['a']: unknown model group 'huge'"),
        ({"content_policy_fallbacks": [{"*": ["x"]}]}, "content_policy_fallbacks['*']: unknown model group 'x'"),
        ({"default_fallbacks": ["zz"]}, "default_fallbacks: unknown model group 'zz'"),
        ({"fallbacks": [{"a": ["a"]}]}, "fallbacks: fallback cycle a -> a"),
        ({"fallbacks": [{"a": ["b"]}, {"b": ["c"]}, {"c": ["a"]}]}, "fallbacks: fallback cycle a -> b -> c -> a"),
        ({"context_window_fallbacks": [{"a": ["big"]}, {"big": ["a"]}]}, "context_window_fallbacks: fallback cycle"),
    ],
)
def test_bad_fallbacks_fail_at_build(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        plan(**settings)
    assert message in str(info.value)


def test_no_cycle_across_lists_or_through_wildcards() -> None:
    # A bigger model whose generic fallback is the original is sensible; the router never retries a group.
    p = plan(
        context_window_fallbacks=[{"a": ["big"]}], fallbacks=[{"big": ["a"]}, {"*": ["a"]}], default_fallbacks=["a"]
    )
    assert p.next_groups("big", InternalServerError("x")) == ["a"]
    assert plan(fallbacks=[{"a": ["b", "c"]}, {"b": ["c"]}]).next_groups("b", InternalServerError("x")) == ["c"]


def test_context_window_candidates_for_the_pre_call_check() -> None:
    p = plan(context_window_fallbacks=[{"a": ["b", "big"]}, {"big": ["bigger"]}, {"b": ["big"]}])
    windows = {"a": 8_000, "b": 16_000, "big": 128_000, "bigger": 1_000_000}
    assert p.context_window_candidates("a", 5_000, windows.get) == ["a"]
    assert p.context_window_candidates("a", 10_000, windows.get) == ["b", "big"]
    assert p.context_window_candidates("a", 500_000, windows.get) == ["bigger"]
    assert p.context_window_candidates("a", 5_000_000, windows.get) == []
    assert p.context_window_candidates("c", 5_000_000, windows.get) == ["c"]  # unknown window: let the provider say
    unknown_fallback = plan(context_window_fallbacks=[{"a": ["safe"]}])
    assert unknown_fallback.context_window_candidates("a", 10_000, windows.get) == ["safe"]
