"""``/user/*``, ``/team/*`` and ``/customer/*`` over SQLite and PostgreSQL: happy paths, bad inputs, cascades and
cache invalidation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from mgmt_support import Api, api, error_of, governance, spend_event

from tollway.errors import AuthenticationError, PermissionDeniedError
from tollway.governance.keys import hash_key

__all__ = ["api", "governance"]  # fixtures, imported for pytest


async def test_users_new_update_info_list(api: Api) -> None:
    await api.team("t1")
    made = await api.ok(
        "POST",
        "/user/new",
        {"user_id": "ann", "user_email": "ann@example.com", "max_budget": 20, "teams": ["t1"], "models": ["m"]},
    )
    assert (made["user_id"], made["user_role"], made["max_budget"], made["teams"]) == (
        "ann",
        "internal_user",
        "20",
        ["t1"],
    )
    generated = await api.ok("POST", "/user/new", {"user_role": "proxy_admin_viewer"})
    assert len(generated["user_id"]) == 36  # a uuid
    assert error_of(await api.post("/user/new", {"user_id": "ann"}), 409)["param"] == "user_id"
    updated = await api.ok("POST", "/user/update", {"user_id": "ann", "rpm_limit": 5, "user_email": None})
    assert (updated["rpm_limit"], updated["max_budget"], updated["user_email"]) == (5, "20", None)
    key = await api.ok("POST", "/key/generate", {"user_id": "ann"})
    info = await api.ok("GET", "/user/info", {"user_id": "ann"})
    assert info["user_info"]["spend"] == "0"
    assert [k["token"] for k in info["keys"]] == [key["token"]]
    assert [team["team_id"] for team in info["teams"]] == ["t1"]
    listed = await api.ok("GET", "/user/list", {"page_size": 1})
    assert (listed["total"], listed["total_pages"], len(listed["users"])) == (2, 2, 1)
    in_team = await api.ok("GET", "/user/list", {"team_id": "t1"})
    assert [user["user_id"] for user in in_team["users"]] == ["ann"]
    viewers = await api.ok("GET", "/user/list", {"role": "proxy_admin_viewer"})
    assert viewers["total"] == 1


async def test_users_refuse_bad_input(api: Api) -> None:
    cases = [
        ("/user/new", {"user_email": "not-an-email"}, 400, "user_email"),
        ("/user/new", {"user_role": "god"}, 400, "user_role"),
        ("/user/new", {"teams": ["missing"]}, 404, "teams"),
        ("/user/new", {"max_budget": -3}, 400, "max_budget"),
        ("/user/new", {"user_name": "x"}, 400, "user_name"),
        ("/user/update", {"user_id": "ghost", "rpm_limit": 1}, 404, "user_id"),
        ("/user/update", {"rpm_limit": 1}, 400, "user_id"),
        ("/user/delete", {"user_ids": "ann"}, 400, "user_ids"),
        ("/user/delete", {"user_ids": ["ghost"]}, 404, "user_ids"),
    ]
    for path, payload, status, field in cases:
        assert error_of(await api.post(path, payload), status)["param"] == field, (path, payload)
    assert error_of(await api.get("/user/info"), 400)["param"] == "user_id"
    assert error_of(await api.get("/user/info", {"user_id": "ghost"}), 404)["code"] == "user_not_found"
    assert error_of(await api.get("/user/list", {"role": "god"}), 400)["param"] == "role"


async def test_deleting_a_user_deletes_its_keys_and_memberships(api: Api) -> None:
    await api.user("bob")
    await api.team("t1", "bob")
    key = await api.ok("POST", "/key/generate", {"user_id": "bob"})
    other = await api.ok("POST", "/key/generate", {})
    await api.governance.principal(key["key"])
    gone = await api.ok("POST", "/user/delete", {"user_ids": ["bob"]})
    assert gone == {"deleted_users": ["bob"], "deleted_keys": 1}
    with pytest.raises(AuthenticationError):
        await api.governance.principal(key["key"])
    assert await api.governance.stores.keys.get(other["token"]) is not None
    assert await api.governance.stores.teams.members("t1") == ()


async def test_teams_new_update_members_info_list(api: Api) -> None:
    await api.user("ann")
    await api.user("bob")
    made = await api.ok(
        "POST",
        "/team/new",
        {
            "team_id": "t1",
            "team_alias": "Team 1",
            "max_budget": 100,
            "members_with_roles": [{"user_id": "ann", "role": "admin"}],
        },
    )
    assert made["members_with_roles"] == [{"user_id": "ann", "role": "admin"}]
    assert made["max_budget"] == "100"
    assert error_of(await api.post("/team/new", {"team_id": "t1"}), 409)["param"] == "team_id"
    generated = await api.ok("POST", "/team/new", {})
    assert len(generated["team_id"]) == 36
    updated = await api.ok("POST", "/team/update", {"team_id": "t1", "tpm_limit": 1000, "models": ["m"]})
    assert (updated["tpm_limit"], updated["models"], updated["max_budget"]) == (1000, ["m"], "100")
    added = await api.ok("POST", "/team/member_add", {"team_id": "t1", "member": {"user_id": "bob"}})
    assert {m["user_id"]: m["role"] for m in added["members_with_roles"]} == {"ann": "admin", "bob": "user"}
    duplicate = await api.post("/team/member_add", {"team_id": "t1", "member": [{"user_id": "bob", "role": "user"}]})
    assert error_of(duplicate, 409)["param"] == "user_id"
    removed = await api.ok("POST", "/team/member_delete", {"team_id": "t1", "user_id": "ann"})
    assert [m["user_id"] for m in removed["members_with_roles"]] == ["bob"]
    key = await api.ok("POST", "/key/generate", {"team_id": "t1"})
    info = await api.ok("GET", "/team/info", {"team_id": "t1"})
    assert info["team_info"]["spend"] == "0"
    assert [k["token"] for k in info["keys"]] == [key["token"]]
    teams = await api.get("/team/list")
    assert teams.status_code == 200
    assert teams.headers["x-total-count"] == "2"
    assert {team["team_id"] for team in teams.json()} == {"t1", generated["team_id"]}
    of_bob = await api.ok("GET", "/team/list", {"user_id": "bob"})
    assert [team["team_id"] for team in of_bob] == ["t1"]


async def test_teams_refuse_bad_input(api: Api) -> None:
    await api.team("t1")
    cases = [
        ("/team/new", {"members_with_roles": [{"user_id": "ghost"}]}, 404, "members_with_roles"),
        ("/team/new", {"members_with_roles": [{"user_id": "x", "role": "owner"}]}, 400, "members_with_roles[0].role"),
        ("/team/new", {"members_with_roles": [{"user_id": "x", "email": "e"}]}, 400, "members_with_roles[0].email"),
        ("/team/new", {"team_alias": "x", "budget": 1}, 400, "budget"),
        ("/team/update", {"team_id": "ghost"}, 404, "team_id"),
        ("/team/member_add", {"team_id": "t1"}, 400, "member"),
        ("/team/member_add", {"team_id": "t1", "member": {"user_id": "ghost"}}, 404, "member"),
        ("/team/member_delete", {"team_id": "t1", "user_id": "nobody"}, 404, None),
        ("/team/block", {"team_id": "ghost"}, 404, "team_id"),
        ("/team/delete", {"team_ids": []}, 400, "team_ids"),
    ]
    for path, payload, status, field in cases:
        assert error_of(await api.post(path, payload), status)["param"] == field, (path, payload)
    assert error_of(await api.get("/team/info"), 400)["param"] == "team_id"


async def test_blocking_a_team_refuses_its_keys_and_deleting_it_deletes_them(api: Api) -> None:
    await api.team("t1")
    key = await api.ok("POST", "/key/generate", {"team_id": "t1"})
    await api.governance.principal(key["key"])  # cached
    assert (await api.ok("POST", "/team/block", {"team_id": "t1"}))["blocked"] is True
    with pytest.raises(PermissionDeniedError, match="team"):
        await api.governance.principal(key["key"])
    assert (await api.ok("POST", "/team/unblock", {"team_id": "t1"}))["blocked"] is False
    await api.governance.principal(key["key"])
    gone = await api.ok("POST", "/team/delete", {"team_ids": ["t1"]})
    assert gone == {"deleted_teams": ["t1"], "deleted_keys": 1}
    with pytest.raises(AuthenticationError):
        await api.governance.principal(key["key"])


async def test_customers_new_update_info_list_delete(api: Api) -> None:
    made = await api.ok("POST", "/customer/new", {"user_id": "c1", "alias": "Acme", "plan": "pro", "max_budget": 3})
    assert (made["customer_id"], made["user_id"], made["plan"], made["max_budget"]) == ("c1", "c1", "pro", "3")
    assert made["litellm_budget_table"]["max_budget"] == "3"
    await api.ok(
        "POST", "/customer/new", {"customer_id": "c2", "stripe_customer_id": "cus_1", "allowed_model_region": "eu"}
    )
    assert error_of(await api.post("/customer/new", {"customer_id": "c1"}), 409)["param"] == "customer_id"
    clash = await api.post("/customer/new", {"customer_id": "c3", "stripe_customer_id": "cus_1"})
    assert error_of(clash, 409)["param"] == "stripe_customer_id"
    updated = await api.ok("POST", "/customer/update", {"customer_id": "c1", "budget_duration": "1mo", "plan": None})
    assert (updated["budget_duration"], updated["plan"], updated["max_budget"]) == ("1mo", None, "3")
    info = await api.ok("GET", "/customer/info", {"end_user_id": "c1"})
    assert info["alias"] == "Acme"
    assert info["spend"] == "0"
    assert info["budget_period_spend"] == "0"
    assert (await api.ok("GET", "/customer/info", {"customer_id": "c2"}))["allowed_model_region"] == "eu"
    listed = await api.get("/customer/list", params={"plan": "pro"})
    assert listed.headers["x-total-count"] == "0"  # c1's plan was cleared
    everyone = await api.ok("GET", "/customer/list")
    assert {customer["customer_id"] for customer in everyone} == {"c1", "c2"}
    assert (await api.ok("POST", "/customer/delete", {"user_ids": ["c1"]}))["deleted_customers"] == ["c1"]
    assert (await api.ok("POST", "/customer/delete", {"customer_ids": ["c2"]}))["deleted_customers"] == ["c2"]
    assert error_of(await api.get("/customer/info", {"customer_id": "c1"}), 404)["code"] == "customer_not_found"


async def test_customers_refuse_bad_input(api: Api) -> None:
    cases = [
        ("/customer/new", {}, 400, "user_id"),
        ("/customer/new", {"customer_id": "a", "user_id": "b"}, 400, "customer_id"),
        ("/customer/new", {"user_id": "a", "allowed_model_region": "mars"}, 400, "allowed_model_region"),
        ("/customer/new", {"user_id": "a", "budget_id": "b"}, 400, "budget_id"),
        ("/customer/new", {"user_id": "a", "rpm_limit": -1}, 400, "rpm_limit"),
        ("/customer/update", {"user_id": "ghost", "plan": "x"}, 404, "customer_id"),
        ("/customer/delete", {"user_ids": ["ghost"]}, 404, "user_ids"),
        ("/customer/delete", {"user_ids": ["a"], "customer_ids": ["a"]}, 400, "customer_ids"),
        ("/customer/unblock", {"user_ids": ["ghost"]}, 404, "user_ids"),
    ]
    for path, payload, status, field in cases:
        assert error_of(await api.post(path, payload), status)["param"] == field, (path, payload)
    assert error_of(await api.get("/customer/info"), 400)["param"] == "customer_id"
    assert error_of(await api.get("/customer/list", {"blocked": "maybe"}), 400)["param"] == "blocked"


async def test_blocking_customers_refuses_them_at_once_even_before_they_exist(api: Api) -> None:
    await api.ok("POST", "/customer/new", {"user_id": "known"})
    admitted = await api.governance.admit(None, "known", "m", lambda: 0)  # the customer is now cached
    assert admitted.customer_id == "known"
    blocked = await api.ok("POST", "/customer/block", {"user_ids": ["known", "never-seen"]})
    assert blocked == {"blocked_users": ["known", "never-seen"]}
    for customer in ("known", "never-seen"):
        with pytest.raises(PermissionDeniedError, match="customer"):
            await api.governance.admit(None, customer, "m", lambda: 0)
    await api.ok("POST", "/customer/unblock", {"customer_ids": ["known"]})
    await api.governance.admit(None, "known", "m", lambda: 0)
    assert (await api.ok("GET", "/customer/info", {"customer_id": "never-seen"}))["blocked"] is True


async def test_customer_info_shows_live_spend(api: Api) -> None:
    await api.ok("POST", "/customer/new", {"user_id": "c1"})
    key = await api.key()
    principal = await api.governance.principal(key)
    admission = await api.governance.admit(principal, "c1", "m", lambda: 10**7)
    event = spend_event(key_hash=hash_key(key), customer_id="c1", cost=Decimal("0.25"), counter_scopes=admission.scopes)
    await api.governance.finish(admission, event, tokens=3)
    assert (await api.ok("GET", "/customer/info", {"customer_id": "c1"}))["spend"] == "0.25"
