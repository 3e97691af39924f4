"""What a model-swap simulation is asked (``POST /simulate``'s body, ``tollway simulate``'s arguments), read and
checked (pure).

``{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD", "replace": {"FROM": "TO", ...}, "customer_ids"?: [...],
"features"?: [...], "tags"?: [...]}``; ``end`` is inclusive (UTC days). Every problem is a ``SimulationError``
naming the field (``param``) and a ``code``; the API answers it as a 400 in OpenAI's error envelope:

- a field other than those above: ``unknown_field``;
- ``start``/``end`` missing or not a ``YYYY-MM-DD`` date, ``end`` before ``start``, or more than ``MAX_DAYS`` days:
  ``invalid_field`` naming the date;
- ``replace`` missing, not an object, empty, with more than ``MAX_SUBSTITUTIONS`` entries, a name or value that is
  not a non-empty printable string of at most ``MAX_MODEL_LENGTH`` characters (param ``replace.FROM``), or a model
  replaced by itself: ``invalid_field``;
- ``customer_ids``/``features``/``tags`` not a non-empty list of at most ``MAX_LIST`` distinct non-empty strings
  (ids at most 128 characters, features and tags at most 128, as the spend rows keep them): ``invalid_field``
  naming the item (``customer_ids[2]``). ``null`` is the same as leaving the field out.

Whether a model exists or has prices is decided later, against the configuration and the price data
(``tollway.economics.simulate_models``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = [
    "FIELDS",
    "MAX_DAYS",
    "MAX_LIST",
    "MAX_MODEL_LENGTH",
    "MAX_SUBSTITUTIONS",
    "SimulationError",
    "SimulationRequest",
    "check_request",
    "parse_request",
]

FIELDS = ("start", "end", "replace", "customer_ids", "features", "tags")
MAX_DAYS = 366  # a year (leap day included): the simulation reads spend rows, not daily rollups
MAX_SUBSTITUTIONS = 32
MAX_MODEL_LENGTH = 256  # spend_logs.model and model_group are String(256)
MAX_LIST = 1000
_ID_LENGTH = 128  # spend_logs.customer_id, feature and tags keep at most 128 characters


class SimulationError(ValueError):
    """A simulation cannot be run as asked: ``param`` names the field, ``code`` the kind of problem
    (``invalid_field``, ``unknown_field``, ``unknown_model``, ``model_not_priced``)."""

    def __init__(self, message: str, *, param: str | None, code: str = "invalid_field") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """A simulation of ``[start, end]`` (inclusive UTC days): recorded calls to each key of ``replace`` re-priced as
    calls to its value. ``customer_ids`` limits the report (and the substitution) to those customers;
    ``features``/``tags`` limit which calls are substituted (the customers' other calls are still reported, at
    their recorded cost). None = no limit. Build one with ``parse_request`` or check it with ``check_request``."""

    start: date
    end: date
    replace: Mapping[str, str]
    customer_ids: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.end - self.start).days + 1


def _day(payload: Mapping[str, Any], name: str) -> date:
    value = payload.get(name)
    if value is None:
        raise SimulationError(f"{name} is required (YYYY-MM-DD)", param=name)
    # date.fromisoformat also takes "20250601" and week dates: only the documented form is accepted.
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise SimulationError(f"{name}: expected a date, YYYY-MM-DD", param=name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SimulationError(f"{name}: {value!r} is not a date (YYYY-MM-DD)", param=name) from None


def _name(value: Any, param: str, what: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise SimulationError(f"{param}: expected a {what} (a string), got {type(value).__name__}", param=param)
    if not value or len(value) > max_length or not value.isprintable() or value.strip() != value:
        raise SimulationError(
            f"{param}: expected a {what} of 1 to {max_length} printable characters without surrounding spaces",
            param=param,
        )
    return value


def _replace(value: Any) -> dict[str, str]:
    if value is None:
        raise SimulationError('replace is required: {"model now": "model to price instead"}', param="replace")
    if not isinstance(value, dict):
        raise SimulationError(f"replace: expected an object, got {type(value).__name__}", param="replace")
    if not value:
        raise SimulationError("replace is empty: name at least one model to replace", param="replace")
    if len(value) > MAX_SUBSTITUTIONS:
        raise SimulationError(f"replace: at most {MAX_SUBSTITUTIONS} models at once", param="replace")
    pairs: dict[str, str] = {}
    for source, target in value.items():
        _name(source, "replace", "model name", MAX_MODEL_LENGTH)
        pairs[source] = _name(target, f"replace.{source}", "model name", MAX_MODEL_LENGTH)
    return pairs


def _names(payload: Mapping[str, Any], name: str, what: str) -> tuple[str, ...] | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise SimulationError(f"{name}: expected a non-empty list of {what}s", param=name)
    if len(value) > MAX_LIST:
        raise SimulationError(f"{name}: at most {MAX_LIST} at once", param=name)
    items = (_name(item, f"{name}[{index}]", what, _ID_LENGTH) for index, item in enumerate(value))
    return tuple(dict.fromkeys(items))


def parse_request(payload: Mapping[str, Any]) -> SimulationRequest:
    """The request a JSON object asks for (see the module docstring); SimulationError naming the first bad field."""
    if not isinstance(payload, Mapping):
        raise SimulationError("the body must be a JSON object", param=None)
    unknown = sorted(str(name) for name in payload if name not in FIELDS)
    if unknown:
        raise SimulationError(
            f"unknown field {unknown[0]!r} (expected {', '.join(FIELDS)})", param=unknown[0], code="unknown_field"
        )
    request = SimulationRequest(
        start=_day(payload, "start"),
        end=_day(payload, "end"),
        replace=_replace(payload.get("replace")),
        customer_ids=_names(payload, "customer_ids", "customer id"),
        features=_names(payload, "features", "feature"),
        tags=_names(payload, "tags", "tag"),
    )
    check_request(request)
    return request


def check_request(request: SimulationRequest) -> None:
    """SimulationError unless ``request`` can be run: a period of 1 to ``MAX_DAYS`` days, 1 to
    ``MAX_SUBSTITUTIONS`` substitutions, none of a model by itself."""
    if request.end < request.start:
        raise SimulationError("end must be on or after start", param="end")
    if request.days > MAX_DAYS:
        raise SimulationError(f"the period is {request.days} days; a simulation spans at most {MAX_DAYS}", param="end")
    if not request.replace or len(request.replace) > MAX_SUBSTITUTIONS:
        raise SimulationError(f"replace: name 1 to {MAX_SUBSTITUTIONS} models", param="replace")
    for source, target in request.replace.items():
        if source == target:
            raise SimulationError(f"replace: {source!r} is replaced by itself", param=f"replace.{source}")
