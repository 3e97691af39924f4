"""Resolving a model's ``Price`` from genai-prices' data, once per model and price period (data loading only).

genai-prices (https://github.com/pydantic/genai-prices) is imported on first use, never by ``import tollway``. Its
``calc_price`` costs ~66 µs per call (../shared/PERF.md), so tollway looks a model up once, converts its prices to a
``Price`` once per price period, and does the per-call arithmetic itself (``cost.py``).

Price periods, as genai-prices defines them (``ModelInfo.get_prices``):

- ``prices`` is one ``ModelPrice`` or a list of ``ConditionalPrice``; the last whose constraint is active at the
  request's timestamp wins, else the first. Constraints are a start date (dated price changes) or a daily UTC time
  window (DeepSeek's off-peak prices), so the cache key is the *index* of the active entry, computed per call from
  the timestamp; never the model alone, which would freeze whichever period was seen first.
- ``price_variants`` override single keys for a request context (``{"processing": "batch"}``,
  ``{"service_tier": "flex"}``), first match per key, each with its own optional constraint; the key is the tuple
  of active variant indices. As genai-prices does, variants apply only to a provider's own models, not to models
  found through a fallback provider.

A matched model is kept as a ``ModelEntry`` (``entries.py``): its prices as plain data, no genai-prices object.
So the lookup itself can run elsewhere: with ``TOLLWAY_PRICE_LOOKUP=subprocess`` in the environment (for a gateway
worker, where genai-prices with pydantic and its HTTP client would stay in memory for the process's life: ~13 MB,
measured), the first ``CHILD_LOOKUPS`` models a process prices are looked up by a short-lived child process
(``python -m tollway.pricing.lookup_child``, ~0.3 s each, once per model), whose answer is the same entries as JSON.
Later models are looked up in the process itself, so a stream of new names (a wildcard deployment) costs at most
that many child processes. A child that fails is reported on stderr and the lookup is done in the process. The
asking thread waits for the child, so ``prefetch`` looks a list of models up in one child ahead of their first
use, from a thread of its own: ``tollway serve``, where this lookup is the default, prefetches every configured
deployment's model at start, and only a model first met later (a wildcard deployment's) holds the event loop.

Caches (the module's only state, all ``functools`` caches, cleared together by ``clear_caches``):
``_snapshot`` (the data: a refreshed file from ``tollway prices update`` when present, else the bundled data),
``lookup`` (provider/model → matched entry, 4,096 entries), ``_converted`` (entry/period/variants → Price) and
``_prefetched`` (the answers of the children ``prefetch`` ran).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from tollway.pricing.cost import Price, PriceTier
from tollway.pricing.entries import ModelEntry, from_model_info
from tollway.pricing.names import MOCK_PROVIDER, genai_provider_ids, model_refs

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot

__all__ = [
    "CHILD_LOOKUPS",
    "LOOKUP_ENV",
    "MOCK_PRICE",
    "ModelEntry",
    "clear_caches",
    "data_source",
    "find_entry",
    "lookup",
    "lookup_in_child",
    "prefetch",
    "resolve_price",
    "snapshot",
]

LOOKUP_ENV = "TOLLWAY_PRICE_LOOKUP"
CHILD_LOOKUPS = 16  # models per process looked up by child processes (then here: their cost stays bounded)
_CHILD_TIMEOUT_S = 20.0  # ~0.3 s normally; the lookup then falls back to this process

MOCK_PRICE = Price(
    input=Decimal(0), output=Decimal(0), source="mock", provider_id=MOCK_PROVIDER, model_id=MOCK_PROVIDER
)

# genai-prices price key → (Price field, scale exponent): "_mtok" prices are per million tokens, "_kcount" per
# thousand units (https://github.com/pydantic/genai-prices/blob/main/prices/units.yml).
_KEYS: Mapping[str, tuple[str, int]] = {
    "input_mtok": ("input", -6),
    "output_mtok": ("output", -6),
    "cache_read_mtok": ("cache_read", -6),
    "cache_write_mtok": ("cache_write", -6),
    "cache_write_5m_mtok": ("cache_write", -6),
    "cache_write_1h_mtok": ("cache_write_1h", -6),
    "output_reasoning_mtok": ("reasoning", -6),
    "input_audio_mtok": ("audio_input", -6),
    "output_audio_mtok": ("audio_output", -6),
    "web_searches_kcount": ("web_search", -3),
    "requests_kcount": ("request", -3),
}


@functools.cache
def snapshot() -> tuple[DataSnapshot, str]:
    """The price data and its source label; a refreshed data file wins over the bundled data."""
    import genai_prices
    from genai_prices import data_snapshot

    from tollway.pricing.refresh import load_cached_snapshot

    cached = load_cached_snapshot()
    if cached is not None:
        snap, fetched = cached
        return snap, f"genai-prices {genai_prices.__version__} (data fetched {fetched})"
    return data_snapshot.get_snapshot(), f"genai-prices {genai_prices.__version__}"


def data_source() -> str:
    """The label recorded with every cost priced from genai-prices data."""
    return snapshot()[1]


@functools.lru_cache(maxsize=4096)
def lookup(provider: str, model: str) -> ModelEntry | None:
    """The genai-prices model pricing ``provider/model`` (tollway names), or None when there is none; in a child
    process for the process's first ``CHILD_LOOKUPS`` models when ``TOLLWAY_PRICE_LOOKUP=subprocess``."""
    if not genai_provider_ids(provider, model):
        return None
    ahead = _prefetched()
    if ahead.pending or ahead.answers:
        with ahead.changed:  # a child looking it up already (a request just after start): wait for its answer
            ahead.changed.wait_for(lambda: (provider, model) not in ahead.pending, timeout=_CHILD_TIMEOUT_S)
            if (provider, model) in ahead.answers:
                return ahead.answers[(provider, model)]
    if _in_child():
        found = lookup_in_child([(provider, model)])
        if found is not None:
            return found[0]
    return find_entry(provider, model)


def find_entry(provider: str, model: str) -> ModelEntry | None:
    """``lookup`` in this process (genai-prices' ``find_provider_model`` on ``snapshot()``), without the cache."""
    provider_ids = genai_provider_ids(provider, model)
    if not provider_ids:
        return None
    snap, source = snapshot()
    for provider_id in provider_ids:
        for ref in model_refs(provider, model):
            try:
                found_provider, info = snap.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue
            own = any(info is m for m in found_provider.models)
            return from_model_info(found_provider.id, info, source, own=own)
    return None


def prefetch(models: Iterable[tuple[str, str]]) -> int:
    """Look ``models`` (tollway provider and model names) up ahead of their first use, in one child process, when
    lookups are made in children (``TOLLWAY_PRICE_LOOKUP=subprocess``) and room for them is left among the first
    ``CHILD_LOOKUPS``; the number looked up. Blocking (~0.3 s): call it from a thread other than the event loop's.
    A ``lookup`` of one of them meanwhile waits for this child's answer rather than starting a child of its own.
    """
    if not _in_child():
        return 0
    room = CHILD_LOOKUPS - lookup.cache_info().currsize
    wanted = [(provider, model) for provider, model in dict.fromkeys(models) if genai_provider_ids(provider, model)]
    todo = wanted[:room]
    if not todo:
        return 0
    ahead = _prefetched()
    with ahead.changed:
        ahead.pending.update(todo)
    found = None
    try:
        found = lookup_in_child(todo)
    finally:
        with ahead.changed:
            if found is not None:
                ahead.answers.update(zip(todo, found, strict=True))
            ahead.pending.difference_update(todo)
            ahead.changed.notify_all()
    if found is None:
        return 0
    for provider, model in todo:
        lookup(provider, model)  # into lookup's cache (unless a request put it there first)
    return len(todo)


class _Ahead:
    """The models a prefetching child is looking up, and its answers (kept: at most ``CHILD_LOOKUPS``)."""

    def __init__(self) -> None:
        self.pending: set[tuple[str, str]] = set()
        self.answers: dict[tuple[str, str], ModelEntry | None] = {}
        self.changed = threading.Condition()


@functools.cache
def _prefetched() -> _Ahead:
    """The one ``_Ahead`` of this process (held by this cache, as the module's other state)."""
    return _Ahead()


def _in_child() -> bool:
    # A frozen application's executable is the application, not a Python that can run ``-m``.
    return (
        os.environ.get(LOOKUP_ENV) == "subprocess"
        and not getattr(sys, "frozen", False)
        and lookup.cache_info().currsize < CHILD_LOOKUPS
    )


def lookup_in_child(models: Sequence[tuple[str, str]]) -> list[ModelEntry | None] | None:
    """``find_entry`` of each ``(provider, model)`` in a child process (``python -m tollway.pricing.lookup_child``),
    or None when the child fails (said on stderr; the caller then looks up in this process)."""
    command = [sys.executable, "-m", "tollway.pricing.lookup_child"]
    try:
        done = subprocess.run(  # noqa: S603 - this Python and a fixed module; the names go through stdin
            command, input=orjson.dumps(models), capture_output=True, timeout=_CHILD_TIMEOUT_S, check=True
        )
        if done.stderr:  # e.g. an unreadable refreshed data file, said once per child
            sys.stderr.write(done.stderr.decode(errors="replace"))
        answer = orjson.loads(done.stdout)
        return [None if item is None else ModelEntry.from_json(item) for item in answer]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        said = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else b""
        reason = (said or b"").decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
        print(f"tollway: price lookup in a child process failed: {reason[0]}", file=sys.stderr)
        return None


def clear_caches() -> None:
    """Forget the loaded data and every resolved price (after ``tollway prices update``)."""
    _converted.cache_clear()
    lookup.cache_clear()
    _prefetched().answers.clear()
    snapshot.cache_clear()


def _period(entry: ModelEntry, at: datetime) -> int:
    periods = entry.periods
    for index in range(len(periods) - 1, -1, -1):
        constraint = periods[index].constraint
        if constraint is None or constraint.active(at):
            return index
    return 0


def _active_variants(entry: ModelEntry, at: datetime, context: Mapping[str, str]) -> tuple[int, ...]:
    active: list[int] = []
    for index, variant in enumerate(entry.price_variants):
        if variant.constraint is not None and not variant.constraint.active(at):
            continue
        if all(context.get(key) == value for key, value in variant.when):
            active.append(index)
    return tuple(active)


def resolve_price(
    provider: str, model: str, *, at: datetime | None = None, context: Mapping[str, str] | None = None
) -> Price | None:
    """The price of ``provider/model`` at ``at`` (default now) for a request context; None when unpriced.

    ``context`` selects genai-prices price variants, e.g. ``{"processing": "batch"}`` or
    ``{"service_tier": "flex"}``. The mock provider's price is zero.
    """
    if provider == MOCK_PROVIDER:
        return MOCK_PRICE
    entry = lookup(provider, model)
    if entry is None:
        return None
    if not entry.conditional and not (context and entry.variants):
        return _converted(entry, 0, ())
    when = at if at is not None else datetime.now(UTC)
    period = _period(entry, when) if entry.conditional else 0
    variants = _active_variants(entry, when, context) if context and entry.variants else ()
    return _converted(entry, period, variants)


@functools.lru_cache(maxsize=4096)
def _converted(entry: ModelEntry, period: int, variants: tuple[int, ...]) -> Price:
    values: dict[str, Any] = dict(entry.periods[period].rates)
    overrides: dict[str, Any] = {}
    for index in variants:  # first match wins per key, as in ModelInfo.get_prices
        for key, value in entry.price_variants[index].rates:
            overrides.setdefault(key, value)
    values.update(overrides)
    return to_price(values, source=entry.source, provider_id=entry.provider_id, model_id=entry.model_id)


def to_price(values: Mapping[str, Any], *, source: str, provider_id: str | None, model_id: str | None) -> Price:
    """Convert genai-prices price keys (per million tokens, tiers as ``TieredPrices`` or ``entries.Tiered``) to a
    per-token ``Price``."""
    base: dict[str, Decimal] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    ignored: list[str] = []
    # A specific 5-minute write price wins over the generic write price.
    ordered = sorted(values.items(), key=lambda item: item[0] == "cache_write_5m_mtok")
    for key, value in ordered:
        target = _KEYS.get(key)
        if target is None:
            ignored.append(key)
            continue
        name, exponent = target
        if isinstance(value, Decimal):
            base[name] = value.scaleb(exponent)
            continue
        base[name] = value.base.scaleb(exponent)  # TieredPrices
        for tier in value.tiers:
            tiers.setdefault(tier.start, {})[name] = tier.price.scaleb(exponent)
    return Price(
        **base,
        tiers=tuple(PriceTier(start, tuple(sorted(rates.items()))) for start, rates in sorted(tiers.items())),
        source=source,
        provider_id=provider_id,
        model_id=model_id,
        ignored=tuple(sorted(ignored)),
    )
