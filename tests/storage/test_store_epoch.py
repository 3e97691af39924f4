"""The entity epoch on SQLite and PostgreSQL: every change to a key, user, team or customer moves it by one, in the
change's own transaction; reads, refused changes and rolled-back ones leave it where it was."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import CustomerRecord, KeyRecord, TeamMember, TeamRecord, UserRecord
from tollway.storage import epoch
from tollway.storage.database import ConflictError, Database, RecordNotFoundError
from tollway.storage.entities import CustomerStore, KeyStore, TeamStore, UserStore


def _key() -> KeyRecord:
    token = generate_key()
    return KeyRecord(token_hash=hash_key(token), key_name=key_name(token))


async def _moves(database: Database, change: Callable[[], Awaitable[Any]]) -> int:
    before = await epoch.read(database)
    await change()
    return await epoch.read(database) - before


async def test_a_new_database_starts_at_zero(database: Database) -> None:
    assert await epoch.read(database) == 0


async def test_every_change_of_every_entity_moves_the_epoch_by_one(database: Database) -> None:
    keys, users, teams = KeyStore(database), UserStore(database), TeamStore(database)
    customers = CustomerStore(database)
    key = _key()
    changes: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("key create", lambda: keys.create(key)),
        ("key update", lambda: keys.update(key.token_hash, key_alias="renamed")),
        ("key block", lambda: keys.set_blocked(key.token_hash, True)),
        ("key regenerate", lambda: keys.regenerate(key.token_hash, replacement)),
        ("key delete", lambda: keys.delete(replacement.token_hash)),
        ("user create", lambda: users.create(UserRecord(user_id="u1"))),
        ("user update", lambda: users.update("u1", user_email="u1@example.com")),
        ("team create", lambda: teams.create(TeamRecord(team_id="t1", members=(TeamMember("u1"),)))),
        ("team member add", lambda: teams.add_member("t1", "u2")),
        ("team member remove", lambda: teams.remove_member("t1", "u2")),
        ("team delete", lambda: teams.delete("t1")),
        ("customer create", lambda: customers.create(CustomerRecord(customer_id="c1"))),
        ("customer block", lambda: customers.set_blocked("c1", True)),
        ("customer delete", lambda: customers.delete("c1")),
        ("user delete", lambda: users.delete("u1")),
    ]
    replacement = _key()
    moved = {name: await _moves(database, change) for name, change in changes}
    assert moved == dict.fromkeys(moved, 1)
    assert await epoch.read(database) == len(changes)


async def test_reads_and_refused_changes_leave_it_alone(database: Database) -> None:
    keys, teams = KeyStore(database), TeamStore(database)
    key = await keys.create(_key())
    start = await epoch.read(database)
    await keys.get(key.token_hash)
    await keys.principal_rows(key.token_hash)
    await keys.list()
    with pytest.raises(ConflictError):
        await keys.create(key)  # its hash exists: the insert fails and the transaction rolls back
    with pytest.raises(RecordNotFoundError):
        await keys.update("no-such-hash", key_alias="x")
    with pytest.raises(RecordNotFoundError):
        await teams.add_member("no-such-team", "u1")
    assert await epoch.read(database) == start


async def test_concurrent_changes_are_each_counted(database: Database) -> None:
    keys = KeyStore(database)
    await asyncio.gather(*(keys.create(_key()) for _ in range(20)))
    assert await epoch.read(database) == 20
