"""``/key/*`` over SQLite and PostgreSQL: every route's happy path, the bad inputs, invalidation and live spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from mgmt_support import BODY_LIMIT, Api, api, error_of, governance, spend_event

from tollway.errors import AuthenticationError, PermissionDeniedError
from tollway.governance.keys import hash_key, key_name
from tollway.governance.records import Limits
from tollway.proxy.routes_keys import expiry

__all__ = ["api", "governance"]  # fixtures, imported for pytest


async def test_generate_shows_the_key_once_and_info_finds_it_by_key_or_hash(api: Api) -> None:
    made = await api.ok("POST", "/key/generate", {"key_alias": "ci", "models": ["m"], "max_budget": 5})
    key = made["key"]
    assert key.startswith("sk-")
    assert len(key) > 40
    assert made["token"] == made["token_id"] == hash_key(key)
    assert made["key_name"] == key_name(key) == f"sk-...{key[-4:]}"
    assert (made["key_alias"], made["models"], made["max_budget"], made["role"]) == ("ci", ["m"], "5", "user")
    assert made["created_by"] == "master"
    stored = await api.governance.stores.keys.get(hash_key(key))
    assert stored is not None
    assert stored.key_alias == "ci"
    for named in (key, hash_key(key)):
        info = await api.ok("GET", "/key/info", {"key": named})
        assert info["key"] == hash_key(key)
        assert info["info"]["key_alias"] == "ci"
        assert info["info"]["spend"] == "0"
        assert key not in orjson.dumps(info).decode()  # shown once: never again
    assert (await api.governance.principal(key)).key.key_alias == "ci"  # and it authenticates


async def test_generate_sets_every_field(api: Api) -> None:
    await api.user("u1")
    await api.team("t1", "u1")
    before = datetime.now(UTC)
    payload: dict[str, Any] = {
        "key_alias": "full",
        "models": ["m", "openai/*"],
        "aliases": {"fast": "m"},
        "max_budget": "10.5",
        "soft_budget": 8,
        "budget_duration": "1d",
        "rpm_limit": 60,
        "tpm_limit": 100_000,
        "max_parallel_requests": 4,
        "model_max_budget": {"m": {"budget_limit": 0.5, "time_period": "1d"}},
        "model_rpm_limit": {"m": 10},
        "model_tpm_limit": {"m": 1000},
        "duration": "30d",
        "metadata": {"owner": "ci"},
        "tags": ["a", "b"],
        "user_id": "u1",
        "team_id": "t1",
        "customer_id": "c-not-created-yet",
        "role": "team_admin",
    }
    made = await api.ok("POST", "/key/generate", payload)
    record = await api.governance.stores.keys.get(made["token"])
    assert record is not None
    assert record.limits.max_budget == Decimal("10.5")
    assert record.limits.soft_budget == Decimal(8)
    assert record.limits.model_max_budget["m"].budget_limit == Decimal("0.5")
    assert (record.limits.rpm_limit, record.limits.tpm_limit, record.limits.max_parallel_requests) == (60, 100_000, 4)
    assert dict(record.aliases) == {"fast": "m"}
    assert record.tags == ("a", "b")
    assert record.role == "team_admin"
    assert (record.user_id, record.team_id, record.customer_id) == ("u1", "t1", "c-not-created-yet")
    assert record.expires is not None
    assert before + timedelta(days=30) <= record.expires <= datetime.now(UTC) + timedelta(days=30)
    assert made["model_rpm_limit"] == {"m": 10}
    assert made["metadata"] == {"owner": "ci"}


def test_expiry_counts_calendar_months_and_clamps_the_day() -> None:
    start = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    assert expiry("1mo", start) == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    assert expiry("13mo", start) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert expiry("1h", start) == start + timedelta(hours=1)
    assert expiry(None, start) is None


async def test_a_chosen_key_must_look_like_a_key_and_be_unique(api: Api) -> None:
    chosen = "sk-my-own-key-0001"
    made = await api.ok("POST", "/key/generate", {"key": chosen})
    assert made["key"] == chosen
    assert made["token"] == hash_key(chosen)
    assert error_of(await api.post("/key/generate", {"key": chosen}), 409)["param"] == "key"
    for bad in ("sk-short", "pk-long-enough-but-wrong", "sk-has a space-inside", 12345):
        assert error_of(await api.post("/key/generate", {"key": bad}), 400)["param"] == "key", bad
    await api.ok("POST", "/key/generate", {"key_alias": "dup"})
    conflict = error_of(await api.post("/key/generate", {"key_alias": "dup"}), 409)
    assert conflict["param"] == "key_alias"
    assert conflict["code"] == "already_exists"


BAD_GENERATE: list[tuple[dict[str, Any], int, str]] = [
    ({"max_budjet": 10}, 400, "max_budjet"),
    ({"models": "gpt-4o"}, 400, "models"),
    ({"models": [""]}, 400, "models"),
    ({"aliases": ["a"]}, 400, "aliases"),
    ({"rpm_limit": "10"}, 400, "rpm_limit"),
    ({"rpm_limit": 1.5}, 400, "rpm_limit"),
    ({"tpm_limit": -5}, 400, "tpm_limit"),
    ({"max_budget": -1}, 400, "max_budget"),
    ({"max_budget": "ten"}, 400, "max_budget"),
    ({"max_budget": True}, 400, "max_budget"),
    ({"budget_duration": "1y"}, 400, "budget_duration"),
    ({"budget_duration": "0d"}, 400, "budget_duration"),
    ({"duration": "soon"}, 400, "duration"),
    ({"duration": 30}, 400, "duration"),
    ({"model_max_budget": {"m": 5}}, 400, "model_max_budget.m"),
    ({"model_rpm_limit": {"m": -1}}, 400, "model_rpm_limit.m"),
    ({"role": "root"}, 400, "role"),
    ({"blocked": "yes"}, 400, "blocked"),
    ({"metadata": ["x"]}, 400, "metadata"),
    ({"key_alias": 7}, 400, "key_alias"),
    ({"user_id": ""}, 400, "user_id"),
    ({"team_id": "x" * 129}, 400, "team_id"),
    ({"team_id": "no-such-team"}, 404, "team_id"),
    ({"user_id": "no-such-user"}, 404, "user_id"),
]


async def test_generate_refuses_bad_input_naming_the_field(api: Api) -> None:
    for payload, status, field in BAD_GENERATE:
        error = error_of(await api.post("/key/generate", payload), status)
        assert error["param"] == field, (payload, error)
    typo = error_of(await api.post("/key/generate", {"max_budjet": 10}), 400)
    assert typo["code"] == "unknown_field"
    assert "did you mean 'max_budget'" in typo["message"]
    _, total = await api.governance.stores.keys.list()
    assert total == 0  # nothing was created by any of them


async def test_bodies_must_be_json_objects_within_the_limit(api: Api) -> None:
    assert error_of(await api.post("/key/generate", content=b"{not json"), 400)["code"] == "invalid_json"
    assert error_of(await api.post("/key/generate", content=b"[1, 2]"), 400)["code"] == "invalid_json"
    assert error_of(await api.post("/key/generate", content=b""), 400)["code"] == "invalid_json"
    huge = orjson.dumps({"metadata": {"blob": "x" * BODY_LIMIT}})
    assert error_of(await api.post("/key/generate", content=huge), 413)["code"] == "request_too_large"


async def test_update_changes_only_what_it_names_and_null_clears(api: Api) -> None:
    made = await api.ok("POST", "/key/generate", {"rpm_limit": 10, "max_budget": 5, "key_alias": "a", "tags": ["x"]})
    after = await api.ok("POST", "/key/update", {"key": made["key"], "max_budget": "7.25", "key_alias": "b"})
    assert (after["max_budget"], after["rpm_limit"], after["key_alias"], after["tags"]) == ("7.25", 10, "b", ["x"])
    cleared = await api.ok("POST", "/key/update", {"key": made["token"], "max_budget": None, "duration": "1h"})
    assert cleared["max_budget"] is None
    assert cleared["rpm_limit"] == 10
    assert cleared["expires"] is not None
    assert error_of(await api.post("/key/update", {"key": "sk-unknown-key-0000"}), 404)["param"] == "key"
    assert error_of(await api.post("/key/update", {"max_budget": 1}), 400)["param"] == "key"
    assert error_of(await api.post("/key/update", {"key": made["key"], "rpm_limt": 1}), 400)["param"] == "rpm_limt"
    assert error_of(await api.post("/key/update", {"key": made["key"], "team_id": "nope"}), 404)["param"] == "team_id"


async def test_update_reaches_the_key_cache_at_once(api: Api) -> None:
    made = await api.ok("POST", "/key/generate", {"models": ["m"]})
    assert (await api.governance.principal(made["key"])).key.models == ("m",)  # now cached
    await api.ok("POST", "/key/update", {"key": made["key"], "models": ["other"]})
    assert (await api.governance.principal(made["key"])).key.models == ("other",)


async def test_block_and_unblock_take_effect_at_once(api: Api) -> None:
    made = await api.ok("POST", "/key/generate", {})
    await api.governance.principal(made["key"])  # cached as valid
    blocked = await api.ok("POST", "/key/block", {"key": made["key"]})
    assert blocked["blocked"] is True
    with pytest.raises(PermissionDeniedError):
        await api.governance.principal(made["key"])
    assert (await api.ok("POST", "/key/unblock", {"key": made["token"]}))["blocked"] is False
    assert (await api.governance.principal(made["key"])).key.blocked is False
    assert error_of(await api.post("/key/block", {"key": "sk-not-a-real-key-000"}), 404)["param"] == "key"
    assert error_of(await api.post("/key/block", {}), 400)["param"] == "key"


async def test_delete_checks_every_key_first_then_deletes_them(api: Api) -> None:
    first = await api.ok("POST", "/key/generate", {"key_alias": "first"})
    second = await api.ok("POST", "/key/generate", {"key_alias": "second"})
    await api.governance.principal(first["key"])
    missing = await api.post("/key/delete", {"keys": [first["key"], "sk-does-not-exist-00"]})
    assert error_of(missing, 404)["code"] == "key_not_found"
    assert await api.governance.stores.keys.get(first["token"]) is not None  # nothing deleted
    deleted = await api.ok("POST", "/key/delete", {"keys": [first["key"]], "key_aliases": ["second"]})
    assert sorted(deleted["deleted_keys"]) == sorted([first["token"], second["token"]])
    with pytest.raises(AuthenticationError):
        await api.governance.principal(first["key"])
    assert error_of(await api.get("/key/info", {"key": first["key"]}), 404)["param"] == "key"
    assert error_of(await api.post("/key/delete", {"keys": []}), 400)["param"] == "keys"
    assert error_of(await api.post("/key/delete", {"key": first["key"]}), 400)["param"] == "key"


async def test_list_filters_and_pages_like_litellm(api: Api) -> None:
    await api.team("t1")
    await api.team("t2")
    hashes = [(await api.ok("POST", "/key/generate", {"team_id": "t1"}))["token"] for _ in range(3)]
    await api.ok("POST", "/key/generate", {"team_id": "t2"})
    listed = await api.ok("GET", "/key/list", {"team_id": "t1", "size": 2})
    assert listed["total_count"] == 3
    assert listed["current_page"] == 1
    assert listed["total_pages"] == 2
    second = await api.ok("GET", "/key/list", {"team_id": "t1", "size": 2, "page": 2})
    assert sorted(listed["keys"] + second["keys"]) == sorted(hashes)  # hashes by default, as in LiteLLM
    full = await api.ok("GET", "/key/list", {"return_full_object": "true"})
    assert full["total_count"] == 4
    assert all(item["team_id"] in ("t1", "t2") for item in full["keys"])
    assert error_of(await api.get("/key/list", {"size": 0}), 400)["param"] == "size"
    assert error_of(await api.get("/key/list", {"teem_id": "t1"}), 400)["param"] == "teem_id"


async def test_regenerate_replaces_the_key_and_the_old_one_stops_at_once(api: Api) -> None:
    made = await api.ok("POST", "/key/generate", {"key_alias": "svc", "rpm_limit": 5})
    await api.governance.principal(made["key"])  # cached
    fresh = await api.ok("POST", "/key/regenerate", {"key": made["key"], "max_budget": 3})
    assert fresh["key"] != made["key"]
    assert fresh["token"] == hash_key(fresh["key"])
    assert (fresh["key_alias"], fresh["rpm_limit"], fresh["max_budget"]) == ("svc", 5, "3")
    with pytest.raises(AuthenticationError):
        await api.governance.principal(made["key"])
    assert (await api.governance.principal(fresh["key"])).key.key_alias == "svc"
    # LiteLLM's path form, with an empty body, and with a chosen new key.
    again = await api.post(f"/key/{fresh['key']}/regenerate", content=b"")
    assert again.status_code == 200, again.text
    chosen = await api.ok("POST", f"/key/{again.json()['token']}/regenerate", {"new_key": "sk-chosen-new-key-01"})
    assert chosen["key"] == "sk-chosen-new-key-01"
    assert error_of(await api.post(f"/key/{fresh['key']}/regenerate", content=b""), 404)["param"] == "key"


async def test_info_shows_live_spend_from_the_counters(api: Api) -> None:
    made = await api.ok("POST", "/key/generate", {"max_budget": 1, "budget_duration": "1d"})
    principal = await api.governance.principal(made["key"])
    admission = await api.governance.admit(principal, None, "m", lambda: 10**7)
    event = spend_event(key_hash=made["token"], cost=Decimal("0.0042"), counter_scopes=admission.scopes)
    await api.governance.finish(admission, event, tokens=15)
    # No wait for the batched writer: the spend comes from the counters.
    info = (await api.ok("GET", "/key/info", {"key": made["key"]}))["info"]
    assert info["spend"] == "0.0042"
    assert info["budget_period_spend"] == "0.0042"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert info["budget_reset_at"].startswith(tomorrow)


async def test_info_of_the_callers_own_key_needs_no_parameter(api: Api) -> None:
    key = await api.key(limits=Limits(rpm_limit=3))
    own = await api.ok("GET", "/key/info", key=key)
    assert own["key"] == hash_key(key)
    assert own["info"]["rpm_limit"] == 3
    assert error_of(await api.get("/key/info"), 400)["param"] == "key"  # the master key has no key info
