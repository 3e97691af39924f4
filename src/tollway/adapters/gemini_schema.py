"""JSON Schema for Gemini function declarations and structured output (pure).

Gemini takes two schema dialects (../shared/PROVIDERS.md §6.2, §14.15):

* ``parametersJsonSchema`` / ``responseJsonSchema``: real JSON Schema. It is what tollway sends by default; only
  keys that describe the schema document rather than the value (``$schema``, ``$id``, ``$comment``) are removed,
  because the API answers "Unknown name" or "Invalid JSON payload" for them.
* ``parameters`` / ``responseSchema``: the older OpenAPI-3 subset (``openapi_schema``), for endpoints that only
  know it (quirk ``schema_dialect: "openapi"``). ``$ref`` is inlined from ``$defs``, ``["string", "null"]``
  becomes ``nullable``, ``const`` becomes a one-value ``enum``, and keywords outside the subset are dropped
  (python-genai ``_transformers.process_schema`` does the same for its callers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["json_schema", "openapi_schema"]

_DOCUMENT_KEYS = frozenset({"$schema", "$id", "$comment"})

# The OpenAPI Schema fields Gemini's ``Schema`` message has (ai.google.dev/api/caching#Schema).
_OPENAPI_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
# Inlining stops here: a recursive schema cannot be expressed without $ref.
_MAX_DEPTH = 32


def json_schema(schema: Any) -> Any:
    """A copy of a JSON Schema without the document-level keys Gemini rejects."""
    if isinstance(schema, Mapping):
        return {key: json_schema(value) for key, value in schema.items() if key not in _DOCUMENT_KEYS}
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    return schema


def openapi_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI-subset ``Schema`` for a JSON Schema (``$ref`` to ``$defs`` inlined)."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    return _openapi(schema, defs if isinstance(defs, Mapping) else {}, 0)


def _openapi(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        return {"type": "OBJECT"}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return _openapi(target if isinstance(target, Mapping) else {}, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const":
            out["enum"] = [value]
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out["anyOf"] = [_openapi(v, defs, depth + 1) for v in value if isinstance(v, Mapping)]
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: _openapi(v, defs, depth + 1) for name, v in value.items() if isinstance(v, Mapping)}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = _openapi(value, defs, depth + 1)
        elif key == "type":
            _type(out, value)
        elif key in _OPENAPI_KEYS:
            out[key] = value
    _null_branch(out)
    return out


def _type(out: dict[str, Any], value: Any) -> None:
    kinds = value if isinstance(value, list) else [value]
    if "null" in kinds:
        out["nullable"] = True
    concrete = [k for k in kinds if isinstance(k, str) and k != "null"]
    if concrete:
        out["type"] = concrete[0].upper()


def _null_branch(out: dict[str, Any]) -> None:
    # anyOf [X, {"type": "null"}] (pydantic's Optional[X]) is X with nullable in the OpenAPI subset.
    branches = out.get("anyOf")
    if not isinstance(branches, list):
        return
    rest = [b for b in branches if b != {"nullable": True}]
    if len(rest) < len(branches):
        out["nullable"] = True
        if len(rest) == 1:
            del out["anyOf"]
            out.update({k: v for k, v in rest[0].items() if k not in out})
        else:
            out["anyOf"] = rest
