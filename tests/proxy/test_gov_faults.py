"""Governance under faults, through the whole gateway: PostgreSQL unreachable during load (requests go on, spend rows
are spooled and all arrive once it is back), and ``kill -9`` of a ``tollway serve`` under load (no row of a request
that was answered 200 is lost)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from test_gov_e2e import CHAT, bearer, config, new_key, running

from forwarder import Forwarder
from tollway.governance.service import Governance
from tollway.storage.database import Database
from tollway.storage.spend_store import SpendStore

MASTER = "sk-test-master-key-0123456789"


async def stored_request_ids(governance: Governance) -> set[str]:
    ids: set[str] = set()
    page = 1
    while True:
        rows, total = await governance.stores.spend.logs(page=page, page_size=1000)
        ids |= {row.request_id for row in rows}
        if page * 1000 >= total:
            return ids
        page += 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgres_outage_keeps_serving_and_every_spend_row_arrives(database_url: str, tmp_path: Path) -> None:
    url = make_url(database_url)
    forwarder = Forwarder(url.host or "127.0.0.1", url.port or 5432)
    await forwarder.start()
    through = url.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False)
    try:
        async with running(config(through, tmp_path / "spool")) as (_, client, governance):
            key = await new_key(governance)
            sent: list[str] = []

            async def call() -> int:
                request_id = uuid.uuid4().hex
                answer = await client.post(
                    "/v1/chat/completions", json=CHAT, headers={**bearer(key), "x-request-id": request_id}
                )
                if answer.status_code == 200:
                    sent.append(request_id)
                return answer.status_code

            assert await call() == 200  # the key is now cached
            await forwarder.stop()
            statuses = await asyncio.gather(*(call() for _ in range(30)))
            assert set(statuses) == {200}, "requests must go on while the database is unreachable"
            for _ in range(100):
                if governance.writer.outage:
                    break
                await asyncio.sleep(0.05)
            assert governance.writer.outage
            assert governance.writer.spooled() > 0
            await forwarder.start()
            for _ in range(300):
                if await _stored(governance) >= set(sent):
                    break
                await asyncio.sleep(0.1)
            assert await stored_request_ids(governance) >= set(sent)
            assert len(sent) == 31
    finally:
        await forwarder.stop()


async def _stored(governance: Governance) -> set[str]:
    try:
        await governance.writer.flush()
        return await stored_request_ids(governance)
    except Exception:  # still reconnecting
        return set()


def test_kill_9_under_load_loses_no_answered_row(tmp_path: Path) -> None:
    env = {**os.environ, "TOLLWAY_MASTER_KEY": MASTER}
    answered: list[str] = []
    process, url = _serve(tmp_path, env)
    try:
        asyncio.run(_load_then_kill(url, process, answered))
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    assert len(answered) >= 20
    process, url = _serve(tmp_path, env)  # the restart replays the dead process's spool
    try:
        deadline = time.monotonic() + 30
        while True:
            missing = set(answered) - asyncio.run(_ids(tmp_path / "tollway.db"))
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not missing, f"{len(missing)} answered requests have no spend row"
    finally:
        process.terminate()
        process.wait(15)


def _serve(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    from test_proxy_serve import _wait_ready, free_port

    port = free_port()
    command = [sys.executable, "-m", "tollway.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, process)  # type: ignore[arg-type]
    return process, url


async def _load_then_kill(url: str, process: subprocess.Popen[bytes], answered: list[str]) -> None:
    body = {"model": "mock/demo", "messages": [{"role": "user", "content": "hi"}], "user": "acme"}
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {MASTER}"}) as client:
        enough = asyncio.Event()

        async def worker() -> None:
            while process.poll() is None:
                request_id = uuid.uuid4().hex
                try:
                    answer = await client.post("/v1/chat/completions", json=body, headers={"x-request-id": request_id})
                except httpx.TransportError:
                    return
                if answer.status_code == 200:
                    answered.append(request_id)
                    if len(answered) >= 200:
                        enough.set()

        workers = [asyncio.create_task(worker()) for _ in range(8)]
        await enough.wait()
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.gather(*workers)


async def _ids(database_file: Path) -> set[str]:
    database = Database(f"sqlite:///{database_file}")
    try:
        store = SpendStore(database)
        ids: set[str] = set()
        page = 1
        while True:
            rows, total = await store.logs(page=page, page_size=1000)
            ids |= {row.request_id for row in rows}
            if page * 1000 >= total:
                return ids
            page += 1
    finally:
        await database.aclose()
