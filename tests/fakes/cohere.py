"""A fake Cohere v2 API: ``POST /v2/chat`` (+ SSE stream), ``/v2/embed``, ``/v2/rerank`` (PROVIDERS.md §9).

Requests are judged by the official SDK's own vocabulary: the accepted body keys are the parameters of
cohere-python's ``RawV2Client.chat``/``embed``/``rerank``, every message, content item, tool and tool call may only
carry the fields of its SDK model (``UserChatMessageV2``, ``TextContent``, ``ToolV2Function``...), and enumerations
(role, ``tool_choice``, ``response_format.type``, ``thinking.type``, ``input_type``) take the SDK's literals only.
Cohere answers a bad request with 400 ``{"id", "message"}`` and a missing key with 401.

Default chat answer: the text ``"Hello from the fake Cohere upstream."`` (JSON from the schema when
``response_format`` asks for JSON), preceded by a ``thinking`` item when ``thinking.type`` is ``enabled``; tool calls
(with a ``tool_plan``) when ``tool_choice`` is ``REQUIRED`` (the first tool) or the last user message mentions tools
(one call each, in order of mention). ``max_tokens`` cuts the text (``MAX_TOKENS``). Usage: ``billed_units`` from the
request size, ``tokens`` adds a prompt-template overhead; a repeated prompt of 1024+ tokens reports
``cached_tokens``. Streams carry the full event sequence of §9.4 with fragmented tool arguments, then ``[DONE]``.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import random
import re
from typing import Any

import orjson
from cohere import (
    AssistantChatMessageV2,
    DocumentContent,
    ImageUrl,
    ImageUrlContent,
    SystemChatMessageV2,
    TextContent,
    Thinking,
    ToolCallV2,
    ToolCallV2Function,
    ToolChatMessageV2,
    ToolV2,
    ToolV2Function,
    UserChatMessageV2,
)
from cohere.v2.raw_client import RawV2Client

from .base import (
    SSE,
    FakeUpstream,
    JSONObject,
    RecordedRequest,
    Reply,
    Route,
    approx_tokens,
    example_from_schema,
    split_pieces,
)

__all__ = ["ANSWER", "THINKING", "CohereFake"]

ANSWER = "Hello from the fake Cohere upstream."
THINKING = "A greeting deserves a short greeting."
TEMPLATE_TOKENS = 64  # Cohere's tokens.input_tokens include the prompt template (§9.3)


def _fields(function: Any) -> frozenset[str]:
    return frozenset(p for p in inspect.signature(function).parameters if p not in ("self", "request_options"))


_CHAT_KEYS = _fields(RawV2Client.chat) | {"stream"}
_EMBED_KEYS = _fields(RawV2Client.embed)
_RERANK_KEYS = _fields(RawV2Client.rerank)
_MESSAGE_KEYS = {
    "user": frozenset(UserChatMessageV2.model_fields),
    "assistant": frozenset(AssistantChatMessageV2.model_fields),
    "system": frozenset(SystemChatMessageV2.model_fields),
    "tool": frozenset(ToolChatMessageV2.model_fields),
}
_CONTENT_KEYS = {
    "text": frozenset(TextContent.model_fields),
    "image_url": frozenset(ImageUrlContent.model_fields),
    "document": frozenset(DocumentContent.model_fields),
    "thinking": frozenset({"type", "thinking"}),
}
_EMBED_TYPES = ("search_document", "search_query", "classification", "clustering", "image")


class CohereFake(FakeUpstream):
    """Fake Cohere upstream; give ``fake.url`` to ``cohere.ClientV2(base_url=...)`` or as tollway's api_base."""

    name = "cohere"

    def routes(self) -> list[Route]:
        return [
            Route("chat", "POST", "/v2/chat", self._validate_chat, self._answer_chat, self._events),
            Route("embed", "POST", "/v2/embed", self._validate_embed, self._answer_embed),
            Route("rerank", "POST", "/v2/rerank", self._validate_rerank, self._answer_rerank),
        ]

    # -- dialect ------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        default = {401: "invalid api token", 404: "model not found", 429: "You are using a Trial key"}
        return {"id": request_id, "message": message or default.get(status, "internal server error")}

    def frame(self, payload: JSONObject) -> SSE:
        return SSE(event=str(payload.get("type", "")), data=orjson.dumps(payload).decode())

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        delta = {"finish_reason": error_type or "ERROR", "error": message or "internal server error"}
        return self.frame({"type": "message-end", "delta": delta})

    def stream_end(self) -> tuple[SSE, ...]:
        return (SSE(data="[DONE]"),)

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {"x-trace-id": request_id, "num_tokens": "0"}

    # -- validation ---------------------------------------------------------------------------------------
    def _auth(self, request: RecordedRequest) -> Reply | None:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Reply.error(401, "no api key supplied")
        if not isinstance(request.json, dict):
            return _bad("invalid request: body must be a JSON object")
        return None

    def _validate_chat(self, request: RecordedRequest) -> Reply | None:
        rejection = self._auth(request)
        problem = None if rejection else _chat_problem(request.body_object)
        return rejection or (_bad(problem) if problem else None)

    def _validate_embed(self, request: RecordedRequest) -> Reply | None:
        if rejection := self._auth(request):
            return rejection
        body = request.body_object
        problem = _unknown(body, _EMBED_KEYS, "")
        if problem is None and body.get("input_type") not in _EMBED_TYPES:
            problem = f"invalid request: input_type must be one of {', '.join(_EMBED_TYPES)}"
        if problem is None and not _strings(body.get("texts")):
            problem = "invalid request: texts must be a non-empty list of strings"
        return _bad(problem) if problem else None

    def _validate_rerank(self, request: RecordedRequest) -> Reply | None:
        if rejection := self._auth(request):
            return rejection
        body = request.body_object
        problem = _unknown(body, _RERANK_KEYS, "")
        if problem is None and not (isinstance(body.get("query"), str) and _strings(body.get("documents"))):
            problem = "invalid request: query must be a string and documents a non-empty list of strings"
        return _bad(problem) if problem else None

    # -- default answers ----------------------------------------------------------------------------------
    def _answer_chat(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        if body.get("stream"):
            return Reply.stream(self._events(request))
        plan = _plan(body)
        message: JSONObject = {"role": "assistant"}
        if plan.calls:
            message["tool_plan"] = plan.tool_plan
            message["tool_calls"] = [_call_json(call) for call in plan.calls]
        else:
            message["content"] = [{"type": k, k: "".join(p)} for k, p in plan.items]
        return Reply.json(
            {
                "id": _id(request.body),
                "finish_reason": plan.finish,
                "message": message,
                "usage": self._usage(body, plan),
            }
        )

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        body = request.body_object
        plan = _plan(body)
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        events: list[JSONObject] = [{"id": _id(request.body), "type": "message-start", "delta": {"message": start}}]
        if plan.calls:
            events.extend(_tool_events(plan))
        for index, (kind, pieces) in enumerate(plan.items):
            opening = {"type": kind, kind: ""}
            events.append({"type": "content-start", "index": index, "delta": {"message": {"content": opening}}})
            for piece in pieces:
                content = {"message": {"content": {kind: piece}}}
                events.append({"type": "content-delta", "index": index, "delta": content})
            events.append({"type": "content-end", "index": index})
        delta = {"finish_reason": plan.finish, "usage": self._usage(body, plan)}
        events.append({"type": "message-end", "delta": delta})
        return events

    def _usage(self, body: JSONObject, plan: _Plan) -> JSONObject:
        prompt = approx_tokens(orjson.dumps([body.get("messages"), body.get("tools")]))
        output = plan.output_tokens
        cached = 0
        if prompt >= 1024 and self.remember(b"cohere:" + orjson.dumps([body.get("model"), body.get("messages")])):
            cached = prompt // 128 * 128
        return {
            "billed_units": {"input_tokens": prompt, "output_tokens": output},
            "tokens": {"input_tokens": prompt + TEMPLATE_TOKENS, "output_tokens": output},
            "cached_tokens": cached,
        }

    def _answer_embed(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        texts: list[str] = body["texts"]
        size = int(body.get("output_dimension") or 256)
        vectors = [seeded_vector(body["model"] + body["input_type"] + text, size) for text in texts]
        embeddings: JSONObject = {}
        for kind in body.get("embedding_types") or ["float"]:
            embeddings[kind] = vectors if kind == "float" else [[int(x * 127) for x in v] for v in vectors]
        return Reply.json(
            {
                "id": _id(request.body),
                "embeddings": embeddings,
                "texts": texts,
                "meta": {
                    "api_version": {"version": "2"},
                    "billed_units": {"input_tokens": approx_tokens("".join(texts))},
                },
                "response_type": "embeddings_by_type",
            }
        )

    def _answer_rerank(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        ranked = rank(body["query"], body["documents"])[: body.get("top_n") or None]
        return Reply.json(
            {
                "id": _id(request.body),
                "results": [{"index": i, "relevance_score": s} for i, s in ranked],
                "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
            }
        )


# -- helpers shared with the Voyage and Jina fakes ------------------------------------------------------------
def seeded_vector(seed: str, size: int) -> list[float]:
    """A deterministic unit vector for ``seed``."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    values = [rng.uniform(-1, 1) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def rank(query: str, documents: list[str]) -> list[tuple[int, float]]:
    """``(index, score)`` by word overlap with the query, most relevant first (a deterministic stand-in)."""
    words = set(re.findall(r"\w+", query.lower()))
    scores = []
    for index, document in enumerate(documents):
        found = set(re.findall(r"\w+", document.lower()))
        scores.append((index, round(len(words & found) / (len(words) or 1) * 0.9 + 0.05 / (index + 1), 6)))
    return sorted(scores, key=lambda pair: -pair[1])


# -- validation helpers -----------------------------------------------------------------------------------------
def _bad(message: str) -> Reply:
    return Reply.error(400, message)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _unknown(obj: Any, allowed: frozenset[str], where: str) -> str | None:
    if not isinstance(obj, dict):
        return f"invalid request: {where or 'body'} must be an object"
    extra = sorted(set(obj) - allowed)
    return f"invalid request: unknown field: parameter {where}{extra[0]} is not a valid field" if extra else None


def _chat_problem(body: JSONObject) -> str | None:
    problem = _unknown(body, _CHAT_KEYS, "")
    if problem is None and not isinstance(body.get("model"), str):
        problem = "invalid request: model is required"
    messages = body.get("messages")
    if problem is None and not (isinstance(messages, list) and messages):
        problem = "invalid request: messages must be a non-empty list"
    problem = problem or _enums(body)
    for i, tool in enumerate(body.get("tools") or ()):
        problem = problem or _unknown(tool, frozenset(ToolV2.model_fields), f"tools[{i}].")
        problem = problem or _unknown(
            tool.get("function"), frozenset(ToolV2Function.model_fields), f"tools[{i}].function."
        )
    calls: set[str] = set()
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        problem = problem or _message_problem(message, f"messages[{i}].", calls)
    return problem


def _enums(body: JSONObject) -> str | None:
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        return "invalid request: tool_choice must be one of REQUIRED, NONE"
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict)
        or response_format.get("type") not in ("text", "json_object")
        or set(response_format) - {"type", "json_schema"}
        or (response_format["type"] == "text" and "json_schema" in response_format)
    ):
        return "invalid request: response_format must be {type: text} or {type: json_object, json_schema?}"
    thinking = body.get("thinking")
    if thinking is not None and (
        _unknown(thinking, frozenset(Thinking.model_fields), "thinking.")
        or thinking.get("type") not in ("enabled", "disabled")
    ):
        return "invalid request: thinking must be {type: enabled|disabled, token_budget?}"
    return None


def _message_problem(message: Any, where: str, calls: set[str]) -> str | None:
    role = message.get("role") if isinstance(message, dict) else None
    if role not in _MESSAGE_KEYS:
        return f"invalid request: {where}role must be one of user, assistant, system, tool"
    problem = _unknown(message, _MESSAGE_KEYS[role], where)
    content = message.get("content")
    if role != "assistant" and not isinstance(content, str | list):
        problem = problem or f"invalid request: {where}content is required"
    for j, item in enumerate(content if isinstance(content, list) else ()):
        kind = item.get("type") if isinstance(item, dict) else None
        problem = problem or _unknown(item, _CONTENT_KEYS.get(str(kind), frozenset()), f"{where}content[{j}].")
        if kind == "image_url":
            problem = problem or _unknown(item.get("image_url"), frozenset(ImageUrl.model_fields), f"{where}image_url.")
    if role == "assistant":
        if not content and not message.get("tool_calls"):
            problem = problem or f"invalid request: {where}assistant message needs content or tool_calls"
        for j, call in enumerate(message.get("tool_calls") or ()):
            problem = problem or _unknown(call, frozenset(ToolCallV2.model_fields), f"{where}tool_calls[{j}].")
            fields = frozenset(ToolCallV2Function.model_fields)
            problem = problem or _unknown(call.get("function"), fields, f"{where}tool_calls[{j}].function.")
            calls.add(str(call.get("id")))
    if role == "tool" and message.get("tool_call_id") not in calls:
        problem = problem or f"invalid request: {where}tool_call_id does not match any earlier tool call"
    return problem


# -- answer planning --------------------------------------------------------------------------------------------
class _Plan:
    """What the answer says: content items (kind, pieces) or tool calls (name, argument fragments)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, list[str]]] = []
        self.calls: list[tuple[str, str, list[str]]] = []  # (id, name, fragments)
        self.tool_plan = ""
        self.finish = "COMPLETE"

    @property
    def output_tokens(self) -> int:
        return sum(len(p) for _, p in self.items) + 8 * len(self.calls) + len(split_pieces(self.tool_plan))


def _chosen_tools(body: JSONObject) -> list[str]:
    names = [tool["function"]["name"] for tool in body.get("tools") or ()]
    choice = body.get("tool_choice")
    if not names or choice == "NONE":
        return []
    if choice == "REQUIRED":
        return names[:1]
    last = body["messages"][-1]
    if last["role"] != "user":
        return []  # after a tool result the model answers in text
    text = orjson.dumps(last.get("content")).decode()
    return [name for _, name in sorted((text.find(name), name) for name in names if name in text)]


def _plan(body: JSONObject) -> _Plan:
    plan = _Plan()
    if (body.get("thinking") or {}).get("type") == "enabled":
        plan.items.append(("thinking", split_pieces(THINKING)))
    tools = _chosen_tools(body)
    if tools:
        plan.tool_plan = f"I will call {' and '.join(tools)}."
        for position, name in enumerate(tools):
            schema = next(t["function"]["parameters"] for t in body["tools"] if t["function"]["name"] == name)
            arguments = orjson.dumps(example_from_schema(schema)).decode()
            step = max(1, len(arguments) // 3 + 1)
            fragments = [arguments[i : i + step] for i in range(0, len(arguments), step)]
            plan.calls.append(
                (f"{name}_fake{position}{hashlib.sha256(orjson.dumps(body)).hexdigest()[:8]}", name, fragments)
            )
        plan.items = []
        plan.finish = "TOOL_CALL"
        return plan
    response_format = body.get("response_format") or {}
    text = ANSWER
    if response_format.get("type") == "json_object":
        schema = response_format.get("json_schema")
        value = example_from_schema(schema) if schema else {"answer": ANSWER}
        text = orjson.dumps(value).decode()
    plan.items.append(("text", split_pieces(text)))
    limit = body.get("max_tokens")
    if isinstance(limit, int) and plan.output_tokens > limit:
        plan.items = [(kind, pieces[:limit]) for kind, pieces in plan.items if kind == "text"]
        plan.finish = "MAX_TOKENS"
    return plan


def _call_json(call: tuple[str, str, list[str]]) -> JSONObject:
    call_id, name, fragments = call
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": "".join(fragments)}}


def _tool_events(plan: _Plan) -> list[JSONObject]:
    events: list[JSONObject] = [
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}
        for piece in split_pieces(plan.tool_plan)
    ]
    for index, (call_id, name, fragments) in enumerate(plan.calls):
        opening = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        events.append({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": opening}}})
        for fragment in fragments:
            delta = {"message": {"tool_calls": {"function": {"arguments": fragment}}}}
            events.append({"type": "tool-call-delta", "index": index, "delta": delta})
        events.append({"type": "tool-call-end", "index": index})
    return events


def _id(body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
