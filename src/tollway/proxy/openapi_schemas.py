"""The component schemas of the gateway's OpenAPI document (``tollway.proxy.openapi``): requests and answers.

Request schemas say what the gateway accepts, as exactly as the checks on the request path enforce it
(``tollway.proxy.body``, ``tollway.messages``, ``tollway.proxy.anthropic_compat``), so a client generated from the
document, or a schema-driven fuzzer, sends requests that are answered rather than refused. Answer schemas name the
fields every answer has, whatever the provider behind the gateway; providers' extra fields are allowed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS", "ref"]


def ref(name: str) -> dict[str, str]:
    """A JSON reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _required(*names: str, **properties: Any) -> dict[str, Any]:
    props = {name: properties.get(name, {}) for name in names} | properties
    return {"type": "object", "required": list(names), "properties": props, "additionalProperties": True}


_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_NON_EMPTY = {"type": "string", "minLength": 1}
_OPTIONAL_STRING = {"type": ["string", "null"]}
# The gateway refuses an empty model name (400) before it looks the group up (404 when unknown).
_MODEL = {"type": "string", "minLength": 1, "description": "A model group of this gateway (GET /models)."}
_CONTENT = {"anyOf": [_STRING, {"type": "array", "items": _required("type", type=_STRING)}]}
_TOOL_CALL = _required(
    "id",
    "type",
    "function",
    id=_STRING,
    type={"const": "function"},
    function=_required("name", name=_STRING, arguments={"type": "string", "description": "JSON text"}),
)
# One shape per role, as OpenAI documents them; the gateway checks the same (tollway.messages).
_CHAT_MESSAGE = {
    "oneOf": [
        _required("role", "content", role={"enum": ["system", "developer", "user"]}, content=_CONTENT, name=_STRING),
        {
            "description": "content may be null (or absent) when the message has tool_calls",
            "anyOf": [
                _required("role", "content", role={"const": "assistant"}, content=_CONTENT),
                _required(
                    "role",
                    "tool_calls",
                    role={"const": "assistant"},
                    content={"anyOf": [_CONTENT, {"type": "null"}]},
                    tool_calls={"type": "array", "minItems": 1, "items": _TOOL_CALL},
                ),
            ],
        },
        _required("role", "content", "tool_call_id", role={"const": "tool"}, content=_CONTENT, tool_call_id=_STRING),
        _required("role", "content", "name", role={"const": "function"}, content=_CONTENT, name=_STRING),
    ]
}
_TEXT_BLOCK = _required("type", "text", type={"const": "text"}, text=_STRING)
_BASE64 = _required("type", "media_type", "data", type={"const": "base64"}, media_type=_NON_EMPTY, data=_NON_EMPTY)
_IMAGE_BLOCK = _required(
    "type",
    "source",
    type={"const": "image"},
    source={
        "oneOf": [
            _BASE64,
            _required("type", "url", type={"const": "url"}, url={"type": "string", "pattern": "^https?://"}),
        ]
    },
)
_PDF = _required(
    "type", "media_type", "data", type={"const": "base64"}, media_type={"const": "application/pdf"}, data=_NON_EMPTY
)
_DOCUMENT_BLOCK = _required(
    "type",
    "source",
    type={"const": "document"},
    source={"oneOf": [_required("type", "data", type={"const": "text"}, data=_STRING), _PDF]},
)
_TOOL_RESULT_BLOCK = _required(
    "type",
    "tool_use_id",
    type={"const": "tool_result"},
    tool_use_id=_NON_EMPTY,
    content={"anyOf": [_STRING, {"type": "array", "items": {"oneOf": [_TEXT_BLOCK, _IMAGE_BLOCK]}}]},
    is_error={"type": "boolean"},
)
_ASSISTANT_BLOCKS = [
    _TEXT_BLOCK,
    _required(
        "type",
        "id",
        "name",
        "input",
        type={"const": "tool_use"},
        id=_NON_EMPTY,
        name=_NON_EMPTY,
        input={"type": "object"},
    ),
    _required("type", "thinking", type={"const": "thinking"}, thinking=_STRING, signature=_STRING),
    _required("type", "data", type={"const": "redacted_thinking"}, data=_STRING),
]
# Server tools (web search, code execution) run inside Anthropic's API: only custom tools can be translated.
_ANTHROPIC_TOOL = _required(
    "name", "input_schema", type={"const": "custom"}, name=_NON_EMPTY, input_schema={"type": "object"}
)
_ANTHROPIC_MESSAGE = {
    "oneOf": [
        _required(
            "role",
            "content",
            role={"const": "user"},
            content={
                "anyOf": [
                    _STRING,
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": [_TEXT_BLOCK, _IMAGE_BLOCK, _DOCUMENT_BLOCK, _TOOL_RESULT_BLOCK]},
                    },
                ]
            },
        ),
        _required(
            "role",
            "content",
            role={"const": "assistant"},
            content={"anyOf": [_STRING, {"type": "array", "items": {"oneOf": _ASSISTANT_BLOCKS}}]},
        ),
    ]
}
# Anthropic's Messages API answers unknown top-level fields with a 400, and so does the gateway (no smuggling of
# gateway options through this route): the request objects below list every field and allow no other.
_ANTHROPIC_FIELDS: dict[str, Any] = {
    "model": _MODEL,
    "messages": {"type": "array", "minItems": 1, "items": _ANTHROPIC_MESSAGE},
    "system": {"anyOf": [_STRING, {"type": "array", "items": _required("type", "text", type={"const": "text"})}]},
    "stop_sequences": {"type": "array", "items": _STRING},
    "temperature": {"type": "number"},
    "top_p": {"type": "number"},
    "top_k": {"type": "number"},
    "tools": {"type": "array", "items": _ANTHROPIC_TOOL},
    "tool_choice": {
        "oneOf": [
            _required("type", type={"enum": ["auto", "any", "none"]}),
            _required("type", "name", type={"const": "tool"}, name=_NON_EMPTY),
        ]
    },
    "thinking": _required("type", type={"enum": ["enabled", "adaptive", "disabled"]}),
    "metadata": {"type": "object", "properties": {"user_id": _STRING}},
    "output_config": {"type": "object"},
    "cache_control": {"type": "object"},
    "service_tier": {"description": "Accepted and ignored."},
    "inference_geo": {"description": "Accepted and ignored."},
    "context_management": {"description": "Accepted and ignored."},
}


def _anthropic_request(*required: str, create: bool) -> dict[str, Any]:
    """A Messages request (``create``: ``POST /v1/messages``, with ``stream`` and ``max_tokens``; else the body of
    ``count_tokens``, which has neither)."""
    fields = dict(_ANTHROPIC_FIELDS)
    if create:
        fields["stream"] = {"type": "boolean"}
        fields["max_tokens"] = {"type": "integer", "minimum": 1}
    return {"type": "object", "required": list(required), "properties": fields, "additionalProperties": False}


_USAGE = {
    "type": "object",
    "properties": {"prompt_tokens": _INTEGER, "completion_tokens": _INTEGER, "total_tokens": _INTEGER},
}
_LIST = {"const": "list"}
_ANTHROPIC_EVENTS = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
]
_REQUESTS: dict[str, Any] = {
    "CreateChatCompletionRequest": _required(
        "model",
        "messages",
        model=_MODEL,
        messages={"type": "array", "minItems": 1, "items": _CHAT_MESSAGE},
        stream={"type": "boolean"},
        stream_options={"type": "object"},
    )
    | {"dependentSchemas": {"stream_options": _required("stream", stream={"const": True})}},
    "CreateCompletionRequest": _required(
        "model",
        "prompt",
        model=_MODEL,
        prompt={"anyOf": [_STRING, {"type": "array", "items": _STRING, "minItems": 1, "maxItems": 1}]},
    ),
    "CreateEmbeddingRequest": _required(
        "model",
        "input",
        model=_MODEL,
        input={
            "anyOf": [
                _NON_EMPTY,
                {"type": "array", "minItems": 1, "items": _NON_EMPTY},
                {"type": "array", "minItems": 1, "items": _INTEGER, "description": "token ids"},
                {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1, "items": _INTEGER}},
            ]
        },
        encoding_format={"enum": ["float", "base64"]},
    ),
    "RerankRequest": _required(
        "model",
        "query",
        "documents",
        model=_MODEL,
        query=_STRING,
        documents={"type": "array", "minItems": 1, "items": {"anyOf": [_STRING, _required("text", text=_STRING)]}},
        top_n={"type": "integer", "minimum": 1},
        return_documents={"type": "boolean"},
    ),
    "AnthropicMessagesRequest": _anthropic_request("model", "messages", "max_tokens", create=True),
    "AnthropicCountTokensRequest": _anthropic_request("model", "messages", create=False),
}
_ANSWERS: dict[str, Any] = {
    "Answer": {"type": "object", "description": "The route's JSON answer."},
    "ChatCompletion": _required(
        "id",
        "object",
        "created",
        "model",
        "choices",
        id=_STRING,
        object={"const": "chat.completion"},
        created=_INTEGER,
        model=_STRING,
        choices={
            "type": "array",
            "items": _required(
                "index",
                "message",
                "finish_reason",
                index=_INTEGER,
                message=_required("role", role={"const": "assistant"}, content=_OPTIONAL_STRING),
                finish_reason=_OPTIONAL_STRING,
            ),
        },
        usage=_USAGE,
    ),
    "TextCompletion": _required(
        "object",
        "model",
        "choices",
        object={"const": "text_completion"},
        model=_STRING,
        choices={
            "type": "array",
            "items": _required(
                "text", "index", "finish_reason", text=_STRING, index=_INTEGER, finish_reason=_OPTIONAL_STRING
            ),
        },
        usage=_USAGE,
    ),
    "CreateEmbeddingResponse": _required(
        "object",
        "data",
        "model",
        object=_LIST,
        model=_STRING,
        data={
            "type": "array",
            "items": _required(
                "object",
                "index",
                "embedding",
                object={"const": "embedding"},
                index=_INTEGER,
                # Floats, or base64 of little-endian float32 when the request asked encoding_format=base64.
                embedding={"anyOf": [{"type": "array", "items": {"type": "number"}}, _STRING]},
            ),
        },
        usage=_USAGE,
    ),
    "RerankResponse": _required(
        "results",
        results={
            "type": "array",
            "items": _required("index", "relevance_score", index=_INTEGER, relevance_score={"type": "number"}),
        },
    ),
    "Model": _required(
        "id", "object", "created", "owned_by", id=_STRING, object={"const": "model"}, created=_INTEGER, owned_by=_STRING
    ),
    "ModelList": _required("object", "data", object=_LIST, data={"type": "array", "items": ref("Model")}),
    "AnthropicMessage": _required(
        "id",
        "type",
        "role",
        "content",
        "model",
        "stop_reason",
        "usage",
        id=_STRING,
        type={"const": "message"},
        role={"const": "assistant"},
        content={"type": "array", "items": _required("type", type=_STRING)},
        model=_STRING,
        stop_reason=_OPTIONAL_STRING,
        usage=_required("input_tokens", "output_tokens", input_tokens=_INTEGER, output_tokens=_INTEGER),
    ),
    "StreamEvent": _required(
        "data",
        data={"type": "string", "description": "A JSON chunk, an {'error': ...} object, or [DONE] last"},
    ),
    "AnthropicStreamEvent": _required(
        "event",
        "data",
        event={"enum": [*_ANTHROPIC_EVENTS, "error"]},
        data={
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": _required("type", type={"enum": [*_ANTHROPIC_EVENTS, "error"]}),
        },
    ),
    "AnthropicTokenCount": _required("input_tokens", input_tokens=_INTEGER),
    "Liveliness": _required("status", status={"const": "healthy"}),
    "Readiness": _required("status", "redis", status={"enum": ["healthy", "unhealthy"]}, redis=_STRING),
    "HealthReport": _required(
        "healthy_endpoints",
        "unhealthy_endpoints",
        "healthy_count",
        "unhealthy_count",
        healthy_endpoints={"type": "array", "items": _required("model", model=_STRING)},
        unhealthy_endpoints={"type": "array", "items": _required("model", "error", model=_STRING, error=_STRING)},
        healthy_count=_INTEGER,
        unhealthy_count=_INTEGER,
    ),
    "OpenAPIDocument": _required("openapi", "info", "paths", openapi=_STRING, info={"type": "object"}),
}
SCHEMAS: dict[str, Any] = {
    "ErrorEnvelope": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    "AnthropicError": {
        "type": "object",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": _required("type", "message", type={"type": "string"}, message={"type": "string"}),
        },
    },
    **_REQUESTS,
    **_ANSWERS,
}
