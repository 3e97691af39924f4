"""``tollway alerts check``: one evaluation from the command line, deduplicated against earlier ones, and its errors
(a bad database URL, a bad config) as a message and exit status 1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from alerts_support import SECRET, rule_of

from fakes.alert_receivers import HttpReceiver
from tollway.cli import main
from tollway.governance.records import Limits, TeamRecord
from tollway.governance.spend_event import SpendEvent
from tollway.storage.alert_store import AlertStore
from tollway.storage.database import Database
from tollway.storage.entities import TeamStore
from tollway.storage.migrate import upgrade
from tollway.storage.spend_store import SpendStore


async def test_check_sends_once_and_prints_what_it_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tollway.db'}"
    database = Database(url)
    async with HttpReceiver() as receiver:
        try:
            await upgrade(database)
            await TeamStore(database).create(TeamRecord(team_id="t1", limits=Limits(max_budget=Decimal(4))))
            event = SpendEvent(ts=datetime.now(UTC), team_id="t1", cost=Decimal(3), counter_scopes=[("team:t1", "all")])
            await SpendStore(database).write_batch([event])
            channel = {"type": "webhook", "url": receiver.url(), "secret": SECRET}
            rule = rule_of({"name": "teams", "kind": "budget", "scope": {"entity": "team"}, "channels": [channel]})
            await AlertStore(database).create_rule(rule)
        finally:
            await database.aclose()
        # The command runs its own event loop: in a thread, so this loop keeps serving the receiver.
        assert await asyncio.to_thread(main, ["alerts", "check", "--database-url", url]) == 0
        table = capsys.readouterr().out
        assert await asyncio.to_thread(main, ["alerts", "check", "--database-url", url, "--format", "json"]) == 0
        again = orjson.loads(capsys.readouterr().out)
    assert table.splitlines() == [
        "delivered  teams: team t1: team t1 reached 50% of its lifetime budget",
        "1 alert sent",
    ]
    assert again == {"events": []}
    assert [request.json()["threshold"] for request in receiver.to("/hook")] == ["50"]


def test_check_reports_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check", "--database-url", "mysql://x/y"]) == 1
    assert "unsupported database URL scheme" in capsys.readouterr().err
    config = tmp_path / "config.yaml"
    config.write_text("model_list: 5\n")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["alerts", "check", "--config", str(config), "--database-url", url]) == 1
    assert "model_list" in capsys.readouterr().err
