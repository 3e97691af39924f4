"""A genai-prices model's prices as plain data: ``ModelEntry`` (periods, variants, tiers), its JSON form, and the
constraints' ``active`` rule.

An entry carries everything ``prices.resolve_price`` needs from genai-prices' ``ModelInfo`` and nothing that needs
genai-prices to read: a process holding entries need not import it (with pydantic and its HTTP client: ~13 MB of
a gateway worker's memory), and entries travel as JSON from the short-lived process that looked them up
(``tollway.pricing.lookup_child``). The rules are genai-prices' own (``genai_prices.types``, 0.2.3):

- ``ModelInfo.prices`` is one ``ModelPrice`` or a list of ``ConditionalPrice``; an entry keeps them as ``periods``
  (one period without a constraint for a plain ``ModelPrice``) and says which it was (``conditional``);
- ``StartDateConstraint.active``: the request's UTC date (naive timestamps are UTC) is on or after ``start_date``;
- ``TimeOfDateConstraint.active``: the request's UTC time of day is in ``[start, end)``, a window with ``end <
  start`` crossing midnight; naive constraint times are UTC, aware ones are converted to UTC on 1970-01-01 (as
  genai-prices does on every call; here once, when the entry is made);
- ``price_variants`` are kept only for a provider's own models (genai-prices ignores them for models found through
  a fallback provider).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Constraint", "ModelEntry", "Period", "Tier", "Tiered", "Variant", "from_model_info"]


class Tier(NamedTuple):
    """A genai-prices ``Tier``: from ``start`` tokens on, every token costs ``price`` (per million)."""

    start: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Tiered:
    """A genai-prices ``TieredPrices``: ``base`` below the first tier; ``tiers`` in ascending ``start`` order."""

    base: Decimal
    tiers: tuple[Tier, ...]


Rates = tuple[tuple[str, Decimal | Tiered], ...]  # genai-prices price key → price (keys without a price left out)


@dataclass(frozen=True, slots=True)
class Constraint:
    """``StartDateConstraint`` (``start_date``) or ``TimeOfDateConstraint`` (``start_time``/``end_time``, in UTC)."""

    start_date: date | None = None
    start_time: time | None = None
    end_time: time | None = None

    def active(self, at: datetime) -> bool:
        """Whether the price applies to a request at ``at`` (genai-prices' ``active``)."""
        if self.start_date is not None:
            return (at.astimezone(UTC) if at.tzinfo is not None else at).date() >= self.start_date
        if self.start_time is None or self.end_time is None:  # pragma: no cover - made only by _constraint
            raise ValueError("a constraint needs a start date or a time window")
        now = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC).timetz()
        if self.end_time < self.start_time:
            return now >= self.start_time or now < self.end_time
        return self.start_time <= now < self.end_time


class Period(NamedTuple):
    """One ``ConditionalPrice`` (or the plain ``ModelPrice``, without a constraint)."""

    constraint: Constraint | None
    rates: Rates


class Variant(NamedTuple):
    """One ``PriceVariant``: ``rates`` override the period's for requests whose context has every ``when`` pair."""

    when: tuple[tuple[str, str], ...]
    constraint: Constraint | None
    rates: Rates


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A matched genai-prices model; hashable by its ids, with its prices as plain data."""

    provider_id: str
    model_id: str
    source: str
    periods: tuple[Period, ...] = field(compare=False, hash=False, repr=False)
    price_variants: tuple[Variant, ...] = field(default=(), compare=False, hash=False, repr=False)
    context_window: int | None = field(default=None, compare=False, hash=False)
    conditional: bool = False

    @property
    def variants(self) -> bool:
        """Whether a request context can change this model's prices."""
        return bool(self.price_variants)

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON-ready data (``from_json`` reads it back)."""
        return {
            "provider_id": self.provider_id,
            "model_id": self.model_id,
            "source": self.source,
            "context_window": self.context_window,
            "conditional": self.conditional,
            "periods": [[_constraint_json(p.constraint), _rates_json(p.rates)] for p in self.periods],
            "variants": [
                [dict(v.when), _constraint_json(v.constraint), _rates_json(v.rates)] for v in self.price_variants
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelEntry:
        """The entry ``to_json`` wrote."""
        return cls(
            provider_id=str(data["provider_id"]),
            model_id=str(data["model_id"]),
            source=str(data["source"]),
            periods=tuple(Period(_constraint_from(c), _rates_from(r)) for c, r in data["periods"]),
            price_variants=tuple(
                Variant(tuple(when.items()), _constraint_from(c), _rates_from(r)) for when, c, r in data["variants"]
            ),
            context_window=data["context_window"],
            conditional=bool(data["conditional"]),
        )


def from_model_info(provider_id: str, info: Any, source: str, *, own: bool) -> ModelEntry:
    """The entry of a genai-prices ``ModelInfo`` found under ``provider_id``; ``own``: one of that provider's own
    models (not found through a fallback provider), the only ones whose price variants apply."""
    if isinstance(info.prices, list):
        periods = tuple(Period(_constraint(c.constraint), _rates(c.prices)) for c in info.prices)
    else:
        periods = (Period(None, _rates(info.prices)),)
    variants = tuple(
        Variant(tuple(v.when.items()), _constraint(v.constraint), _rates(v.prices))
        for v in (info.price_variants or () if own else ())
    )
    return ModelEntry(
        provider_id=provider_id,
        model_id=info.id,
        source=source,
        periods=periods,
        price_variants=variants,
        context_window=info.context_window,
        conditional=isinstance(info.prices, list),
    )


def _rates(model_price: Any) -> Rates:
    rates: list[tuple[str, Decimal | Tiered]] = []
    for key, value in vars(model_price).items():
        if value is None or key.startswith("_"):
            continue
        if isinstance(value, Decimal):
            rates.append((key, value))
        else:  # TieredPrices (its tiers are sorted when it is made)
            rates.append((key, Tiered(value.base, tuple(Tier(t.start, t.price) for t in value.tiers))))
    return tuple(rates)


def _constraint(constraint: Any) -> Constraint | None:
    if constraint is None:
        return None
    if hasattr(constraint, "start_date"):
        return Constraint(start_date=constraint.start_date)
    return Constraint(start_time=_utc_time(constraint.start_time), end_time=_utc_time(constraint.end_time))


def _utc_time(value: time) -> time:
    # genai_prices.types._utc_timetz: a naive time is UTC; an aware one is read on 1970-01-01.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).timetz()


def _rates_json(rates: Rates) -> dict[str, Any]:
    return {
        key: str(value)
        if isinstance(value, Decimal)
        else {"base": str(value.base), "tiers": [[tier.start, str(tier.price)] for tier in value.tiers]}
        for key, value in rates
    }


def _rates_from(data: Mapping[str, Any]) -> Rates:
    rates: list[tuple[str, Decimal | Tiered]] = []
    for key, value in data.items():
        if isinstance(value, str):
            rates.append((key, Decimal(value)))
        else:
            tiers = tuple(Tier(int(start), Decimal(price)) for start, price in value["tiers"])
            rates.append((key, Tiered(Decimal(value["base"]), tiers)))
    return tuple(rates)


def _constraint_json(constraint: Constraint | None) -> dict[str, str] | None:
    if constraint is None:
        return None
    if constraint.start_date is not None:
        return {"start_date": constraint.start_date.isoformat()}
    return {"start_time": str(constraint.start_time), "end_time": str(constraint.end_time)}


def _constraint_from(data: Mapping[str, str] | None) -> Constraint | None:
    if data is None:
        return None
    if "start_date" in data:
        return Constraint(start_date=date.fromisoformat(data["start_date"]))
    return Constraint(start_time=time.fromisoformat(data["start_time"]), end_time=time.fromisoformat(data["end_time"]))
