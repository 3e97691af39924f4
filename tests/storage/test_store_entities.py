"""UserStore, TeamStore (with members) and CustomerStore on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tollway.governance.records import CustomerRecord, Limits, ModelBudget, TeamMember, TeamRecord, UserRecord
from tollway.storage.database import ConflictError, Database, RecordNotFoundError
from tollway.storage.entities import CustomerStore, TeamStore, UserStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_user_crud(database: Database) -> None:
    store = UserStore(database)
    user = UserRecord(
        user_id="u1",
        user_email="ann@example.com",
        user_role="proxy_admin",
        models=("gpt-4o",),
        limits=Limits(max_budget=Decimal("0.000000075"), budget_duration="7d", tpm_limit=100),
        metadata={"team": ["a", "b"]},
    )
    assert await store.create(user) == user
    assert await store.get("u1") == user
    with pytest.raises(ConflictError, match="user with user_id 'u1' already exists") as caught:
        await store.create(UserRecord(user_id="u1"))
    assert caught.value.field == "user_id"
    before, after = await store.update("u1", user_email=None, max_budget=None, rpm_limit=7)
    assert before == user
    assert (after.user_email, after.limits.max_budget, after.limits.rpm_limit) == (None, None, 7)
    assert after.limits.tpm_limit == 100
    _, blocked = await store.set_blocked("u1", True)
    assert blocked.blocked
    assert await store.delete("u1") == blocked
    assert await store.get("u1") is None
    with pytest.raises(RecordNotFoundError, match="user 'u1' not found"):
        await store.set_blocked("u1", False)


async def test_user_list_by_role_and_team(database: Database) -> None:
    users, teams = UserStore(database), TeamStore(database)
    for index in range(5):
        stamp = T0 + timedelta(seconds=index)
        role = "proxy_admin" if index == 0 else "internal_user"
        await users.create(UserRecord(user_id=f"u{index}", user_role=role, created_at=stamp, updated_at=stamp))
    await teams.create(TeamRecord(team_id="t1", members=(TeamMember("u1"), TeamMember("u3"))))
    rows, total = await users.list(user_role="internal_user", page_size=2)
    assert ([row.user_id for row in rows], total) == (["u4", "u3"], 4)
    rows, total = await users.list(team_id="t1")
    assert ([row.user_id for row in rows], total) == (["u3", "u1"], 2)


async def test_team_with_members(database: Database) -> None:
    store = TeamStore(database)
    team = TeamRecord(
        team_id="t1",
        team_alias="Research",
        models=("o3",),
        limits=Limits(max_budget=Decimal("250.5"), model_max_budget={"o3": ModelBudget(Decimal("10"), "1d")}),
        members=(TeamMember("ann", "admin", T0), TeamMember("bob", "user", T0 + timedelta(seconds=1))),
        created_at=T0,
        updated_at=T0,
    )
    assert await store.create(team) == team
    assert await store.get("t1") == team
    assert await store.members("t1") == team.members
    carl = await store.add_member("t1", "carl")
    assert carl.user_id == "carl"
    assert carl.role == "user"
    assert [member.user_id for member in await store.members("t1")] == ["ann", "bob", "carl"]
    with pytest.raises(ConflictError, match="already a member") as caught:
        await store.add_member("t1", "carl", "admin")
    assert caught.value.field == "user_id"
    with pytest.raises(RecordNotFoundError):
        await store.add_member("no-such-team", "carl")
    removed = await store.remove_member("t1", "bob")
    assert removed == team.members[1]
    with pytest.raises(RecordNotFoundError):
        await store.remove_member("t1", "bob")
    before, after = await store.update("t1", team_alias="R&D")
    assert [m.user_id for m in before.members] == [m.user_id for m in after.members] == ["ann", "carl"]
    assert after.team_alias == "R&D"


async def test_team_list_and_delete_drops_memberships(database: Database) -> None:
    store = TeamStore(database)
    await store.create(TeamRecord(team_id="t1", members=(TeamMember("ann"),), created_at=T0, updated_at=T0))
    later = T0 + timedelta(hours=1)
    await store.create(TeamRecord(team_id="t2", members=(TeamMember("ann"), TeamMember("bob")), created_at=later))
    rows, total = await store.list(user_id="ann")
    assert ([row.team_id for row in rows], total) == (["t2", "t1"], 2)
    assert [m.user_id for m in rows[0].members] == ["ann", "bob"]
    deleted = await store.delete("t2")
    assert [m.user_id for m in deleted.members] == ["ann", "bob"]
    assert await store.members("t2") == ()
    assert (await store.list(user_id="bob"))[1] == 0
    await store.create(TeamRecord(team_id="t2"))  # no stale memberships come back
    assert await store.members("t2") == ()


async def test_deleting_a_user_removes_their_memberships(database: Database) -> None:
    users, teams = UserStore(database), TeamStore(database)
    await users.create(UserRecord(user_id="ann"))
    await teams.create(TeamRecord(team_id="t1", members=(TeamMember("ann"), TeamMember("bob"))))
    await users.delete("ann")
    assert [m.user_id for m in await teams.members("t1")] == ["bob"]


async def test_customer_crud_and_stripe_id(database: Database) -> None:
    store = CustomerStore(database)
    customer = CustomerRecord(
        customer_id="acme",
        alias="Acme Corp",
        plan="enterprise",
        allowed_model_region="eu",
        default_model="gpt-4o-mini",
        stripe_customer_id="cus_123",
        limits=Limits(max_budget=Decimal("1000"), budget_duration="1mo", rpm_limit=60),
        metadata={"crm": {"id": 42}},
    )
    assert await store.create(customer) == customer
    assert await store.get("acme") == customer
    assert await store.get_by_stripe_id("cus_123") == customer
    assert await store.get_by_stripe_id("cus_999") is None
    with pytest.raises(ConflictError, match="customer_id 'acme'") as caught:
        await store.create(CustomerRecord(customer_id="acme"))
    assert caught.value.field == "customer_id"
    with pytest.raises(ConflictError, match="stripe_customer_id 'cus_123'") as caught:
        await store.create(CustomerRecord(customer_id="other", stripe_customer_id="cus_123"))
    assert caught.value.field == "stripe_customer_id"
    # NULL is not a duplicate: many customers have no Stripe id.
    await store.create(CustomerRecord(customer_id="a"))
    await store.create(CustomerRecord(customer_id="b"))
    _, blocked = await store.set_blocked("acme", True)
    assert blocked == replace(customer, blocked=True, updated_at=blocked.updated_at)
    rows, total = await store.list(blocked=True)
    assert (rows, total) == ([blocked], 1)
    assert (await store.list(plan="enterprise"))[1] == 1
    assert (await store.list())[1] == 3
    assert await store.delete("acme") == blocked
    assert await store.get_by_stripe_id("cus_123") is None
