"""KeyStore on SQLite and PostgreSQL: CRUD with JSON fields, conflicts, pagination, blocking, regenerate,
principal_rows."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import (
    CustomerRecord,
    KeyRecord,
    Limits,
    ModelBudget,
    TeamMember,
    TeamRecord,
    UserRecord,
)
from tollway.storage.database import ConflictError, Database, RecordNotFoundError
from tollway.storage.entities import CustomerStore, KeyStore, TeamStore, UserStore

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def new_key(**fields: Any) -> KeyRecord:
    key = generate_key()
    base: dict[str, Any] = {"token_hash": hash_key(key), "key_name": key_name(key), "created_at": T0, "updated_at": T0}
    return KeyRecord(**{**base, **fields})


def rich_key() -> KeyRecord:
    return new_key(
        key_alias="billing-service",
        role="team_admin",
        user_id="u1",
        team_id="t1",
        customer_id="c1",
        models=("gpt-4o", "claude-sonnet"),
        aliases={"fast": "gpt-4o-mini"},
        tags=("prod", "billing"),
        expires=datetime(2027, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        limits=Limits(
            max_budget=Decimal("123456789.123456789012"),
            soft_budget=Decimal("0.000000075"),
            budget_duration="1mo",
            rpm_limit=20,
            tpm_limit=2**40,
            max_parallel_requests=3,
            model_max_budget={"gpt-4o": ModelBudget(Decimal("0.5"), "1d"), "o3": ModelBudget(Decimal("2"))},
            model_rpm_limit={"gpt-4o": 10},
            model_tpm_limit={"gpt-4o": 1000},
        ),
        metadata={"owner": "Zoë", "nested": {"list": [1, 2.5, None, True]}, "empty": {}},
        created_by="master",
    )


async def test_create_and_get_round_trip_every_field(database: Database) -> None:
    store = KeyStore(database)
    record = rich_key()
    assert await store.create(record) == record
    loaded = await store.get(record.token_hash)
    assert loaded == record
    assert loaded is not None
    assert loaded.expires == datetime(2027, 1, 1, 10, tzinfo=UTC)
    assert loaded.expires.tzinfo == UTC
    assert loaded.created_at.tzinfo == UTC
    assert loaded.limits.model_max_budget["gpt-4o"] == ModelBudget(Decimal("0.5"), "1d")
    assert await store.get_by_alias("billing-service") == record
    assert await store.get(hash_key("sk-unknown")) is None
    assert await store.get_by_alias("nope") is None


async def test_a_minimal_key_round_trips_with_empty_defaults(database: Database) -> None:
    store = KeyStore(database)
    record = new_key()
    await store.create(record)
    loaded = await store.get(record.token_hash)
    assert loaded == record
    assert loaded is not None
    assert (loaded.models, loaded.tags, dict(loaded.aliases), loaded.limits) == ((), (), {}, Limits())


async def test_duplicate_alias_and_duplicate_hash_are_conflicts(database: Database) -> None:
    store = KeyStore(database)
    first = await store.create(new_key(key_alias="dup"))
    with pytest.raises(ConflictError, match="key_alias 'dup' already exists") as caught:
        await store.create(new_key(key_alias="dup"))
    assert caught.value.field == "key_alias"
    with pytest.raises(ConflictError) as caught:
        await store.create(replace(new_key(), token_hash=first.token_hash))
    assert caught.value.field == "token_hash"
    assert first.token_hash not in str(caught.value)
    other = await store.create(new_key(key_alias="other"))
    with pytest.raises(ConflictError) as caught:
        await store.update(other.token_hash, key_alias="dup")
    assert caught.value.field == "key_alias"
    assert (await store.get(other.token_hash)) == other  # the failed update changed nothing


async def test_update_returns_before_and_after(database: Database) -> None:
    later = datetime(2026, 2, 1, tzinfo=UTC)
    store = KeyStore(database, clock=lambda: later)
    record = await store.create(rich_key())
    before, after = await store.update(
        record.token_hash,
        models=("o3",),
        max_budget=Decimal("5.25"),
        model_max_budget={"o3": ModelBudget(Decimal("1.5"), "7d")},
        metadata={"owner": "ops"},
        expires=None,
        updated_by="sk-...abcd",
    )
    assert before == record
    assert after == replace(
        record,
        models=("o3",),
        limits=replace(
            record.limits, max_budget=Decimal("5.25"), model_max_budget={"o3": ModelBudget(Decimal("1.5"), "7d")}
        ),
        metadata={"owner": "ops"},
        expires=None,
        updated_by="sk-...abcd",
        updated_at=later,
    )
    assert await store.get(record.token_hash) == after
    _, cleared = await store.update(record.token_hash, limits=Limits())
    assert cleared.limits == Limits()


async def test_update_refuses_unknown_and_fixed_fields_and_missing_keys(database: Database) -> None:
    store = KeyStore(database)
    record = await store.create(new_key())
    for field in ("token_hash", "created_at", "spend", "members"):
        with pytest.raises(ValueError, match=field):
            await store.update(record.token_hash, **{field: "x"})
    with pytest.raises(RecordNotFoundError):
        await store.update(hash_key("sk-missing"), blocked=True)
    with pytest.raises(RecordNotFoundError):
        await store.delete(hash_key("sk-missing"))


async def test_block_unblock_and_delete(database: Database) -> None:
    store = KeyStore(database)
    record = await store.create(new_key())
    before, after = await store.set_blocked(record.token_hash, True, updated_by="master")
    assert (before.blocked, after.blocked, after.updated_by) == (False, True, "master")
    assert (await store.get(record.token_hash)).blocked is True  # type: ignore[union-attr]
    _, unblocked = await store.set_blocked(record.token_hash, False)
    assert unblocked.blocked is False
    deleted = await store.delete(record.token_hash)
    assert deleted == unblocked
    assert await store.get(record.token_hash) is None


async def test_list_filters_and_paginates_newest_first(database: Database) -> None:
    store = KeyStore(database)
    records = []
    for index in range(7):
        stamp = T0 + timedelta(minutes=index)
        owner = "alice" if index % 2 == 0 else "bob"
        records.append(await store.create(new_key(user_id=owner, team_id="t1", created_at=stamp, updated_at=stamp)))
    await store.create(new_key(user_id="alice", team_id="t2"))
    alice = [record for record in reversed(records) if record.user_id == "alice"]
    rows, total = await store.list(user_id="alice", team_id="t1", page=1, page_size=3)
    assert (rows, total) == (alice[:3], 4)
    rows, total = await store.list(user_id="alice", team_id="t1", page=2, page_size=3)
    assert (rows, total) == (alice[3:], 4)
    rows, total = await store.list(user_id="alice", team_id="t1", page=3, page_size=3)
    assert (rows, total) == ([], 4)
    assert (await store.list(page_size=1000))[1] == 8
    assert (await store.list(customer_id="nobody"))[1] == 0
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 1001}):
        with pytest.raises(ValueError, match="page"):
            await store.list(**bad)


async def test_regenerate_swaps_the_key_atomically(database: Database) -> None:
    store = KeyStore(database)
    old = await store.create(rich_key())
    fresh = generate_key()
    new = replace(old, token_hash=hash_key(fresh), key_name=key_name(fresh), updated_at=T0 + timedelta(days=1))
    before, after = await store.regenerate(old.token_hash, new)
    assert (before, after) == (old, new)
    assert await store.get(old.token_hash) is None
    assert await store.get(new.token_hash) == new
    assert await store.get_by_alias("billing-service") == new  # the alias moved with it
    with pytest.raises(RecordNotFoundError):
        await store.regenerate(old.token_hash, replace(new, token_hash=hash_key(generate_key())))


async def test_regenerate_into_a_conflict_keeps_the_old_key(database: Database) -> None:
    store = KeyStore(database)
    old = await store.create(new_key(key_alias="a"))
    await store.create(new_key(key_alias="b"))
    clash = replace(new_key(), key_alias="b")
    with pytest.raises(ConflictError):
        await store.regenerate(old.token_hash, clash)
    assert await store.get(old.token_hash) == old  # rolled back: the old key still works


async def test_concurrent_updates_are_serialised(database: Database) -> None:
    # Each update's "before" is the previous update's "after": no two updates read the same state.
    store = KeyStore(database)
    record = await store.create(new_key(tags=()))
    results = await asyncio.gather(*(store.update(record.token_hash, tags=(f"t{i}",)) for i in range(8)))
    befores = sorted(before.tags for before, _ in results)
    afters = sorted(after.tags for _, after in results)
    final = await store.get(record.token_hash)
    assert final is not None
    assert sorted([*afters, ()]) == sorted([*befores, final.tags])


async def test_principal_rows_joins_user_team_and_customer_in_one_query(database: Database) -> None:
    keys, users, teams, customers = (
        KeyStore(database),
        UserStore(database),
        TeamStore(database),
        CustomerStore(database),
    )
    user = await users.create(UserRecord(user_id="u1", user_email="u1@example.com", limits=Limits(rpm_limit=5)))
    team = await teams.create(
        TeamRecord(
            team_id="t1",
            team_alias="Team",
            limits=Limits(max_budget=Decimal("100")),
            members=(TeamMember("u1", "admin", T0),),
        )
    )
    customer = await customers.create(CustomerRecord(customer_id="c1", plan="pro", blocked=True))
    key = await keys.create(rich_key())
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        principal = await keys.principal_rows(key.token_hash)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert len(selects) == 1
    assert principal is not None
    assert principal.key == key
    assert principal.user == user
    assert principal.team == replace(team, members=())  # the key cache does not need the members
    assert principal.customer == customer
    assert await keys.principal_rows(hash_key("sk-nope")) is None


async def test_principal_rows_of_a_key_without_owners(database: Database) -> None:
    keys = KeyStore(database)
    key = await keys.create(new_key(user_id="deleted-user", team_id=None))
    principal = await keys.principal_rows(key.token_hash)
    assert principal is not None
    assert (principal.key, principal.user, principal.team, principal.customer) == (key, None, None, None)
