"""``tollway db upgrade`` and ``tollway db current`` through the CLI's main(), and N processes upgrading at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tollway.cli import main
from tollway.storage import schema
from tollway.storage.database import Database
from tollway.storage.migrate import current, head


def _tables(path: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_and_current_on_a_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.db"
    url = f"sqlite:///{path}"
    assert main(["db", "current", "--database-url", url]) == 0
    assert capsys.readouterr().out.strip().endswith(f"none (head is {head()})")
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert f"upgraded from an empty database to revision {head()}" in capsys.readouterr().out
    assert _tables(path) == {*schema.metadata.tables, "alembic_version"}
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert f"already at revision {head()}" in capsys.readouterr().out
    assert main(["db", "current", "--database-url", url]) == 0
    assert capsys.readouterr().out.strip() == f"sqlite+aiosqlite:///{path}: {head()} (head)"


def test_db_upgrade_uses_database_url_then_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    assert main(["db", "upgrade"]) == 0
    assert "alembic_version" in _tables(tmp_path / "from-env.db")
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    assert "api_keys" in _tables(tmp_path / "tollway.db")
    config = tmp_path / "config.yaml"
    config.write_text(f"general_settings:\n  database_url: sqlite:///{tmp_path / 'from-config.db'}\n")
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "api_keys" in _tables(tmp_path / "from-config.db")
    capsys.readouterr()


def test_db_upgrade_failures_exit_1_without_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["db", "upgrade", "--database-url", f"postgresql://u:hunter2@127.0.0.1:{port}/x"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("tollway db upgrade: postgresql+asyncpg://u:***@127.0.0.1")
    assert "hunter2" not in error
    assert main(["db", "current", "--database-url", "mysql://u:hunter2@db/x"]) == 1
    error = capsys.readouterr().err
    assert "unsupported database URL scheme" in error
    assert "hunter2" not in error


async def test_several_processes_upgrading_at_once_all_succeed(database_url: str) -> None:
    # `tollway serve --workers N` starts N processes that each upgrade the same database.
    command = ["-m", "tollway.cli", "db", "upgrade", "--database-url", database_url]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    async def run() -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        return process.returncode or 0, out.decode(), err.decode()

    results = await asyncio.gather(*(run() for _ in range(4)))
    assert [status for status, _, _ in results] == [0] * 4, results
    outputs = sorted(out.split(": ", 1)[1].strip() for _, out, _ in results)
    assert outputs[:3] == [f"already at revision {head()}"] * 3
    assert outputs[3] == f"upgraded from an empty database to revision {head()}"
    database = Database(database_url)
    try:
        assert await current(database) == head()
    finally:
        await database.aclose()
