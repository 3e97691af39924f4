"""The management API in the gateway's OpenAPI document: one operation per route of ``tollway.proxy.management``,
with its request body or query parameters and its answer, as exactly as the handlers check and answer them
(request bodies refuse unknown fields: ``additionalProperties: false``).

``tollway.proxy.openapi`` asks ``management_operation(path, method)`` first and adds ``MANAGEMENT_SCHEMAS`` to the
document's components.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MANAGEMENT_SCHEMAS", "management_operation"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _obj(required: tuple[str, ...] = (), *, closed: bool = False, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": not closed}
    if required:
        schema["required"] = list(required)
    return schema


_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 128}
_IDS = {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ID}
_MONEY_IN = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}, {"type": "null"}],
    "description": "USD, a number or a decimal string",
}
_MONEY_OUT = _nullable("string", description="USD as a decimal string")
_COUNT = _nullable("integer", minimum=0)
_DURATION = _nullable("string", description="30s, 5m, 1h, 1d, 7d, 30d, 1mo ...", examples=["1d", "1mo"])
_STRINGS = _nullable("array", items={"type": "string", "minLength": 1})
_PER_MODEL_COUNT = _nullable("object", additionalProperties={"type": "integer", "minimum": 0})
_METADATA = _nullable("object")
_WHEN = _nullable("string", format="date-time")

LIMITS_IN: dict[str, Any] = {
    "max_budget": _MONEY_IN,
    "soft_budget": _MONEY_IN,
    "budget_duration": _DURATION,
    "rpm_limit": _COUNT,
    "tpm_limit": _COUNT,
    "max_parallel_requests": _COUNT,
    "model_max_budget": _nullable(
        "object",
        additionalProperties=_obj(("budget_limit",), closed=True, budget_limit=_MONEY_IN, time_period=_DURATION),
        description='{"gpt-4o": {"budget_limit": 0.5, "time_period": "1d"}}',
    ),
    "model_rpm_limit": _PER_MODEL_COUNT,
    "model_tpm_limit": _PER_MODEL_COUNT,
}
_LIMITS_OUT: dict[str, Any] = {
    "max_budget": _MONEY_OUT,
    "soft_budget": _MONEY_OUT,
    "budget_duration": _nullable("string"),
    "rpm_limit": _COUNT,
    "tpm_limit": _COUNT,
    "max_parallel_requests": _COUNT,
    "model_max_budget": {"type": "object"},
    "model_rpm_limit": {"type": "object"},
    "model_tpm_limit": {"type": "object"},
}
_STAMPS: dict[str, Any] = {
    "metadata": {"type": "object"},
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "created_by": _nullable("string"),
    "updated_by": _nullable("string"),
}
_SPEND = {
    "spend": _MONEY_OUT,
    "budget_period_spend": _MONEY_OUT,
    "budget_reset_at": _nullable("string"),
}

_OPTIONAL_ID = _nullable("string", minLength=1, maxLength=128)
_NAMES = {"type": "array", "items": {"type": "string"}}


def _record(required: tuple[str, ...], **properties: Any) -> dict[str, Any]:
    """A record as the API answers it: its own fields, then its limits and its stamps."""
    return _obj(required, **properties, **_LIMITS_OUT, **_STAMPS)


_KEY_FIELDS_IN: dict[str, Any] = {
    "key_alias": _nullable("string", maxLength=256),
    "models": _STRINGS,
    "aliases": _nullable("object", additionalProperties={"type": "string", "minLength": 1}),
    "tags": _STRINGS,
    "metadata": _METADATA,
    "user_id": _OPTIONAL_ID,
    "team_id": _OPTIONAL_ID,
    "customer_id": _OPTIONAL_ID,
    "role": {"enum": ["admin", "team_admin", "user", None]},
    "blocked": _nullable("boolean"),
    "duration": _DURATION,
    **LIMITS_IN,
}
_KEY_OUT = _record(
    ("token", "key_name", "role", "models", "blocked"),
    token={"type": "string", "description": "the key's SHA-256 (hex)"},
    key_name={"type": "string", "examples": ["sk-...abcd"]},
    key_id={"type": "string", "description": "stable across regeneration; the audit log's target id"},
    key_alias=_nullable("string"),
    role={"enum": ["admin", "team_admin", "user"]},
    user_id=_nullable("string"),
    team_id=_nullable("string"),
    customer_id=_nullable("string"),
    models=_NAMES,
    aliases={"type": "object"},
    tags=_NAMES,
    blocked={"type": "boolean"},
    expires=_nullable("string"),
)
_ACCESS_IN: dict[str, Any] = {  # the last fields of a user's and a team's payloads
    "models": _STRINGS,
    "blocked": _nullable("boolean"),
    "metadata": _METADATA,
    **LIMITS_IN,
}
_USER_FIELDS_IN: dict[str, Any] = {
    "user_id": _OPTIONAL_ID,
    "user_email": _nullable("string", maxLength=320),
    "user_role": {
        "enum": ["proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer", "team", "customer", None]
    },
    **_ACCESS_IN,
}
_USER_OUT = _record(
    ("user_id", "user_role", "models", "blocked"),
    user_id={"type": "string"},
    user_email=_nullable("string"),
    user_role={"type": "string"},
    models=_NAMES,
    blocked={"type": "boolean"},
)
_MEMBER = _obj(("user_id",), closed=True, user_id=_ID, role={"enum": ["admin", "user"]})
_TEAM_FIELDS_IN: dict[str, Any] = {
    "team_id": _OPTIONAL_ID,
    "team_alias": _nullable("string", maxLength=256),
    **_ACCESS_IN,
}
_TEAM_OUT = _record(
    ("team_id", "models", "blocked", "members_with_roles"),
    team_id={"type": "string"},
    team_alias=_nullable("string"),
    models=_NAMES,
    blocked={"type": "boolean"},
    members_with_roles={"type": "array", "items": _obj(("user_id", "role"), user_id={"type": "string"})},
)
_CUSTOMER_FIELDS_IN: dict[str, Any] = {
    "customer_id": _OPTIONAL_ID,
    "user_id": _OPTIONAL_ID | {"description": "LiteLLM's name for the customer id"},
    "alias": _nullable("string", maxLength=256),
    "blocked": _nullable("boolean"),
    "plan": _nullable("string", maxLength=64),
    "metadata": _METADATA,
    "stripe_customer_id": _OPTIONAL_ID,
    "allowed_model_region": {"enum": ["eu", "us", None]},
    "default_model": _nullable("string", maxLength=256),
    **LIMITS_IN,
}
_CUSTOMER_OUT = _record(
    ("customer_id", "user_id", "blocked"),
    customer_id={"type": "string"},
    user_id={"type": "string"},
    alias=_nullable("string"),
    blocked={"type": "boolean"},
    plan=_nullable("string"),
    allowed_model_region=_nullable("string"),
    default_model=_nullable("string"),
    stripe_customer_id=_nullable("string"),
    litellm_budget_table={"type": "object"},
)


def _with(schema: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {**schema, "properties": {**schema["properties"], **properties}}


def _page(item: Any, name: str = "data") -> dict[str, Any]:
    count = {"type": "integer"}
    properties: dict[str, Any] = {name: {"type": "array", "items": item}}
    properties |= dict.fromkeys(("total", "page", "page_size", "total_pages"), count)
    return _obj((name, "total", "page", "page_size", "total_pages"), **properties)


MANAGEMENT_SCHEMAS: dict[str, Any] = {
    "Key": _KEY_OUT,
    "KeyWithSpend": _with(_KEY_OUT, **_SPEND),
    "GeneratedKey": _with(
        _KEY_OUT, key={"type": "string", "description": "the key: shown this once"}, token_id={"type": "string"}
    )
    | {"required": ["key", "token", "key_name", "role"]},
    "KeyGenerateRequest": _obj(
        closed=True, key=_nullable("string", description="a chosen key: sk-..., 16+ characters"), **_KEY_FIELDS_IN
    ),
    "KeyUpdateRequest": _obj(("key",), closed=True, key={"type": "string", "minLength": 1}, **_KEY_FIELDS_IN),
    "KeyRegenerateRequest": _obj(
        ("key",), closed=True, key={"type": "string", "minLength": 1}, new_key=_nullable("string"), **_KEY_FIELDS_IN
    ),
    "KeyRegeneratePathRequest": _obj(closed=True, new_key=_nullable("string"), **_KEY_FIELDS_IN),
    "KeyName": _obj(("key",), closed=True, key={"type": "string", "minLength": 1, "description": "key or hash"}),
    "KeyDeleteRequest": _obj(
        closed=True,
        keys={"type": "array", "items": {"type": "string", "minLength": 1}},
        key_aliases={"type": "array", "items": _ID},
    ),
    "User": _USER_OUT,
    "UserNewRequest": _obj(closed=True, teams=_nullable("array", items=_ID), **_USER_FIELDS_IN),
    "UserUpdateRequest": _obj(("user_id",), closed=True, **{**_USER_FIELDS_IN, "user_id": _ID}),
    "Team": _TEAM_OUT,
    "TeamNewRequest": _obj(
        closed=True, members_with_roles=_nullable("array", items=_MEMBER, maxItems=1000), **_TEAM_FIELDS_IN
    ),
    "TeamUpdateRequest": _obj(("team_id",), closed=True, **{**_TEAM_FIELDS_IN, "team_id": _ID}),
    "TeamMemberAddRequest": _obj(
        ("team_id", "member"),
        closed=True,
        team_id=_ID,
        member={"anyOf": [_MEMBER, {"type": "array", "minItems": 1, "maxItems": 1000, "items": _MEMBER}]},
    ),
    "Customer": _CUSTOMER_OUT,
    "CustomerRequest": _obj(closed=True, **_CUSTOMER_FIELDS_IN),
    "SpendRow": _obj(
        ("id", "request_id", "ts", "call_type", "status", "input_tokens", "output_tokens"),
        id={"type": "string"},
        request_id={"type": "string"},
        ts={"type": "string"},
        key_hash=_nullable("string"),
        cost=_MONEY_OUT,
        spend=_MONEY_OUT,
        call_type={"type": "string"},
        status={"type": "integer"},
        input_tokens={"type": "integer"},
        output_tokens={"type": "integer"},
    ),
    "AuditEntry": _obj(
        ("id", "ts", "actor", "action", "target_kind"),
        id={"type": "integer"},
        ts={"type": "string"},
        actor={"type": "string"},
        action={"type": "string"},
        target_kind={"type": "string"},
        target_id=_nullable("string"),
        note=_nullable("string"),
    ),
}


def _query(*names: str, **typed: Any) -> list[dict[str, Any]]:
    schemas = {name: {"type": "string"} for name in names} | typed
    return [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in schemas.items()]


_PAGE = {"type": "string", "pattern": "^[0-9]{1,9}$"}
_DATE = {"type": "string", "description": "YYYY-MM-DD or an ISO 8601 time"}
_FLAG = {"enum": ["true", "false"]}


def _arr(item: Any) -> dict[str, Any]:
    return {"type": "array", "items": item}


Route = tuple[str, str, Any, Any]  # (method, summary, request body or query parameters, answer schema)


def _writes(kind: str, new: str, update: str) -> dict[str, Route]:
    """``/{kind}/new`` and ``/{kind}/update``: a request schema each, the record as the answer."""
    record = _ref(kind.capitalize())
    return {
        f"/{kind}/new": ("POST", f"Create a {kind}", new, record),
        f"/{kind}/update": ("POST", f"Change a {kind}", update, record),
    }


def _delete(kind: str) -> dict[str, Route]:
    """``/{kind}/delete {"{kind}_ids"}`` for the owners of keys (users, teams): their keys go too."""
    ids, deleted = f"{kind}_ids", f"deleted_{kind}s"
    asked: dict[str, Any] = {ids: _IDS}
    answered: dict[str, Any] = {deleted: _arr(_ID), "deleted_keys": {"type": "integer"}}
    body, answer = _obj((ids,), closed=True, **asked), _obj((deleted, "deleted_keys"), **answered)
    return {f"/{kind}/delete": ("POST", f"Delete {kind}s (and their keys)", body, answer)}


def _info(kind: str, record: dict[str, Any], summary: str, **lists: Any) -> dict[str, Route]:
    """``GET /{kind}/info?{kind}_id=``: LiteLLM's ``{"{kind}_id", "{kind}_info", ...lists}``."""
    name, info = f"{kind}_id", f"{kind}_info"
    answered: dict[str, Any] = {name: {"type": "string"}, info: _with(record, **_SPEND), **lists}
    answer = _obj((name, info, *lists), **answered)
    return {f"/{kind}/info": ("GET", summary, _query(name), answer)}


def _blocking(kind: str, noun: str, body: Any, answers: tuple[Any, Any], note: str = "") -> dict[str, Route]:
    """``/{kind}/block`` and ``/{kind}/unblock``."""
    return {
        f"/{kind}/block": ("POST", f"Block {noun}{note}", body, answers[0]),
        f"/{kind}/unblock": ("POST", f"Unblock {noun}", body, answers[1]),
    }


_KEY, _TEAM = _ref("Key"), _ref("Team")
_CUSTOMER_IDS = _obj(closed=True, user_ids=_IDS, customer_ids=_IDS)

_ROUTES: dict[str, Route] = {
    "/key/generate": ("POST", "Create a virtual key (shown once)", "KeyGenerateRequest", _ref("GeneratedKey")),
    "/key/update": ("POST", "Change a key", "KeyUpdateRequest", _KEY),
    "/key/delete": (
        "POST",
        "Delete keys",
        "KeyDeleteRequest",
        _obj(("deleted_keys",), deleted_keys=_arr({"type": "string"})),
    ),
    "/key/info": (
        "GET",
        "A key with its live spend (any key: its own)",
        _query("key"),
        _obj(("key", "info"), key={"type": "string"}, info=_ref("KeyWithSpend")),
    ),
    "/key/list": (
        "GET",
        "List keys (hashes, or whole keys with return_full_object=true)",
        _query("user_id", "team_id", "customer_id", page=_PAGE, size=_PAGE, return_full_object=_FLAG),
        _obj(
            ("keys", "total_count", "current_page", "total_pages"),
            keys=_arr({"anyOf": [{"type": "string"}, _KEY]}),
            total_count={"type": "integer"},
            current_page={"type": "integer"},
            total_pages={"type": "integer"},
        ),
    ),
    **_blocking("key", "a key", "KeyName", (_KEY, _KEY), " (every instance, within a second)"),
    "/key/regenerate": ("POST", "Replace a key by a new one", "KeyRegenerateRequest", _ref("GeneratedKey")),
    "/key/{key}/regenerate": ("POST", "Replace a key by a new one", "KeyRegeneratePathRequest", _ref("GeneratedKey")),
    **_writes("user", "UserNewRequest", "UserUpdateRequest"),
    **_delete("user"),
    **_info("user", _USER_OUT, "A user with live spend, keys and teams", keys=_arr(_KEY), teams=_arr(_TEAM)),
    "/user/list": (
        "GET",
        "List users",
        _query("role", "team_id", page=_PAGE, page_size=_PAGE),
        _page(_USER_OUT, "users"),
    ),
    **_writes("team", "TeamNewRequest", "TeamUpdateRequest"),
    **_delete("team"),
    **_info("team", _TEAM_OUT, "A team with live spend and keys", keys=_arr(_KEY)),
    "/team/list": ("GET", "List teams", _query("user_id", page=_PAGE, page_size=_PAGE), _arr(_TEAM)),
    "/team/member_add": ("POST", "Add members to a team", "TeamMemberAddRequest", _TEAM),
    "/team/member_delete": (
        "POST",
        "Remove a member from a team",
        _obj(("team_id", "user_id"), closed=True, team_id=_ID, user_id=_ID),
        _TEAM,
    ),
    **_blocking("team", "a team", _obj(("team_id",), closed=True, team_id=_ID), (_TEAM, _TEAM)),
    **_writes("customer", "CustomerRequest", "CustomerRequest"),
    "/customer/delete": (
        "POST",
        "Delete customers",
        _CUSTOMER_IDS,
        _obj(("deleted_customers",), deleted_customers=_arr(_ID)),
    ),
    "/customer/info": (
        "GET",
        "A customer with its live spend",
        _query("customer_id", "end_user_id"),
        _with(_CUSTOMER_OUT, **_SPEND),
    ),
    "/customer/list": (
        "GET",
        "List customers",
        _query("plan", blocked=_FLAG, page=_PAGE, page_size=_PAGE),
        _arr(_ref("Customer")),
    ),
    **_blocking(
        "customer",
        "customers",
        _CUSTOMER_IDS,
        (_obj(("blocked_users",), blocked_users=_arr(_ID)), _obj(("unblocked_users",), unblocked_users=_arr(_ID))),
        " (created blocked when new)",
    ),
    "/spend/logs": (
        "GET",
        "Spend rows, newest first (a key: its own)",
        _query(
            "api_key",
            "key_hash",
            "user_id",
            "team_id",
            "customer_id",
            "model",
            "request_id",
            start_date=_DATE,
            end_date=_DATE,
            page=_PAGE,
            page_size=_PAGE,
        ),
        _page(_ref("SpendRow")),
    ),
    "/global/spend/report": (
        "GET",
        "Daily spend per key, user, team, customer, model, tag or feature",
        _query(
            start_date=_DATE,
            end_date=_DATE,
            group_by={"enum": ["team", "customer", "key", "api_key", "user", "model", "tag", "feature"]},
        ),
        _arr(_obj(("group_by_day",), group_by_day={"type": "string"})),
    ),
    "/audit/logs": (
        "GET",
        "The audit log of management actions, newest first",
        _query("target_kind", "target_id", "actor", "action", start=_DATE, end=_DATE, page=_PAGE, page_size=_PAGE),
        _page(_ref("AuditEntry")),
    ),
}

_ERROR = {"content": {"application/json": {"schema": _ref("ErrorEnvelope")}}}


def management_operation(path: str, method: str) -> dict[str, Any] | None:
    """The OpenAPI operation of a management route, or None for any other route."""
    route = _ROUTES.get(path)
    if route is None or route[0] != method:
        return None
    _, summary, request, answer = route
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{slug}",
        "summary": summary,
        "tags": ["Management"],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": answer}}},
            "401": {"description": "Missing or invalid key", **_ERROR},
            "403": {"description": "The key's role may not do this", **_ERROR},
            "default": {"description": "Error", **_ERROR},
        },
    }
    parameters = [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}] if "{" in path else []
    if isinstance(request, list):
        parameters.extend(request)
    elif request is not None:
        schema = _ref(request) if isinstance(request, str) else request
        required = path != "/key/{key}/regenerate"
        operation["requestBody"] = {"required": required, "content": {"application/json": {"schema": schema}}}
    if parameters:
        operation["parameters"] = parameters
    return operation
