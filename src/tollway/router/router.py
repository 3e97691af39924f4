"""``tollway.Router``: LiteLLM's ``Router(model_list=[...], **router_settings)`` over tollway's client.

Spreads calls over the deployments of a model group with a routing strategy, retries and cools down failing
deployments, falls back to other groups, and caches answers; counters and cooldowns live in a ``RouterState`` that
several routers (gateway workers, machines) can share through Redis.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from tollway.client import Client
from tollway.errors import BadRequestError, NotFoundError, TollwayError
from tollway.loop_thread import LoopThread
from tollway.router.cache import CacheStore
from tollway.router.config import RouterSettings, parse_model_list, parse_router_settings
from tollway.router.cooldown import soonest_recovery
from tollway.router.deployment import Deployment, DeploymentStats
from tollway.router.loop import Answer, RouterLoop
from tollway.router.response_cache import ResponseCache
from tollway.router.state import RouterState
from tollway.router.strategies import choose, strategy_for
from tollway.streaming import AsyncCompletionStream, CompletionStream
from tollway.types import ChatCompletion, EmbeddingResponse, RerankResponse

__all__ = ["Router"]

# Parameters that steer the router itself; never forwarded to a deployment.
_ROUTER_PARAMS = ("cache", "fallbacks", "tags", "num_retries", "max_retries")
_MAX_REQUEST_RETRIES = 10


class Router:
    """Route OpenAI-shaped calls over ``model_list`` (LiteLLM's shape) with ``router_settings`` (LiteLLM's names).

    ``state`` and ``cache_store`` replace the stores chosen from the settings (``redis_url`` → shared Redis state);
    ``client`` replaces the HTTP client; ``clock``/``rng`` make tests deterministic. Configuration problems raise
    ``ConfigurationError`` naming the entry, here, before any request.
    """

    def __init__(
        self,
        model_list: Sequence[Mapping[str, Any]],
        *,
        client: Client | None = None,
        state: RouterState | None = None,
        cache_store: CacheStore | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        **router_settings: Any,
    ) -> None:
        env = os.environ if environ is None else environ
        self.settings: RouterSettings = parse_router_settings(**router_settings)
        self.deployments: tuple[Deployment, ...] = parse_model_list(model_list, env)
        self._groups = _groups(self.deployments)
        self._fallbacks = self.settings.fallback_plan(list(self._groups))
        self._client = client or Client(num_retries=0, environ=env, timeout=self.settings.timeout)
        self._state = state or _state_from(self.settings)
        self._cache = ResponseCache.from_settings(self.settings, cache_store, clock)
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311  # load balancing, not cryptography
        self._strategy = strategy_for(self.settings.routing_strategy, self.settings.routing_strategy_args)
        self._thread = LoopThread("tollway-router")
        self._loop = RouterLoop(
            state=self._state,
            cooldown=self.settings.cooldown,
            retries=self.settings.retry_policy,
            fallbacks=self._fallbacks,
            clock=clock,
            rng=self._rng,
            pick=self._pick,
            max_fallbacks=self.settings.max_fallbacks,
        )

    # -- public API -----------------------------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        """The model groups this router serves (wildcard groups included as written)."""
        return list(self._groups)

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> ChatCompletion | AsyncCompletionStream:
        """A chat completion from a deployment of the group ``model`` (or its fallbacks)."""
        request = {"messages": messages, **params}
        cached = await self._cache.lookup(model, request)
        if cached is not None:
            return cached
        answer = await self._route(model, request, self._chat)
        assert isinstance(answer, ChatCompletion | AsyncCompletionStream)
        await self._cache.store(model, request, answer)
        return answer

    def completion(
        self, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> ChatCompletion | CompletionStream:
        """Blocking ``acompletion``."""
        result = self._thread.run(self.acompletion(model, messages, **params))
        if isinstance(result, AsyncCompletionStream):
            return CompletionStream(result, self._thread)
        return result

    async def aembedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        """Embeddings from a deployment of the group ``model``."""
        answer = await self._route(model, {"input": input, **params}, self._embed)
        assert isinstance(answer, EmbeddingResponse)
        return answer

    async def arerank(self, model: str, query: str, documents: list[Any], **params: Any) -> RerankResponse:
        """Documents ranked by a deployment of the group ``model`` (Cohere's shape; retries and fallbacks apply)."""
        answer = await self._route(model, {"query": query, "documents": documents, **params}, self._rerank)
        assert isinstance(answer, RerankResponse)
        return answer

    def rerank(self, model: str, query: str, documents: list[Any], **params: Any) -> RerankResponse:
        """Blocking ``arerank``."""
        return self._thread.run(self.arerank(model, query, documents, **params))

    def embedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        """Blocking ``aembedding``."""
        return self._thread.run(self.aembedding(model, input, **params))

    async def acooldowns(self) -> dict[str, float]:
        """Deployments cooling down now (id → UNIX time of recovery); LiteLLM users asked for this (#25504)."""
        return await self._state.cooldowns(self._clock())

    def cooldowns(self) -> dict[str, float]:
        """Blocking ``acooldowns``."""
        return self._thread.run(self.acooldowns())

    async def aclose(self) -> None:
        """Close the client's pool (of the running loop) and the stores."""
        await self._client.aclose()
        await self._state.aclose()
        await self._cache.aclose()

    def close(self) -> None:
        """Close everything the sync API opened."""
        self._thread.stop(self.aclose())
        self._client.close()

    # -- routing --------------------------------------------------------------------------------------------

    def _group(self, model: str) -> Sequence[Deployment]:
        exact = self._groups.get(model)
        if exact:
            return exact
        for pattern, deployments in self._groups.items():
            if "*" in pattern and fnmatch.fnmatchcase(model, pattern):
                return deployments
        known = ", ".join(sorted(self._groups)) or "none"
        raise NotFoundError(f"no model group named {model!r} in this router (known: {known})", model=model)

    async def _route(self, model: str, request: dict[str, Any], call: Callable[..., Any]) -> Answer:
        params = {k: v for k, v in request.items() if k not in _ROUTER_PARAMS}
        tags = _tags(request)

        async def attempt(deployment: Deployment) -> Answer:
            result: Answer = await call(deployment, model, params)
            return result

        retries = request.get("num_retries", request.get("max_retries"))
        if retries is not None and (
            not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= _MAX_REQUEST_RETRIES
        ):
            # Bounded: a caller must not be able to turn one request into hundreds of upstream calls.
            raise BadRequestError(
                f"'num_retries' must be an integer from 0 to {_MAX_REQUEST_RETRIES}", param="num_retries"
            )
        fallbacks = _request_fallbacks(request, self._group)
        return await self._loop.run(model, self._group, attempt, tags=tags, fallbacks=fallbacks, num_retries=retries)

    async def _chat(self, deployment: Deployment, model: str, params: dict[str, Any]) -> Answer:
        call_params = dict(deployment.call_params)
        target = _expand(deployment.model, model) if _wildcard(deployment.model) else deployment.model
        streaming = bool(params.get("stream"))
        timeout = (deployment.stream_timeout or self.settings.stream_timeout) if streaming else None
        timeout = timeout or deployment.timeout
        if timeout is not None and "timeout" not in params:
            call_params["timeout"] = timeout
        messages = params.get("messages") or []
        if self.settings.enable_pre_call_checks:
            _check_context_window(deployment, target, messages)
        rest = {k: v for k, v in params.items() if k != "messages"}
        # A request's own value replaces the deployment's (LiteLLM's rule) rather than colliding with it. The loop
        # retries across the group; a deployment's own ``num_retries`` (LiteLLM's litellm_params) retries that
        # deployment inside the call, as LiteLLM's does; without one the call itself never retries.
        return await self._client.acompletion(target, messages, **{"num_retries": 0, **call_params, **rest})

    async def _embed(self, deployment: Deployment, model: str, params: dict[str, Any]) -> Answer:
        target = _expand(deployment.model, model) if _wildcard(deployment.model) else deployment.model
        inputs = params.get("input")
        rest = {k: v for k, v in params.items() if k != "input"}
        return await self._client.aembedding(target, inputs, **{"num_retries": 0, **deployment.call_params, **rest})

    async def _rerank(self, deployment: Deployment, model: str, params: dict[str, Any]) -> Answer:
        target = _expand(deployment.model, model) if _wildcard(deployment.model) else deployment.model
        rest = {k: v for k, v in params.items() if k not in ("query", "documents")}
        return await self._client.arerank(
            target, params["query"], params["documents"], **{"num_retries": 0, **deployment.call_params, **rest}
        )

    async def _pick(
        self, group: str, deployments: Sequence[Deployment], tags: frozenset[str], avoid: frozenset[str]
    ) -> Deployment | None:
        """Choose and reserve a deployment, preferring ones not in ``avoid``; when every one is cooling down, wait
        for the soonest recovery (up to the request timeout) instead of failing at once (LiteLLM #3646)."""
        deadline = self._clock() + (self.settings.timeout or 600.0)
        excluded: set[str] = set()
        while True:
            now = self._clock()
            stats = await self._state.stats([d.id for d in deployments], now)
            chosen = self._choose(deployments, stats, now, tags, excluded | avoid if avoid else excluded)
            if chosen is None and avoid:
                chosen = self._choose(deployments, stats, now, tags, excluded)
            if chosen is not None:
                taken = await self._state.acquire(
                    chosen.id, now, rpm_limit=chosen.rpm, max_parallel=chosen.max_parallel_requests
                )
                if taken:
                    return chosen
                excluded.add(chosen.id)  # at its limit right now: try the others
                continue
            wake = _next_recovery(stats, now)
            if wake > deadline:
                return None
            excluded.clear()
            await asyncio.sleep(max(wake - now, 0.01))

    def _choose(
        self,
        deployments: Sequence[Deployment],
        stats: Mapping[str, DeploymentStats],
        now: float,
        tags: frozenset[str],
        excluded: Collection[str],
    ) -> Deployment | None:
        return choose(
            self.settings, deployments, stats, now, tags=tags, excluded=excluded, rng=self._rng, strategy=self._strategy
        )


def _groups(deployments: Sequence[Deployment]) -> dict[str, list[Deployment]]:
    groups: dict[str, list[Deployment]] = {}
    for deployment in deployments:
        groups.setdefault(deployment.model_name, []).append(deployment)
    return groups


def _tags(request: Mapping[str, Any]) -> frozenset[str]:
    tags = request.get("tags")
    metadata = request.get("metadata")
    # ``is not None`` first: isinstance against an ABC costs ~2.8k instructions (callgrind), even for None.
    if tags is None and metadata is not None and isinstance(metadata, Mapping):
        tags = metadata.get("tags")
    if tags is None:
        return frozenset()
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise BadRequestError("'tags' must be a list of strings", param="tags")
    return frozenset(tags)


def _check_context_window(deployment: Deployment, model: str, messages: list[dict[str, Any]]) -> None:
    """``enable_pre_call_checks``: refuse a deployment whose context window the prompt cannot fit (estimated with
    ``token_counter``), before calling it, so ``context_window_fallbacks`` take over without a wasted request."""
    from tollway.errors import ContextWindowExceededError
    from tollway.pricing import get_model_info, token_counter

    limit = deployment.model_info.get("max_input_tokens")
    if limit is None:
        try:
            limit = get_model_info(model).get("max_input_tokens")
        except TollwayError:
            return  # unknown model: nothing to check against
    if not isinstance(limit, int) or limit <= 0:
        return
    estimate = token_counter(model=model, messages=messages)
    if estimate > limit:
        raise ContextWindowExceededError(
            f"the prompt (about {estimate} tokens) does not fit {deployment.id}'s context window of {limit} tokens",
            model=model,
        )


def _request_fallbacks(request: Mapping[str, Any], group_of: Callable[[str], Any]) -> list[str]:
    """``fallbacks=["group", ...]`` given with one request (LiteLLM's client-side fallbacks): tried, in order,
    after the requested group and before the configured ones; each must be a group of this router."""
    fallbacks = request.get("fallbacks")
    if fallbacks is None:
        return []
    if not isinstance(fallbacks, list | tuple) or not all(isinstance(f, str) for f in fallbacks):
        raise BadRequestError("'fallbacks' must be a list of model group names", param="fallbacks")
    for name in fallbacks:
        group_of(name)  # NotFoundError naming an unknown group, before any call
    return list(fallbacks)


def _wildcard(model: str) -> bool:
    return "*" in model


def _expand(pattern: str, requested: str) -> str:
    """``openai/*`` serving ``gpt-4o`` calls ``openai/gpt-4o`` (LiteLLM's wildcard deployments)."""
    prefix = pattern.split("*", 1)[0]
    return requested if requested.startswith(prefix) else prefix + requested.rsplit("/", maxsplit=1)[-1]


def _next_recovery(stats: Mapping[str, DeploymentStats], now: float) -> float:
    """When to look again: the soonest cooldown recovery; without cooldowns the deployments are at their rpm or
    parallel limits, which the next minute window or a finishing call frees, so look again shortly."""
    cooling = {d: s.cooldown_until for d, s in stats.items() if s.cooldown_until is not None and s.cooldown_until > now}
    soonest = soonest_recovery(cooling)
    return soonest if soonest is not None else now + min(1.0, 60.0 - now % 60.0)


def _state_from(settings: RouterSettings) -> RouterState:
    if settings.redis_url:
        from tollway.router.state_redis import RedisState

        return RedisState.from_url(settings.redis_url)
    from tollway.router.state_memory import MemoryState

    return MemoryState()
