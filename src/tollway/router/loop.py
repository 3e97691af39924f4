"""The router's thin loop: pick a deployment, call it, record what happened, retry, cool down, fall back.

Everything that decides is a pure policy (strategies, cooldown, retry_policy, fallbacks); everything that
remembers is the shared ``RouterState``; this module only sequences them around ``Client`` calls.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tollway.errors import AllAttemptsFailedError, RateLimitError, TollwayError
from tollway.router.cooldown import CooldownPolicy
from tollway.router.deployment import Deployment
from tollway.router.fallbacks import FallbackPlan
from tollway.router.retry_policy import RouterRetryPolicy
from tollway.router.state import RouterState
from tollway.streaming import AsyncCompletionStream
from tollway.types import ChatCompletion, EmbeddingResponse, RerankResponse, ResponseMeta

__all__ = ["Attempt", "RouterLoop"]

# The answer of one deployment call: a whole response or a stream (primed: its first chunk is in).
Answer = ChatCompletion | EmbeddingResponse | RerankResponse | AsyncCompletionStream
Call = Callable[[Deployment], Awaitable[Answer]]
# pick(group, deployments, tags, avoid): choose and reserve a deployment, preferring ones not in ``avoid``.
Pick = Callable[[str, Sequence[Deployment], frozenset[str], frozenset[str]], Awaitable[Deployment | None]]


@dataclass(slots=True)
class Attempt:
    """The trail of one routed request: every error seen, and the groups already tried."""

    errors: list[TollwayError] = field(default_factory=list)
    tried_groups: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RouterLoop:
    """Sequences one request over a model group, then its fallbacks."""

    state: RouterState
    cooldown: CooldownPolicy
    retries: RouterRetryPolicy
    fallbacks: FallbackPlan
    clock: Callable[[], float]
    rng: random.Random
    pick: Pick
    max_fallbacks: int = 5

    async def run(
        self,
        model_group: str,
        groups: Callable[[str], Sequence[Deployment]],
        call: Call,
        *,
        tags: frozenset[str] = frozenset(),
        fallbacks: Sequence[str] = (),
        num_retries: int | None = None,
    ) -> Answer:
        """Serve ``model_group``; on failure walk its fallback chain (``fallbacks`` given with the request come
        first); all failing → ``AllAttemptsFailedError`` keeping every attempt's error."""
        attempt = Attempt()
        queue = [model_group, *fallbacks]
        while queue:
            group = queue.pop(0)
            attempt.tried_groups.append(group)
            deployments = groups(group)  # an unknown group is the caller's error (NotFoundError), not an attempt
            try:
                answer = await self._serve_group(group, deployments, call, attempt, tags=tags, retries=num_retries)
            except TollwayError as error:
                following = [g for g in self.fallbacks.next_groups(group, error) if g not in attempt.tried_groups]
                budget = self.max_fallbacks - (len(attempt.tried_groups) - 1)
                queue = [g for g in following if g not in queue][: max(budget, 0)] + queue
                continue
            _annotate(answer, group, attempt)
            return answer
        if len(attempt.errors) == 1:
            raise attempt.errors[0]
        raise AllAttemptsFailedError(
            f"every deployment of {model_group!r}"
            + (f" and its fallbacks {attempt.tried_groups[1:]}" if len(attempt.tried_groups) > 1 else "")
            + f" failed ({len(attempt.errors)} attempts; last: {attempt.errors[-1]})",
            attempt.errors,
            model=model_group,
        )

    async def _serve_group(
        self,
        group: str,
        deployments: Sequence[Deployment],
        call: Call,
        attempt: Attempt,
        *,
        tags: frozenset[str],
        retries: int | None,
    ) -> Answer:
        tries = 0
        failed: set[str] = set()
        while True:
            # A retry goes to another deployment when the group has one (the failed one may be fine again later).
            deployment = await self.pick(group, deployments, tags, frozenset(failed))
            if deployment is None:
                error = RateLimitError(
                    f"no deployment of {group!r} is available (all cooling down or at their limits)", model=group
                )
                attempt.errors.append(error)
                raise error
            started = self.clock()
            try:
                answer = await call(deployment)
            except TollwayError as error:
                attempt.errors.append(error)
                failed.add(deployment.id)
                await self._failed(deployment, error, len(deployments))
                if tries >= self._retries_for(error, retries):
                    raise
                tries += 1
                await asyncio.sleep(self._wait(error, tries, deployments))
                continue
            await self._succeeded(deployment, answer, self.clock() - started)
            return answer

    def _retries_for(self, error: TollwayError, override: int | None) -> int:
        # A request's own num_retries replaces the router's count for errors worth retrying (LiteLLM's rule).
        if override is None:
            return self.retries.retries_for(error)
        return override if error.retryable else 0

    def _wait(self, error: TollwayError, tries: int, deployments: Sequence[Deployment]) -> float:
        # With other deployments in the group the next pick can avoid the failed one: retry at once; a lone
        # deployment gets the backoff curve, honouring retry-after.
        return self.retries.backoff(error, tries - 1, self.rng, healthy_left=len(deployments) - 1)

    async def _failed(self, deployment: Deployment, error: TollwayError, group_size: int) -> None:
        now = self.clock()
        await self.state.release(deployment.id, now, tokens=0, latency=None, success=False)
        failures = (await self.state.stats([deployment.id], now))[deployment.id].failures
        seconds = self.cooldown.after_error(error, failures, group_size)
        if seconds is not None and seconds > 0:
            await self.state.cool_down(deployment.id, now + seconds)

    async def _succeeded(self, deployment: Deployment, answer: Answer, latency: float) -> None:
        answer_meta = answer.meta
        if answer_meta is not None:
            answer_meta.deployment_id = deployment.id
        if isinstance(answer, AsyncCompletionStream):
            # ``latency`` here is the time to the first chunk (the client returns a primed stream): exactly what
            # latency-based routing should rank streams by. Tokens are known only when the stream closes.
            state, clock, deployment_id = self.state, self.clock, deployment.id

            async def release(stream: AsyncCompletionStream) -> None:
                usage = stream.meta.usage
                tokens = usage.total_tokens if usage is not None else 0
                await state.release(deployment_id, clock(), tokens=tokens, latency=latency, success=True)

            answer.add_close_callback(release)
            return
        usage = answer_meta.usage if answer_meta is not None else None
        tokens = usage.total_tokens if usage is not None else 0
        await self.state.release(deployment.id, self.clock(), tokens=tokens, latency=latency, success=True)


def _annotate(answer: Any, group: str, attempt: Attempt) -> None:
    meta: ResponseMeta | None = answer.meta
    if meta is not None:
        meta.model_group = group
        meta.attempt_errors = list(attempt.errors)
        meta.attempts = len(attempt.errors) + 1
