"""The garbage collector of ``tollway serve``: frozen and given a higher young threshold once the app has started
(``tollway.proxy.gc_tuning``), unless ``general_settings.gc_tuning`` is false; nothing of it in other processes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.gc_tuning import YOUNG_THRESHOLD, tune_collector, tuned_after_start
from tollway.proxy.serve import SERVE_ENV_DEFAULTS, STATE_ENV, serve, worker_app, write_state
from tollway.proxy.settings import GatewaySettings, StartupError

KEY = "sk-gc-tuning-master-key-0123456789"
MODELS = ({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},)


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, whatever the test did to it."""
    threshold = gc.get_threshold()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_tune_collector_freezes_and_raises_only_the_young_threshold(collector: None) -> None:
    gc.set_threshold(700, 11, 12)
    tune_collector()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)
    gc.set_threshold(50_000, 10, 10)  # an operator's higher threshold is never lowered
    tune_collector(young=1000)
    assert gc.get_threshold() == (50_000, 10, 10)


def test_the_collector_is_tuned_after_the_app_started_not_before(collector: None) -> None:
    seen: list[tuple[str, int]] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seen.append(("starting", gc.get_freeze_count()))
        yield
        seen.append(("stopping", gc.get_freeze_count()))

    app = tuned_after_start(Starlette(lifespan=lifespan))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            seen.append(("serving", gc.get_freeze_count()))

    asyncio.run(run())
    assert [stage for stage, _ in seen] == ["starting", "serving", "stopping"]
    assert seen[0][1] == 0
    assert seen[1][1] > 0  # what start-up made is frozen before the first request
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


def test_a_failed_start_tunes_nothing(collector: None) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("the database is down")
        yield  # pragma: no cover

    app = tuned_after_start(Starlette(lifespan=lifespan))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover

    with pytest.raises(RuntimeError, match="database is down"):
        asyncio.run(run())
    assert gc.get_freeze_count() == 0


def _served(monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any]) -> tuple[int, tuple[int, int, int]]:
    """Serve (uvicorn replaced by running the app's start-up and shut-down): the frozen objects and the thresholds
    the served app left in this process."""
    import uvicorn

    for name in SERVE_ENV_DEFAULTS:  # serve() sets them: recorded first, so the test's end restores them
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    monkeypatch.setenv("TOLLWAY_PRICE_LOOKUP", "process")
    apps: list[Starlette] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: apps.append(app))
    serve(GatewayConfig(model_list=MODELS, master_key=KEY, settings=settings), port=0)
    [app] = apps

    async def run() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(run())
    return gc.get_freeze_count(), gc.get_threshold()


def test_serve_tunes_the_collector_of_the_serving_process(collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    gc.set_threshold(700, 10, 10)
    frozen, threshold = _served(monkeypatch, {})
    assert frozen > 0
    assert threshold == (YOUNG_THRESHOLD, 10, 10)


def test_gc_tuning_false_keeps_pythons_defaults(collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    gc.set_threshold(700, 10, 10)
    frozen, threshold = _served(monkeypatch, {"gc_tuning": False})
    assert frozen == 0
    assert threshold == (700, 10, 10)


def test_each_worker_tunes_its_own_collector(collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_PRICE_LOOKUP", "process")
    for settings, tuned in (({}, True), ({"gc_tuning": False}, False)):
        gc.unfreeze()
        path = write_state(GatewayConfig(model_list=MODELS, master_key=KEY, settings=settings), dev=False)
        monkeypatch.setenv(STATE_ENV, path)
        try:
            app = worker_app()

            async def run(app: Starlette = app) -> None:
                async with app.router.lifespan_context(app):
                    pass

            asyncio.run(run())
        finally:
            os.unlink(path)
        assert (gc.get_freeze_count() > 0) is tuned


@pytest.mark.parametrize("value", ["yes", 1, "false"])
def test_gc_tuning_must_be_a_boolean(value: object) -> None:
    with pytest.raises(StartupError, match=r"general_settings\.gc_tuning must be true or false"):
        GatewaySettings.from_config(GatewayConfig(master_key=KEY, settings={"gc_tuning": value}))


def test_gc_tuning_defaults_to_on() -> None:
    assert GatewaySettings.from_config(GatewayConfig(master_key=KEY)).gc_tuning is True
    off = GatewaySettings.from_config(GatewayConfig(master_key=KEY, settings={"gc_tuning": False}))
    assert off.gc_tuning is False


def test_gc_tuning_from_a_config_file() -> None:
    from tollway.errors import ConfigurationError
    from tollway.proxy.config import config_from_mapping

    config = config_from_mapping({"general_settings": {"master_key": KEY, "gc_tuning": False}}, {})
    assert GatewaySettings.from_config(config).gc_tuning is False
    with pytest.raises(ConfigurationError, match="gc_tuning"):
        config_from_mapping({"general_settings": {"master_key": KEY, "gc_tuning": "off"}}, {})
