"""Records and keys (pure): key generation and hashing, LiteLLM-shaped to_api, limits validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tollway.governance.keys import generate_key, hash_key, is_token_hash, key_name, token_hash_of
from tollway.governance.records import (
    CustomerRecord,
    InvalidFieldError,
    KeyRecord,
    Limits,
    ModelBudget,
    TeamMember,
    TeamRecord,
    UserRecord,
    json_object,
    limits_changes,
    limits_from_api,
    money_str,
    str_list,
    str_map,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_keys_are_random_hashed_and_named() -> None:
    key = generate_key()
    assert key.startswith("sk-")
    assert len(key) == 46
    assert generate_key() != key
    assert hash_key(key) == hash_key(key)
    assert is_token_hash(hash_key(key))
    assert key_name(key) == f"sk-...{key[-4:]}"
    assert token_hash_of(key) == hash_key(key) == token_hash_of(hash_key(key))
    assert not is_token_hash(key)


def test_limits_from_api_converts_every_field() -> None:
    limits = limits_from_api(
        {
            "max_budget": 0.1,
            "soft_budget": "0.000000075",
            "budget_duration": " 30d ",
            "rpm_limit": 20,
            "tpm_limit": 1000.0,
            "max_parallel_requests": 0,
            "model_max_budget": {"gpt-4o": {"budget_limit": 5, "time_period": "1mo"}, "o3": {"budget_limit": "1"}},
            "model_rpm_limit": {"gpt-4o": 3},
            "model_tpm_limit": None,
            "unrelated": "ignored",
        }
    )
    assert limits == Limits(
        max_budget=Decimal("0.1"),
        soft_budget=Decimal("0.000000075"),
        budget_duration="30d",
        rpm_limit=20,
        tpm_limit=1000,
        max_parallel_requests=0,
        model_max_budget={"gpt-4o": ModelBudget(Decimal("5"), "1mo"), "o3": ModelBudget(Decimal("1"))},
        model_rpm_limit={"gpt-4o": 3},
    )
    assert limits_from_api({}) == Limits()
    assert limits_changes({"max_budget": None, "rpm_limit": 5}) == {"max_budget": None, "rpm_limit": 5}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"max_budget": -1}, "max_budget"),
        ({"max_budget": "ten"}, "max_budget"),
        ({"max_budget": True}, "max_budget"),
        ({"soft_budget": float("nan")}, "soft_budget"),
        ({"soft_budget": "Infinity"}, "soft_budget"),
        ({"max_budget": "0.0000000000001"}, "max_budget"),  # 13 places: NUMERIC(28, 12) would round it
        ({"max_budget": "1e20"}, "max_budget"),
        ({"budget_duration": "1y"}, "budget_duration"),
        ({"budget_duration": "0d"}, "budget_duration"),
        ({"budget_duration": 30}, "budget_duration"),
        ({"rpm_limit": -1}, "rpm_limit"),
        ({"tpm_limit": 1.5}, "tpm_limit"),
        ({"max_parallel_requests": "3"}, "max_parallel_requests"),
        ({"model_rpm_limit": {"gpt-4o": -2}}, "model_rpm_limit.gpt-4o"),
        ({"model_tpm_limit": ["gpt-4o"]}, "model_tpm_limit"),
        ({"model_max_budget": {"gpt-4o": 5}}, "model_max_budget.gpt-4o"),
        ({"model_max_budget": {"gpt-4o": {"budget_limit": -5}}}, "model_max_budget.gpt-4o.budget_limit"),
        (
            {"model_max_budget": {"gpt-4o": {"budget_limit": 5, "time_period": "1x"}}},
            "model_max_budget.gpt-4o.time_period",
        ),
        ({"model_max_budget": {"gpt-4o": {"budget_limit": 5, "max": 1}}}, "model_max_budget.gpt-4o"),
    ],
)
def test_limits_from_api_names_the_bad_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        limits_from_api(payload)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert isinstance(caught.value, ValueError)


def test_payload_helpers() -> None:
    assert str_list(["a", "b"], "models") == ("a", "b")
    assert str_list(None, "models") == ()
    assert str_map({"a": "b"}, "aliases") == {"a": "b"}
    assert json_object({"x": [1]}, "metadata") == {"x": [1]}
    for helper, bad in ((str_list, ["a", 1]), (str_list, "a"), (str_map, {"a": 1}), (json_object, [1])):
        with pytest.raises(InvalidFieldError, match=r"^f: "):
            helper(bad, "f")


def test_money_str_is_plain_and_exact() -> None:
    assert money_str(Decimal("10.000000000000")) == "10"
    assert money_str(Decimal("1E+2")) == "100"
    assert money_str(Decimal("0.000000075000")) == "0.000000075"
    assert money_str(Decimal("0E-12")) == "0"
    assert money_str(None) is None


def test_to_api_is_litellm_shaped_and_json_ready() -> None:
    limits = Limits(max_budget=Decimal("12.500000000000"), model_max_budget={"o3": ModelBudget(Decimal("1"), "1d")})
    key = KeyRecord(
        token_hash="ab" * 32, key_name="sk-...abcd", models=("o3",), expires=T0, limits=limits, created_at=T0
    )
    info = key.to_api()
    json.dumps(info)  # no Decimal, datetime or tuple left
    assert info["token"] == "ab" * 32
    assert info["key_name"] == "sk-...abcd"
    assert info["max_budget"] == "12.5"
    assert info["model_max_budget"] == {"o3": {"budget_limit": "1", "time_period": "1d"}}
    assert info["expires"] == "2026-01-01T00:00:00+00:00"
    assert info["models"] == ["o3"]
    team = TeamRecord(team_id="t", members=(TeamMember("ann", "admin"),)).to_api()
    assert team["members_with_roles"] == [{"user_id": "ann", "role": "admin"}]
    customer = CustomerRecord(customer_id="acme", limits=Limits(rpm_limit=5)).to_api()
    assert customer["user_id"] == customer["customer_id"] == "acme"
    assert customer["litellm_budget_table"]["rpm_limit"] == customer["rpm_limit"] == 5
    user = UserRecord(user_id="u").to_api()
    for shape in (team, customer, user):
        json.dumps(shape)
    assert key.expired(T0)
    assert not key.expired(datetime(2025, 12, 31, tzinfo=UTC))
