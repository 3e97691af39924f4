"""The governance gate around every model call: admit before the upstream call, settle and log after it.

``Gate.open`` resolves the model group (the key's aliases, the allowed models), the customer, and admits the
request against every limit and budget at once; ``Gate.close`` settles the reservation to the actual cost and
queues the spend row. A stream is closed when it ends (``Gate.watch``), so streamed calls are settled and logged
with their real usage too. Without governance (no database configured) the gate only passes the model through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request

from tollway.errors import TollwayError
from tollway.governance.admission import customer_of, resolve_model
from tollway.governance.service import Admission, Governance
from tollway.governance.spend_event import SpendEvent, new_event_id
from tollway.proxy.auth import caller_of
from tollway.proxy.estimate import CostEstimator
from tollway.proxy.request_headers import headers_of
from tollway.streaming import AsyncCompletionStream
from tollway.types import ResponseMeta

__all__ = ["Call", "Gate"]

# Calls the router for a model group (after the gate resolved aliases and admitted the call).
Invoke = Callable[[str], Awaitable[Any]]

# Request metadata kept on a spend row; larger metadata is replaced by a marker rather than stored.
MAX_METADATA_BYTES = 4096


@dataclass(slots=True)
class Call:
    """One governed model call in flight."""

    request_id: str
    model_group: str
    call_type: str
    started: float
    ts: datetime
    admission: Admission | None = None
    # The spend row's id, made when the call is admitted: it is the counters' ticket id too (one id per request).
    event_id: str = ""
    feature: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Headers the answer carries for this call (``x-ratelimit-*``), encoded (``Admission.headers``)."""
        return self.admission.headers if self.admission is not None else []


class Gate:
    """Admission and spend accounting for the model routes (``governance`` None: pass-through)."""

    def __init__(self, estimator: CostEstimator) -> None:
        self._estimator = estimator
        self.governance: Governance | None = None

    def priced_models(self) -> list[tuple[str, str]]:
        """The (provider, model) of every deployment's price data (to look up ahead of the first request)."""
        return self._estimator.priced_models()

    async def open(
        self, request: Request, request_id: str, model: str, body: Mapping[str, Any], *, call_type: str
    ) -> Call:
        """Admit a call to ``model`` (or raise its refusal); the call's ``model_group`` is what to route."""
        governance = self.governance
        principal = caller_of(request).principal
        group = resolve_model(principal, model)
        call = Call(request_id, group, call_type, time.perf_counter(), datetime.now(UTC))
        if governance is None:
            return call
        headers = headers_of(request)  # the request's one header dict (proxy.request_headers)
        customer = customer_of(principal, headers, body.get("user"))
        metadata = body.get("metadata")
        call.metadata = _kept(metadata)
        call.feature = headers.get("x-tollway-feature") or _str(call.metadata.get("feature"))
        call.tags = _tags(metadata, principal.key.tags if principal is not None else ())
        call.event_id = new_event_id()
        try:
            call.admission = await governance.admit(
                principal,
                customer,
                group,
                lambda: self._estimator.reserve_nano(group, _body_size(headers, body), body),
                ticket_id=call.event_id,
            )
        except TollwayError as refusal:
            # A refused request is a request too: its row (status, error class, no cost) shows who hit which limit.
            call.admission = Admission(principal, customer, group)
            await self.close(call, None, error=refusal)
            raise
        return call

    async def close(
        self,
        call: Call,
        meta: ResponseMeta | None,
        *,
        stream: bool = False,
        error: BaseException | None = None,
        ttft: float | None = None,
    ) -> None:
        """Settle and log a finished (or failed) call."""
        governance, admission = self.governance, call.admission
        if governance is None or admission is None:
            return
        usage = meta.usage if meta is not None else None
        principal = admission.principal
        key = principal.key if principal is not None else None
        # Positional, in declaration order: one request's event (SpendEvent.of says why).
        event = SpendEvent.of(
            call.ts,
            call.event_id,
            call.request_id,
            key.token_hash if key is not None else None,
            key.key_name if key is not None else None,
            key.user_id if key is not None else None,
            key.team_id if key is not None else None,
            admission.customer_id,
            call.feature,
            call.model_group,
            meta.deployment_id if meta is not None else None,
            meta.provider if meta is not None else None,
            meta.model if meta is not None else None,
            call.call_type,
            stream,
            usage.input_tokens if usage is not None else 0,
            usage.cache_read_tokens if usage is not None else 0,
            usage.cache_write_tokens if usage is not None else 0,
            usage.output_tokens if usage is not None else 0,
            usage.reasoning_tokens if usage is not None else 0,
            _cost(meta, error),
            meta.cost.source if meta is not None and meta.cost is not None else None,
            (time.perf_counter() - call.started) * 1000,
            ttft * 1000 if ttft is not None else None,
            _status(error),
            type(error).__name__ if error is not None else None,
            bool(meta is not None and meta.cache_hit),
            call.tags,
            call.metadata,
            admission.scopes,
        )
        tokens = (usage.input_tokens + usage.output_tokens) if usage is not None else 0
        await governance.finish(admission, event, tokens=tokens)

    async def run(
        self,
        request: Request,
        request_id: str,
        model: str,
        body: Mapping[str, Any],
        *,
        call_type: str,
        invoke: Invoke,
    ) -> tuple[Call, Any]:
        """Admit the call (allowed models, limits, budgets), run ``invoke(model_group)``, then settle and log it;
        a stream is settled when it ends. Refusals and the call's own errors propagate."""
        call = await self.open(request, request_id, model, body, call_type=call_type)
        try:
            result = await invoke(call.model_group)
        except Exception as exc:
            await self.close(call, None, error=exc)
            raise
        if isinstance(result, AsyncCompletionStream):
            self.watch(call, result)
        else:
            await self.close(call, result.meta)
        return call, result

    def watch(self, call: Call, stream: AsyncCompletionStream) -> None:
        """Close ``call`` when ``stream`` ends, with the stream's final usage and cost."""
        if call.admission is None:
            return
        ttft = time.perf_counter() - call.started

        async def closed(finished: AsyncCompletionStream) -> None:
            await self.close(call, finished.meta, stream=True, ttft=ttft)

        stream.add_close_callback(closed)


def _cost(meta: ResponseMeta | None, error: BaseException | None) -> Decimal | None:
    if error is not None:
        return Decimal(0)  # a refused or failed call is not billed by the provider
    if meta is None or meta.cost is None:
        return None
    return meta.cost.total


def _body_size(headers: Mapping[str, str], body: Mapping[str, Any]) -> int:
    """The body's declared size, else (chunked) its JSON size."""
    declared = headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else 0
    if size:
        return size
    try:
        return len(orjson.dumps(body))
    except TypeError:
        return 0


def _status(error: BaseException | None) -> int:
    if error is None:
        return 200
    return error.status_code if isinstance(error, TollwayError) else 500


def _str(value: Any) -> str | None:
    return value[:128] if isinstance(value, str) and value else None


def _kept(metadata: Any) -> dict[str, Any]:
    """The request's ``metadata`` when it is a small object (spend rows are not a blob store)."""
    if not isinstance(metadata, dict) or not metadata:
        return {}
    try:
        size = len(orjson.dumps(metadata))
    except TypeError:
        return {"tollway_dropped": "metadata not serialisable"}
    if size > MAX_METADATA_BYTES:
        return {"tollway_dropped": f"metadata of {size} bytes (limit {MAX_METADATA_BYTES})"}
    return metadata


def _tags(metadata: Any, key_tags: tuple[str, ...] | list[str]) -> list[str]:
    """The key's tags plus the request's ``metadata.tags`` (LiteLLM's place for them), strings only, deduplicated."""
    tags = list(key_tags)
    requested = metadata.get("tags") if isinstance(metadata, dict) else None
    if isinstance(requested, list):
        for tag in requested[:32]:
            if isinstance(tag, str) and tag and len(tag) <= 128 and tag not in tags:
                tags.append(tag)
    return tags
