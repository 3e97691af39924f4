"""``tollway serve`` and its store at start: migrated once before the gateway starts (by a child process, and only
when behind), so the serving processes never load Alembic; and a gateway without a database never loads SQLAlchemy.

Import checks run in fresh interpreters: this test process has imported everything long since.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tollway.dashboard.session import new_session_id
from tollway.dashboard.signin import SessionAuth
from tollway.errors import ServiceUnavailableError
from tollway.proxy.auth import Authenticator
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.management import translated
from tollway.proxy.serve import prepare_database
from tollway.proxy.settings import StartupError
from tollway.storage.database import Database
from tollway.storage.migrate import current, upgrade
from tollway.storage.migrations import HEAD

KEY = "sk-serve-store-test-0123456789"

_LOADED = "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'sqlalchemy'}))"

_PREPARE = f"""
import sys
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.serve import prepare_database
prepare_database(GatewayConfig(master_key="{KEY}", database_url=sys.argv[1]))
{_LOADED}
"""

# The app of a worker, started (lifespan) on the database of argv[1] (none when empty), then stopped.
_START_APP = f"""
import asyncio, sys
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
config = GatewayConfig(master_key="{KEY}", database_url=sys.argv[1] or None,
                       settings={{"spend_spool_dir": sys.argv[2]}})
app = create_app(config)

async def main():
    async with app.router.lifespan_context(app):
        print("governance:", app.state.governance is not None)

asyncio.run(main())
{_LOADED}
"""


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tollway.db'}"


async def _revision(url: str) -> str | None:
    database = Database(url)
    try:
        return await current(database)
    finally:
        await database.aclose()


async def test_a_new_database_is_migrated_by_a_child_process(database_url: str) -> None:
    done = await asyncio.to_thread(_python, _PREPARE, database_url)
    assert "upgraded from an empty database" in done.stderr
    assert "loaded: ['sqlalchemy']" in done.stdout  # the check needs SQLAlchemy; the upgrade ran elsewhere
    assert await _revision(database_url) == HEAD


async def test_a_current_database_is_left_alone(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = Database(database_url)
    try:
        await upgrade(database)
    finally:
        await database.aclose()

    def no_child(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("no child process should run for a database at head")

    monkeypatch.setattr(subprocess, "run", no_child)
    await asyncio.to_thread(prepare_database, GatewayConfig(master_key=KEY, database_url=database_url))
    assert capsys.readouterr().err == ""


async def test_a_database_of_a_newer_tollway_stops_the_start(tmp_path: Path) -> None:
    database = Database(_url(tmp_path))
    try:
        await upgrade(database)
        async with database.write() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        await database.aclose()
    config = GatewayConfig(master_key=KEY, database_url=_url(tmp_path))
    with pytest.raises(StartupError, match=r"database migration failed: .*9999_from_the_future"):
        await asyncio.to_thread(prepare_database, config)


def test_an_unopenable_database_stops_the_start_without_its_password(tmp_path: Path) -> None:
    missing = GatewayConfig(master_key=KEY, database_url=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    with pytest.raises(StartupError, match=r"database migration failed: .*unable to open database file"):
        prepare_database(missing)
    unreachable = GatewayConfig(master_key=KEY, database_url="postgresql://tollway:s3cret-pw@127.0.0.1:1/tollway")
    with pytest.raises(StartupError, match="cannot open the database") as raised:
        prepare_database(unreachable)
    assert "s3cret-pw" not in str(raised.value)


def test_no_database_nothing_to_prepare() -> None:
    prepare_database(GatewayConfig(master_key=KEY))  # returns at once: no URL, no check, no child


async def test_a_worker_at_head_never_imports_alembic(tmp_path: Path) -> None:
    await asyncio.to_thread(_python, _PREPARE, _url(tmp_path))
    done = await asyncio.to_thread(_python, _START_APP, _url(tmp_path), str(tmp_path / "spool"))
    assert "governance: True" in done.stdout
    assert "loaded: ['sqlalchemy']" in done.stdout


async def test_a_gateway_without_a_database_never_imports_sqlalchemy(tmp_path: Path) -> None:
    # ~16 MB of a worker's memory: the dashboard and the admin routes reach the store only once one is configured.
    done = await asyncio.to_thread(_python, _START_APP, "", str(tmp_path / "spool"))
    assert "governance: False" in done.stdout
    assert "loaded: []" in done.stdout


# -- the database errors, now imported lazily, still become 503s ----------------------------------------------------


def _unreachable() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("unable to open database file"))


async def test_management_routes_answer_503_when_the_database_is_unreachable() -> None:
    async def work(request: Any, request_id: str) -> NoReturn:
        raise _unreachable()

    with pytest.raises(ServiceUnavailableError, match="unreachable") as raised:
        await translated(work)(None, "req-1")  # type: ignore[arg-type]
    assert raised.value.code == "database_unavailable"


async def test_dashboard_sessions_answer_503_when_the_database_is_unreachable() -> None:
    @asynccontextmanager
    async def broken() -> Any:
        raise _unreachable()
        yield  # pragma: no cover

    governance = SimpleNamespace(stores=SimpleNamespace(database=SimpleNamespace(read=broken, write=broken)))
    sessions = SessionAuth(Authenticator(KEY), lambda: governance, KEY)  # type: ignore[arg-type, return-value]
    with pytest.raises(ServiceUnavailableError, match="unreachable") as raised:
        await sessions.resolve(new_session_id())
    assert raised.value.code == "database_unavailable"
