"""The cyclic garbage collector of a serving process, tuned once the gateway has started (``tollway serve``).

A gateway's heap is mostly what start-up made and what lives as long as the process: modules, the app, the schema,
price data (about 90,000 objects the collector tracks). Each request's own objects are freed by reference counting;
the collector is only for reference cycles, of which a request makes few. With Python's default thresholds (700, 10,
10), a served gateway still collected often under load, and each full collection walked the whole heap: the
objects of the requests in flight (and, with a store, the spend rows held until their batch is written) outlive
young collections and are promoted, and ``gc.callbacks`` timing one gateway with the SQLite store and a virtual key
(wrk, 32 connections, ~3,000 requests/s) showed ~190 collections a second, 1.5 of them full ones of ~37 ms each:
about 29 µs of CPU per request, and pauses of that length in the latency's tail (bench/RESULTS.md, session of
2026-11-27 21:36).

So, once start-up is over, ``tune_collector`` collects once and freezes the survivors (``gc.freeze()``: the
collector never walks them again; what start-up leaves is meant to live as long as the process), and raises the
youngest generation's threshold from 700 to ``YOUNG_THRESHOLD`` allocations, so the young collections run a few
times a minute under load instead of hundreds of times a second. Garbage in cycles is still collected, later: at most
that many allocations later for the young generation. ``general_settings.gc_tuning: false`` keeps Python's defaults.

Only ``tollway serve`` does this (``tuned_after_start``): the collector is the process's, and a process that builds
the app for something else (tests, an embedding program) keeps its own settings.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

__all__ = ["YOUNG_THRESHOLD", "tune_collector", "tuned_after_start"]

YOUNG_THRESHOLD = 10_000  # allocations (less deallocations) of tracked objects between young collections


def tune_collector(young: int = YOUNG_THRESHOLD) -> None:
    """Collect, freeze what is left (start-up's objects), and let ``young`` allocations pass between young
    collections (never fewer than the current threshold). The older generations' thresholds are kept."""
    gc.collect()
    gc.freeze()
    current, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, current), middle, old)


def tuned_after_start(app: Starlette) -> Starlette:
    """``app``, whose lifespan calls ``tune_collector`` once its own start-up is complete (before the first request
    is served); no cost on the request path."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(started: Starlette) -> AsyncIterator[Any]:
        async with inner(started) as state:
            tune_collector()
            yield state

    app.router.lifespan_context = lifespan
    return app
