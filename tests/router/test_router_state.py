"""One suite for every ``RouterState`` implementation (memory and Redis), as uvicorn runs one suite per protocol.

Times come from an injected clock: ``T0`` is the first second of a minute window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tollway.router.deployment import DeploymentStats
from tollway.router.state import RouterState
from tollway.router.state_memory import LATENCY_ALPHA, MemoryState
from tollway.router.state_redis import RedisState

T0 = 60.0 * 28_333_334  # 1_700_000_040.0, the start of a minute
LEASE = 30.0
LATENCY_TTL = 600.0


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[RouterState]:
    """Each implementation with a 30 s in-flight lease and a 600 s latency memory."""
    impl: RouterState
    if request.param == "memory":
        impl = MemoryState(lease_seconds=LEASE, latency_ttl=LATENCY_TTL)
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        impl = RedisState.from_url(url, prefix=prefix, lease_seconds=LEASE, latency_ttl=LATENCY_TTL)
    yield impl
    await impl.aclose()


async def one(state: RouterState, deployment_id: str, now: float) -> DeploymentStats:
    return (await state.stats([deployment_id], now))[deployment_id]


async def take(state: RouterState, deployment_id: str, now: float, **limits: int | None) -> bool:
    return await state.acquire(
        deployment_id, now, rpm_limit=limits.get("rpm_limit"), max_parallel=limits.get("max_parallel")
    )


async def test_acquire_up_to_rpm_limit_then_refuse(state: RouterState) -> None:
    results = [await take(state, "a", T0 + i, rpm_limit=5) for i in range(7)]
    assert results == [True] * 5 + [False] * 2
    stats = await one(state, "a", T0 + 10)
    assert stats.rpm_used == 5  # refusals count nothing
    assert stats.in_flight == 5


async def test_zero_limits_refuse_everything_and_count_nothing(state: RouterState) -> None:
    assert not await take(state, "a", T0, rpm_limit=0)
    assert not await take(state, "a", T0, max_parallel=0)
    assert await one(state, "a", T0) == DeploymentStats()


async def test_no_limits_always_acquire(state: RouterState) -> None:
    assert all([await take(state, "a", T0) for _ in range(100)])
    assert (await one(state, "a", T0)).rpm_used == 100


async def test_negative_limit_is_rejected(state: RouterState) -> None:
    with pytest.raises(ValueError, match="rpm_limit"):
        await take(state, "a", T0, rpm_limit=-1)
    with pytest.raises(ValueError, match="max_parallel"):
        await take(state, "a", T0, max_parallel=-2)


async def test_windows_are_aligned_minutes(state: RouterState) -> None:
    assert await take(state, "a", T0 - 0.001, rpm_limit=1)  # the last instant of the previous minute
    assert await take(state, "a", T0, rpm_limit=1)  # a new window, though only 1 ms later
    assert not await take(state, "a", T0 + 59.999, rpm_limit=1)
    assert (await one(state, "a", T0 + 59.999)).rpm_used == 1


async def test_rpm_window_rolls_over(state: RouterState) -> None:
    for _ in range(3):
        assert await take(state, "a", T0 + 30, rpm_limit=3)
    assert not await take(state, "a", T0 + 59.5, rpm_limit=3)
    assert (await one(state, "a", T0 + 60)).rpm_used == 0
    assert await take(state, "a", T0 + 60, rpm_limit=3)
    assert (await one(state, "a", T0 + 61)).rpm_used == 1


async def test_max_parallel_limits_in_flight(state: RouterState) -> None:
    assert [await take(state, "a", T0, max_parallel=3) for _ in range(4)] == [True, True, True, False]
    assert (await one(state, "a", T0)).in_flight == 3
    await state.release("a", T0 + 1, tokens=0, latency=None, success=True)
    assert (await one(state, "a", T0 + 1)).in_flight == 2
    assert await take(state, "a", T0 + 1, max_parallel=3)
    assert not await take(state, "a", T0 + 1, max_parallel=3)


async def test_release_frees_slots_and_never_goes_negative(state: RouterState) -> None:
    for _ in range(4):
        assert await take(state, "a", T0, max_parallel=4)
    for _ in range(6):  # two more releases than acquires
        await state.release("a", T0 + 2, tokens=1, latency=None, success=True)
    assert (await one(state, "a", T0 + 2)).in_flight == 0
    assert [await take(state, "a", T0 + 3, max_parallel=2) for _ in range(3)] == [True, True, False]


async def test_unreleased_slot_expires_with_its_lease(state: RouterState) -> None:
    assert await take(state, "a", T0, max_parallel=1)  # never released: its holder crashed
    assert not await take(state, "a", T0 + LEASE - 0.5, max_parallel=1)
    assert (await one(state, "a", T0 + LEASE - 0.5)).in_flight == 1
    assert (await one(state, "a", T0 + LEASE)).in_flight == 0
    assert await take(state, "a", T0 + LEASE, max_parallel=1)


async def test_release_frees_a_live_lease_not_an_expired_one(state: RouterState) -> None:
    assert await take(state, "a", T0, max_parallel=5)  # stuck, expires at T0 + 30
    assert await take(state, "a", T0 + 20, max_parallel=5)
    await state.release("a", T0 + LEASE + 1, tokens=0, latency=None, success=True)
    assert (await one(state, "a", T0 + LEASE + 1)).in_flight == 0


async def test_tpm_accumulates_in_the_window_of_release(state: RouterState) -> None:
    for tokens in (100, 250, 0):
        assert await take(state, "a", T0)
        await state.release("a", T0 + 5, tokens=tokens, latency=None, success=True)
    assert (await one(state, "a", T0 + 6)).tpm_used == 350
    assert await take(state, "a", T0 + 50)
    await state.release("a", T0 + 70, tokens=40, latency=None, success=True)  # finished in the next minute
    assert (await one(state, "a", T0 + 59)).tpm_used == 350
    assert (await one(state, "a", T0 + 70)).tpm_used == 40


async def test_latency_is_an_ewma(state: RouterState) -> None:
    assert (await one(state, "a", T0)).latency is None
    expected: float | None = None
    for i, sample in enumerate((1.0, 2.0, 4.0, 0.5)):
        await state.release("a", T0 + i, tokens=0, latency=sample, success=True)
        expected = sample if expected is None else LATENCY_ALPHA * sample + (1 - LATENCY_ALPHA) * expected
        assert (await one(state, "a", T0 + i)).latency == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.3 * 0.5 + 0.7 * (0.3 * 4.0 + 0.7 * 1.3))


async def test_latency_ignores_failures_and_missing_samples(state: RouterState) -> None:
    await state.release("a", T0, tokens=0, latency=2.0, success=True)
    await state.release("a", T0 + 1, tokens=0, latency=100.0, success=False)
    await state.release("a", T0 + 2, tokens=0, latency=None, success=True)
    assert (await one(state, "a", T0 + 3)).latency == pytest.approx(2.0)


async def test_latency_is_forgotten_after_its_ttl(state: RouterState) -> None:
    await state.release("a", T0, tokens=0, latency=9.0, success=True)
    assert (await one(state, "a", T0 + LATENCY_TTL - 1)).latency == pytest.approx(9.0)
    assert (await one(state, "a", T0 + LATENCY_TTL)).latency is None
    await state.release("a", T0 + LATENCY_TTL + 1, tokens=0, latency=1.0, success=True)
    assert (await one(state, "a", T0 + LATENCY_TTL + 1)).latency == pytest.approx(1.0)  # a fresh start


async def test_failures_counted_per_window(state: RouterState) -> None:
    await state.release("a", T0 + 1, tokens=5, latency=None, success=False)
    await state.release("a", T0 + 2, tokens=0, latency=1.0, success=False)
    await state.release("a", T0 + 3, tokens=0, latency=1.0, success=True)
    stats = await one(state, "a", T0 + 4)
    assert (stats.failures, stats.tpm_used, stats.latency) == (2, 5, 1.0)  # failed calls' latency ignored
    assert (await one(state, "a", T0 + 60)).failures == 0


async def test_cool_down_never_shortens(state: RouterState) -> None:
    await state.cool_down("a", T0 + 30)
    await state.cool_down("a", T0 + 10)
    assert (await one(state, "a", T0)).cooldown_until == T0 + 30
    await state.cool_down("a", T0 + 50.5)
    assert (await one(state, "a", T0)).cooldown_until == T0 + 50.5
    assert (await one(state, "a", T0 + 50.5)).cooldown_until is None


async def test_cooldowns_lists_only_live_ones(state: RouterState) -> None:
    assert await state.cooldowns(T0) == {}
    await state.cool_down("a", T0 + 10)
    await state.cool_down("b", T0 + 20.25)
    assert await state.cooldowns(T0) == {"a": T0 + 10, "b": T0 + 20.25}
    assert await state.cooldowns(T0 + 10) == {"b": T0 + 20.25}
    assert await state.cooldowns(T0 + 21) == {}
    await state.cool_down("a", T0 + 100)  # a new cooldown after an ended one
    assert await state.cooldowns(T0 + 21) == {"a": T0 + 100}


async def test_stats_of_unknown_ids_are_zero(state: RouterState) -> None:
    assert await state.stats([], T0) == {}
    assert await state.stats(["nobody", "nobody-else"], T0) == {
        "nobody": DeploymentStats(),
        "nobody-else": DeploymentStats(),
    }


async def test_stats_keep_deployments_apart(state: RouterState) -> None:
    assert await take(state, "a", T0)
    assert await take(state, "a", T0)
    await state.release("a", T0 + 1, tokens=7, latency=0.25, success=True)
    await state.cool_down("b", T0 + 5)
    stats = await state.stats(["a", "b", "c", "a"], T0 + 1)
    assert stats == {
        "a": DeploymentStats(rpm_used=2, tpm_used=7, in_flight=1, latency=0.25),
        "b": DeploymentStats(cooldown_until=T0 + 5),
        "c": DeploymentStats(),
    }


async def test_ids_with_separators_and_braces_are_distinct(state: RouterState) -> None:
    ids = ["x:1", "x", "{x}", "x}:1"]
    for deployment_id in ids:
        assert await take(state, deployment_id, T0, rpm_limit=1)
    stats = await state.stats(ids, T0)
    assert [s.rpm_used for s in stats.values()] == [1, 1, 1, 1]


async def test_a_late_clock_reading_does_not_wipe_the_new_window(state: RouterState) -> None:
    assert await take(state, "a", T0 + 60.01, rpm_limit=2)  # one task already in the next minute
    assert await take(state, "a", T0 + 59.99, rpm_limit=2)  # another read the clock just before the boundary
    assert await take(state, "a", T0 + 60.02, rpm_limit=2)
    assert not await take(state, "a", T0 + 60.03, rpm_limit=2)
    assert (await one(state, "a", T0 + 60.03)).rpm_used == 2
    assert (await one(state, "a", T0 + 59.99)).rpm_used == 1
