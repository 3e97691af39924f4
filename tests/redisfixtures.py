"""Redis fixtures for every test that needs the real Redis (127.0.0.1:6379 on development and CI machines).

``redis_url`` skips on a developer machine without Redis (with a message naming what to start) and fails under CI
(``CI`` set), so the shared-state tests can never be skipped silently there; ``redis_prefix`` is a key prefix no other
test uses, whose keys are deleted after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("TOLLWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL (see the module docstring)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        message = (
            f"Redis is unreachable at {REDIS_URL} ({exc}); start it with `redis-server --port 6379` "
            "(or `docker run -p 6379:6379 redis:7`), or point TOLLWAY_TEST_REDIS_URL at one"
        )
        if _under_ci():
            pytest.fail(f"CI is set, so the Redis tests must run: {message}", pytrace=False)
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted after the test."""
    import redis

    prefix = f"tollway-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
