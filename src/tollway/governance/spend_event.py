"""``SpendEvent``: one spend row (one request), as the gateway records it and as the spool file holds it.

The event is plain data. Its ``id`` is generated once, when the event is made, and is the primary key of
``spend_logs``: a row replayed from the spool after a crash or an outage is recognised and written once.

``to_json``/``from_json`` are the spool's line format (orjson): a JSON array, the format version (2) then every
field in declaration order (lines written before version 2 were JSON objects keyed by field name, and are still
read). They round-trip exactly: money travels as a decimal string (never a float), times as ISO 8601 with their UTC
offset.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["CALL_TYPES", "SpendEvent", "new_event_id"]

CALL_TYPES = ("chat", "completion", "embedding", "rerank", "messages")

# RFC 9562 version 7: the Unix time in ms (bits 80-127), version nibble 7 (bits 76-79), variant bits 10 (62-63), and
# 74 random bits in the rest.
_UUID7_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 80) - 1)
_UUID7_SET = (0x7 << 76) | (0x2 << 62)


def new_event_id() -> str:
    """A fresh event id: a UUIDv7 (RFC 9562) as 32 hex digits, whose order is the order of time.

    Time-ordered because it is ``spend_logs``' primary key: random keys (uuid4) put every new row on a different
    leaf page of that index, so a batch of spend rows dirtied (and wrote, then checkpointed) about one page per row,
    and read evicted pages back; ordered keys add at the index's end. Measured on the SQLite store under load
    (``strace -c``): 5.3 page writes and 2.2 page reads per request with uuid4 ids (bench/RESULTS.md). The random
    bits come from ``random`` (seeded from os.urandom, reseeded in forked children) rather than ``os.urandom``,
    whose system call per id costs ~8x more (3 µs, on every request); the id must be unique, not secret.
    """
    return f"{(time.time_ns() // 1_000_000) << 80 | random.getrandbits(80) & _UUID7_CLEAR | _UUID7_SET:032x}"


@dataclass(slots=True, kw_only=True)
class SpendEvent:
    """One request's usage and cost. ``cost`` None means unpriced (never a silent 0).

    Read-only by convention: not frozen, because a frozen dataclass of 30 fields costs ~5 µs more to build (one
    ``object.__setattr__`` per field) and the gateway builds one per request.

    ``counter_scopes`` lists the (scope, period) budget counters whose persisted spend this row's cost increments
    (``("key:<key_id>", "2025-06")``...), so ``spend_counters`` stays equal to the sum of the rows it counted.
    It is not a ``spend_logs`` column.
    """

    ts: datetime
    id: str = field(default_factory=new_event_id)
    request_id: str = ""
    key_hash: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    customer_id: str | None = None
    feature: str | None = None
    model_group: str | None = None
    deployment_id: str | None = None
    provider: str | None = None
    model: str | None = None
    call_type: str = "chat"
    stream: bool = False
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal | None = None
    price_source: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: int = 200
    error_class: str | None = None
    cache_hit: bool = False
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    counter_scopes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(  # noqa: PLR0917 - positional on purpose: see the docstring
        cls,
        ts: datetime,
        id: str,
        request_id: str,
        key_hash: str | None,
        key_name: str | None,
        user_id: str | None,
        team_id: str | None,
        customer_id: str | None,
        feature: str | None,
        model_group: str | None,
        deployment_id: str | None,
        provider: str | None,
        model: str | None,
        call_type: str,
        stream: bool,
        input_tokens: int,
        cached_tokens: int,
        cache_write_tokens: int,
        output_tokens: int,
        reasoning_tokens: int,
        cost: Decimal | None,
        price_source: str | None,
        latency_ms: float,
        ttft_ms: float | None,
        status: int,
        error_class: str | None,
        cache_hit: bool,
        tags: list[str],
        metadata: dict[str, Any],
        counter_scopes: list[tuple[str, str]],
        /,
    ) -> SpendEvent:
        """The event of every field, given by position in declaration order (``id``: ``new_event_id()``): the
        gateway's constructor, one call per request. A call naming 30 keywords costs ~22k instructions, one of 30
        positions ~6k (callgrind, CPython 3.11); the keyword constructor stays the one to read and to use elsewhere.
        The same checks as the keyword constructor (``__post_init__``)."""
        event = object.__new__(cls)
        event.ts = ts
        event.id = id
        event.request_id = request_id
        event.key_hash = key_hash
        event.key_name = key_name
        event.user_id = user_id
        event.team_id = team_id
        event.customer_id = customer_id
        event.feature = feature
        event.model_group = model_group
        event.deployment_id = deployment_id
        event.provider = provider
        event.model = model
        event.call_type = call_type
        event.stream = stream
        event.input_tokens = input_tokens
        event.cached_tokens = cached_tokens
        event.cache_write_tokens = cache_write_tokens
        event.output_tokens = output_tokens
        event.reasoning_tokens = reasoning_tokens
        event.cost = cost
        event.price_source = price_source
        event.latency_ms = latency_ms
        event.ttft_ms = ttft_ms
        event.status = status
        event.error_class = error_class
        event.cache_hit = cache_hit
        event.tags = tags
        event.metadata = metadata
        event.counter_scopes = counter_scopes
        event.__post_init__()
        return event

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError("SpendEvent.ts must be timezone-aware (UTC)")

    def to_json(self) -> bytes:
        """One spool line's JSON (without the newline): ``[2, <each field in declaration order>]``.

        An array, not an object: the gateway writes one line per request, and naming the 30 fields in every line
        cost more than the values (callgrind: 29k instructions per line as an object, 12k as an array; 709 -> 349
        bytes for a usual row). ``from_json`` reads both, so spool files written before stay readable."""
        ts = self.ts
        return orjson.dumps(
            (
                _LINE_VERSION,
                # orjson writes a UTC datetime exactly as isoformat() does, at a fraction of the cost; other
                # offsets go through isoformat() (orjson drops the seconds of an offset such as -01:01:01).
                ts if ts.tzinfo is UTC else ts.isoformat(),
                self.id,
                self.request_id,
                self.key_hash,
                self.key_name,
                self.user_id,
                self.team_id,
                self.customer_id,
                self.feature,
                self.model_group,
                self.deployment_id,
                self.provider,
                self.model,
                self.call_type,
                self.stream,
                self.input_tokens,
                self.cached_tokens,
                self.cache_write_tokens,
                self.output_tokens,
                self.reasoning_tokens,
                None if self.cost is None else str(self.cost),
                self.price_source,
                self.latency_ms,
                self.ttft_ms,
                self.status,
                self.error_class,
                self.cache_hit,
                self.tags,
                self.metadata,
                self.counter_scopes,
            )
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> SpendEvent:
        """The event ``to_json`` wrote. Raises ``ValueError`` (``orjson.JSONDecodeError`` is one) on a bad line."""
        raw = orjson.loads(data)
        if isinstance(raw, list):
            if len(raw) != len(_FIELD_NAMES) + 1 or raw[0] != _LINE_VERSION:
                raise ValueError(f"not a spend event: a line is [{_LINE_VERSION}, <its {len(_FIELD_NAMES)} fields>]")
            raw = dict(zip(_FIELD_NAMES, raw[1:], strict=True))
        elif not isinstance(raw, dict):  # an object keyed by field name: a line written before version 2
            raise ValueError("a spend event is a JSON array (or object)")
        try:
            raw["ts"] = datetime.fromisoformat(raw["ts"])
            cost = raw.get("cost")
            raw["cost"] = None if cost is None else Decimal(cost)
            raw["counter_scopes"] = [(str(scope), str(period)) for scope, period in raw.get("counter_scopes", ())]
            return cls(**raw)
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ValueError(f"not a spend event: {exc}") from exc


_LINE_VERSION = 2
_FIELD_NAMES = tuple(f.name for f in fields(SpendEvent))
