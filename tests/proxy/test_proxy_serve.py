"""``tollway serve`` as a real process, and the state file that carries the config to workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tollway.cli import main
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.serve import load_state, write_state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """Run ``tollway serve`` until ready; the list receives its stderr once it has stopped."""
    port = free_port()
    command = [sys.executable, "-m", "tollway.cli", "serve", "--port", str(port), *args]
    url = f"http://127.0.0.1:{port}"
    stderr: list[str] = []
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd) as process:
        try:
            _wait_ready(url, process)
            yield url, stderr
        finally:
            process.terminate()
            stderr.append(process.communicate(timeout=15)[1])


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx.get(url + "/health/liveliness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the gateway did not become ready"
        time.sleep(0.05)


def test_serve_dev_subprocess_answers(tmp_path: Path) -> None:
    with serving("--dev", cwd=str(tmp_path)) as (url, stderr):
        body = {"model": "mock/demo", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 200
    err = stderr[0]
    assert "authentication is OFF" in err
    assert url in err


def test_serve_two_workers_with_master_key(tmp_path: Path) -> None:
    key = "sk-serve-test-key-0123456789"
    env = {**os.environ, "TOLLWAY_MASTER_KEY": key}
    # Its store: SQLite in the working directory, migrated once although two workers start together.
    with serving("--workers", "2", env=env, cwd=str(tmp_path)) as (url, stderr):
        assert httpx.get(url + "/v1/models").status_code == 401
        models = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {key}"}).json()
        assert [m["id"] for m in models["data"]] == ["mock/*"]
        made = httpx.post(url + "/key/generate", json={"key_alias": "w"}, headers={"authorization": f"Bearer {key}"})
        virtual = made.json()["key"]
        body = {"model": "mock/demo", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(4):  # both workers, whichever answers, know the key (from the shared database)
            answer = httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {virtual}"})
            assert answer.status_code == 200
    assert key not in stderr[0]
    assert "store: sqlite" in stderr[0]
    assert (tmp_path / "tollway.db").exists()


def test_bare_serve_generates_a_master_key_once_and_requires_it(tmp_path: Path) -> None:
    # The README's first command on a fresh machine: no key configured. The gateway must start, and must not be open.
    env = {k: v for k, v in os.environ.items() if k != "TOLLWAY_MASTER_KEY"}
    with serving(env=env, cwd=str(tmp_path)) as (url, stderr):
        assert httpx.get(url + "/v1/models").status_code == 401
    saved = (tmp_path / ".tollway" / "master.key").read_text().strip()
    assert saved.startswith("sk-tollway-")
    assert len(saved) > 40
    assert (tmp_path / ".tollway" / "master.key").stat().st_mode & 0o077 == 0
    assert saved in stderr[0]  # shown once, when generated
    with serving(env=env, cwd=str(tmp_path)) as (url, stderr):
        answer = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {saved}"})
        assert answer.status_code == 200
    assert saved not in stderr[0]  # not shown again


def test_serve_refuses_a_weak_master_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_MASTER_KEY", "short")
    assert main(["serve", "--port", "1"]) == 1
    assert "too short" in capsys.readouterr().err


def test_state_file_round_trip() -> None:
    config = GatewayConfig(
        model_list=({"model_name": "m", "litellm_params": {"model": "mock/m"}},), master_key="k" * 20, unknown=("x",)
    )
    path = write_state(config, dev=True)
    try:
        assert os.stat(path).st_mode & 0o077 == 0  # secrets: owner-only
        assert load_state(path) == (config, True)
    finally:
        os.unlink(path)


def test_serve_sets_its_environment_defaults_unless_the_operator_did(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prices looked up in child processes (genai-prices out of the workers, ~13 MB) and
    # MIMALLOC_ARENA_EAGER_COMMIT=0 before the upstream client loads (6-7 MB with pyreqwest): bench/RESULTS.md.
    # A value the operator set is kept.
    import uvicorn

    from tollway.proxy.serve import SERVE_ENV_DEFAULTS, serve

    names = list(SERVE_ENV_DEFAULTS)
    seen: list[list[str | None]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.append([os.environ.get(n) for n in names]))
    for name in names:
        monkeypatch.setenv(name, "placeholder")  # so that the test's end restores the original
        monkeypatch.delenv(name)
    models = ({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},)
    config = GatewayConfig(model_list=models, master_key="sk-serve-env-master-key-0123456789")
    serve(config, port=free_port())
    for name in names:
        monkeypatch.setenv(name, "mine")
    serve(config, port=free_port())
    assert seen == [["subprocess", "0"], ["mine", "mine"]]
