"""A private event loop on a daemon thread, so the sync API shares the async core and its connection pool.

Running the async core on its own thread (rather than ``asyncio.run`` per call) keeps one pooled session for
every sync call and works even when the caller already runs an event loop (a notebook, a sync handler inside
an async server).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

_T = TypeVar("_T")


class LoopThread:
    """Starts its thread on first use; ``stop()`` ends it."""

    def __init__(self, name: str = "tollway-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started if needed."""
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop thread and wait for its result (exceptions propagate)."""
        if self._thread is not None and threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a tollway sync call was made from tollway's own loop thread; use the async API")
        if self._loop is None and self._thread is not None:
            coro.close()
            raise RuntimeError("this tollway client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self, final: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run ``final`` (a cleanup coroutine) on the loop, then stop and close it."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            if final is not None:
                final.close()
            return
        try:
            if final is not None:
                asyncio.run_coroutine_threadsafe(final, loop).result()
            asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = None
