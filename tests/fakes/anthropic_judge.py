"""A strict judge of Anthropic request bodies: the anthropic SDK's request TypedDicts, unknown keys rejected.

pydantic ignores extra keys of TypedDicts and validates ``Iterable[...]`` lazily, so this walks the SDK's types
itself: every key must be declared, required keys present, literals and scalar types right, unions matched by at
least one member. Used by the Anthropic fake (as a second judge beside the pydantic validator) and by the adapter tests.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import pydantic
import typing_extensions
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming, MessageCreateParamsStreaming

_WRAPPERS = (
    typing.Annotated,
    typing.Required,
    typing.NotRequired,
    typing_extensions.Required,
    typing_extensions.NotRequired,
)
_SCALARS: dict[Any, Any] = {
    str: lambda v: isinstance(v, str),
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    type(None): lambda v: v is None,
}


def _union(value: Any, tp: Any, path: str) -> list[str]:
    failures = []
    for arm in get_args(tp):  # in order, stopping at the first match (later arms may be file types)
        failures.append(_check(value, arm, path))
        if not failures[-1]:
            return []
    return min(failures, key=len)


def _literal(value: Any, tp: Any, path: str) -> list[str]:
    return [] if value in get_args(tp) else [f"{path}: {value!r} not one of {get_args(tp)}"]


def _scalar(value: Any, tp: Any, path: str) -> list[str]:
    return [] if _SCALARS[tp](value) else [f"{path}: {value!r} is not {tp.__name__}"]


def _mapping(value: Any, tp: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object"]
    return [e for k, v in value.items() for e in _check(v, get_args(tp)[1], f"{path}[{k!r}]")]


def _sequence(value: Any, tp: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected a list"]
    return [e for i, v in enumerate(value) for e in _check(v, get_args(tp)[0], f"{path}[{i}]")]


def _required(tp: Any, hints: dict[str, Any]) -> set[str]:
    # __required_keys__ is wrong with postponed annotations (anthropic's modules use them): read Required[...] and
    # each class's own totality instead, walking the TypedDict bases.
    bases = [b for b in getattr(tp, "__orig_bases__", ()) if typing_extensions.is_typeddict(b)]
    inherited = {key for base in bases for key in base.__annotations__}
    required = {key for base in bases for key in _required(base, hints)}
    for key in set(tp.__annotations__) - inherited:
        origin = get_origin(hints[key])
        if origin in (typing.Required, typing_extensions.Required) or (
            tp.__total__ and origin not in (typing.NotRequired, typing_extensions.NotRequired)
        ):
            required.add(key)
    return required


def _typed_dict(value: Any, tp: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({tp.__name__})"]
    hints = typing.get_type_hints(tp, include_extras=True)
    errors = [f"{path}: unknown key {key!r} for {tp.__name__}" for key in value if key not in hints]
    errors += [f"{path}: missing {key!r} for {tp.__name__}" for key in _required(tp, hints) if key not in value]
    return errors + [e for k, v in value.items() if k in hints for e in _check(v, hints[k], f"{path}.{k}")]


def _response_model(value: Any, tp: Any, path: str) -> list[str]:
    return [f"{path}: {tp.__name__} is a response type, not a request parameter"]


_KINDS: list[tuple[Any, Any]] = [
    (lambda tp, origin: origin in (Union, types.UnionType), _union),
    (lambda tp, origin: origin in (Literal, typing_extensions.Literal), _literal),
    (lambda tp, origin: typing_extensions.is_typeddict(tp), _typed_dict),
    (lambda tp, origin: tp in _SCALARS, _scalar),
    (lambda tp, origin: origin in (dict, collections.abc.Mapping), _mapping),
    (lambda tp, origin: origin in (list, collections.abc.Iterable, collections.abc.Sequence), _sequence),
    (lambda tp, origin: isinstance(tp, type) and issubclass(tp, pydantic.BaseModel), _response_model),
]


def _check(value: Any, tp: Any, path: str = "body") -> list[str]:
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return []
    if origin in _WRAPPERS:
        return _check(value, get_args(tp)[0], path)
    for matches, check in _KINDS:
        if matches(tp, origin):
            errors: list[str] = check(value, tp, path)
            return errors
    raise TypeError(f"the judge does not know {tp!r} ({path})")


# anthropic 2.14's MessageCreateParams no longer lists the sampling parameters, which the Messages API still
# documents (PROVIDERS.md §5.2, §13.3): they are checked here by hand and removed before the SDK types judge.
_SAMPLING = {"temperature": float, "top_p": float, "top_k": int}


def sdk_errors(body: dict[str, Any]) -> list[str]:
    """Why the anthropic SDK's request types reject ``body`` (empty when it is valid)."""
    body = dict(body)
    errors = [e for name, tp in _SAMPLING.items() if name in body for e in _check(body.pop(name), tp, name)]
    params = MessageCreateParamsStreaming if body.get("stream") else MessageCreateParamsNonStreaming
    return errors + _check(body, params)
