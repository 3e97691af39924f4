"""Who may call which management route: the master key and admin keys everything; a team-admin key the keys of its
own team (and its team's info and spend); a plain key its own key info and spend; no key, a blocked key or an
expired key nothing. Over SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mgmt_support import MASTER, Api, api, error_of, governance, spend_event
from starlette.routing import Route

from tollway.governance.keys import hash_key
from tollway.governance.service import Governance
from tollway.proxy.management import management_routes

__all__ = ["api", "governance"]  # fixtures, imported for pytest


@dataclass
class World:
    """Two teams with a member each, and keys of every role."""

    keys: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.keys[name]


@pytest.fixture
async def world(api: Api) -> World:
    await api.user("u1")
    await api.user("u2")
    await api.team("t1", "u1")
    await api.team("t2", "u2")
    past = datetime.now(UTC) - timedelta(minutes=1)
    keys = {
        "master": MASTER,
        "admin": await api.key(role="admin"),
        "team_admin": await api.key(role="team_admin", team_id="t1"),
        "plain": await api.key(team_id="t1", user_id="u1"),
        "blocked": await api.key(role="admin", blocked=True),
        "expired": await api.key(role="admin", expires=past),
        "t1": await api.key(team_id="t1"),
        "t2": await api.key(team_id="t2"),
        "admin_in_t1": await api.key(role="admin", team_id="t1"),
    }
    events = [
        spend_event(key_hash=hash_key(keys[name]), team_id=team)
        for name, team in (("plain", "t1"), ("t1", "t1"), ("t2", "t2"))
    ]
    await api.governance.stores.spend.write_batch(events)
    return World(keys)


def _routes(governance: Governance) -> list[tuple[str, str]]:
    routes = management_routes(lambda: governance, None, max_body_bytes=1024)
    return [
        (route.path, method)
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    ]


async def test_no_key_a_blocked_key_and_an_expired_key_reach_no_route(api: Api, world: World) -> None:
    for path, method in _routes(api.governance):
        url = path.replace("{key}", world["t1"])
        for key, status in (
            (None, 401),
            (world["blocked"], 403),
            (world["expired"], 401),
            ("sk-unknown-0000000000", 401),
        ):
            response = await (api.post(url, {}, key=key) if method == "POST" else api.get(url, key=key))
            assert response.status_code == status, (method, path, key and key[:8], response.text)


async def _expect(api: Api, key: str, cases: list[tuple[str, str, Any, int]]) -> list[Any]:
    answers = []
    for method, path, payload, status in cases:
        response = await (api.post(path, payload, key=key) if method == "POST" else api.get(path, payload, key=key))
        assert response.status_code == status, (method, path, payload, response.text)
        answers.append(response.json())
    return answers


ADMIN_ONLY_READS = ["/user/list", "/team/list", "/customer/list", "/audit/logs"]
ADMIN_ONLY_WRITES = [  # in an order that works for an admin: deletions last
    ("/user/new", {"user_id": "x"}),
    ("/user/update", {"user_id": "u1"}),
    ("/team/new", {"team_id": "x"}),
    ("/team/update", {"team_id": "t1"}),
    ("/team/member_add", {"team_id": "t1", "member": {"user_id": "u2"}}),
    ("/team/member_delete", {"team_id": "t1", "user_id": "u1"}),
    ("/team/block", {"team_id": "t1"}),
    ("/customer/new", {"user_id": "x"}),
    ("/customer/block", {"user_ids": ["x"]}),
    ("/user/delete", {"user_ids": ["u1"]}),
    ("/team/delete", {"team_ids": ["t1"]}),
]


def _admin_only(status: int) -> list[tuple[str, str, Any, int]]:
    reads = [("GET", path, None, status) for path in ADMIN_ONLY_READS]
    report = [("GET", "/global/spend/report", {"start_date": "2025-01-01", "end_date": "2025-01-02"}, status)]
    return reads + report + [("POST", path, payload, status) for path, payload in ADMIN_ONLY_WRITES]


async def test_a_team_admin_key_manages_the_keys_of_its_own_team_only(api: Api, world: World) -> None:
    made, own_team, _, listed, _, logs, *_ = await _expect(
        api,
        world["team_admin"],
        [
            ("POST", "/key/generate", {"user_id": "u1", "role": "team_admin"}, 200),
            ("GET", "/team/info", None, 200),
            ("POST", "/key/update", {"key": world["t1"], "rpm_limit": 5}, 200),
            ("GET", "/key/list", {"return_full_object": "true"}, 200),
            ("POST", "/key/block", {"key": world["t1"]}, 200),
            ("GET", "/spend/logs", None, 200),
            ("GET", "/key/info", {"key": world["t1"]}, 200),
            ("POST", "/key/regenerate", {"key": world["t1"]}, 200),
        ],
    )
    assert made["team_id"] == "t1"
    assert made["created_by"].startswith("sk-...")
    assert own_team["team_id"] == "t1"
    assert {key["team_id"] for key in listed["keys"]} == {"t1"}
    assert listed["total_count"] == 5
    assert {row["team_id"] for row in logs["data"]} == {"t1"}
    assert logs["total"] == 2
    await _expect(
        api,
        world["team_admin"],
        [
            ("POST", "/key/generate", {"team_id": "t2"}, 403),
            ("POST", "/key/generate", {"role": "admin"}, 403),
            ("POST", "/key/generate", {"user_id": "u2"}, 403),
            ("POST", "/key/update", {"key": made["key"], "team_id": "t2"}, 403),
            ("POST", "/key/update", {"key": made["key"], "role": "admin"}, 403),
            ("POST", "/key/update", {"key": world["t2"], "rpm_limit": 1}, 403),
            ("POST", "/key/update", {"key": world["admin_in_t1"], "rpm_limit": 1}, 403),
            ("POST", "/key/block", {"key": world["t2"]}, 403),
            ("POST", "/key/delete", {"keys": [world["t2"]]}, 403),
            ("POST", "/key/regenerate", {"key": world["t2"]}, 403),
            ("GET", "/key/info", {"key": world["t2"]}, 403),
            ("GET", "/key/list", {"team_id": "t2"}, 403),
            ("GET", "/team/info", {"team_id": "t2"}, 403),
            ("GET", "/spend/logs", {"team_id": "t2"}, 403),
            *_admin_only(403),
        ],
    )
    assert await api.governance.stores.keys.get(hash_key(world["t2"])) is not None


async def test_a_plain_key_reads_its_own_info_and_spend_only(api: Api, world: World) -> None:
    own, same, logs, own_logs = await _expect(
        api,
        world["plain"],
        [
            ("GET", "/key/info", None, 200),
            ("GET", "/key/info", {"key": world["plain"]}, 200),
            ("GET", "/spend/logs", None, 200),
            ("GET", "/spend/logs", {"api_key": world["plain"]}, 200),
        ],
    )
    assert own["key"] == same["key"] == hash_key(world["plain"])
    assert (
        [row["key_hash"] for row in logs["data"]]
        == [hash_key(world["plain"])]
        == [r["api_key"] for r in own_logs["data"]]
    )
    await _expect(
        api,
        world["plain"],
        [
            ("GET", "/key/info", {"key": world["t1"]}, 403),
            ("GET", "/key/info", {"key": "sk-no-such-key-00000"}, 403),
            ("GET", "/spend/logs", {"api_key": world["t1"]}, 403),
            ("GET", "/spend/logs", {"team_id": "t1"}, 403),
            ("POST", "/key/generate", {}, 403),
            ("POST", "/key/update", {"key": world["plain"], "max_budget": 1000}, 403),
            ("POST", "/key/block", {"key": world["plain"]}, 403),
            ("POST", "/key/unblock", {"key": world["plain"]}, 403),
            ("POST", "/key/delete", {"keys": [world["plain"]]}, 403),
            ("POST", "/key/regenerate", {"key": world["plain"]}, 403),
            ("POST", f"/key/{world['plain']}/regenerate", {}, 403),
            ("GET", "/key/list", None, 403),
            ("GET", "/team/info", {"team_id": "t1"}, 403),
            ("GET", "/user/info", {"user_id": "u1"}, 403),
            ("GET", "/customer/info", {"customer_id": "x"}, 403),
            *_admin_only(403),
        ],
    )
    error = error_of(await api.post("/key/generate", {}, key=world["plain"]), 403)
    assert error["type"] == "permission_error"


@pytest.mark.parametrize("caller", ["master", "admin"])
async def test_admins_reach_every_route(api: Api, world: World, caller: str) -> None:
    made, *_ = await _expect(
        api,
        world[caller],
        [
            ("POST", "/key/generate", {"role": "admin", "team_id": "t2"}, 200),
            ("POST", "/key/update", {"key": world["admin_in_t1"], "rpm_limit": 1}, 200),
            ("GET", "/key/list", {"team_id": "t2"}, 200),
            ("GET", "/spend/logs", {"team_id": "t2"}, 200),
            *_admin_only(200),
        ],
    )
    assert made["role"] == "admin"
    entries = (await api.ok("GET", "/audit/logs", {"action": "key.generate"}, key=world[caller]))["data"]
    expected = "master" if caller == "master" else f"sk-...{world[caller][-4:]}"
    assert [entry["actor"] for entry in entries] == [expected]
