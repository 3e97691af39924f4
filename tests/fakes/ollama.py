"""A fake Ollama server: ``POST /api/chat`` and ``POST /api/embed`` (PROVIDERS.md §12).

* validation as the Go server does it: a JSON object with ``model`` (400 ``{"error": "model is required"}``),
  ``messages`` with known roles, ``images`` that are bare base64 (a ``data:`` URL or an http URL is a 400, as Go's
  base64 decoder fails on it), tool-call ``arguments`` that are objects (a JSON string is a 400 ``cannot
  unmarshal``), ``format`` ``"json"`` or a schema object, ``think`` a bool or a level. Unknown fields are ignored,
  as Go's JSON decoder does.
* chat answers: ``"Hello from the fake Ollama upstream."`` (JSON for ``format``), cut at ``options.num_predict``
  with ``done_reason: "length"``; ``message.thinking`` when ``think`` is on; tool calls (without ids, as older
  servers send them) for every tool the last user message mentions, in order of mention (Ollama cannot force a
  tool); ``prompt_eval_count``/``eval_count`` and ns durations on the final object. ``stream`` defaults to true:
  NDJSON lines (``application/x-ndjson``), content word by word, tool calls whole in one line, a final
  ``done: true`` line.
* embed: a seeded vector per input, ``dimensions`` honoured, ``prompt_eval_count``.
* scripting: ``Reply.error`` sends ``{"error": "..."}``; ``Reply.stream_error`` an ``{"error": "..."}`` line;
  ``Reply.stream(truncate_after=n)`` stops before the ``done`` line.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

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
from .openai import embedding_vector

__all__ = ["ANSWER", "CREATED_AT", "THINKING", "NDJSONLine", "OllamaFake"]

ANSWER = "Hello from the fake Ollama upstream."
THINKING = "The user wants a greeting."
CREATED_AT = "2025-07-07T20:32:53.844124123Z"
_ROLES = ("system", "user", "assistant", "tool")
_THINK_LEVELS = ("high", "medium", "low", "max")
_DURATIONS = {"total_duration": 3244883583, "load_duration": 2969184542, "prompt_eval_duration": 141656333}


@dataclass(frozen=True, slots=True)
class NDJSONLine(SSE):
    """One NDJSON line (``data`` is the JSON text): lets the shared stream replies write Ollama's framing."""

    def encode(self) -> bytes:
        return (self.data or "").encode() + b"\n"


class OllamaFake(FakeUpstream):
    """Fake Ollama server; ``fake.url`` (``http://127.0.0.1:PORT``) is the SDK's ``host`` and tollway's
    ``api_base``."""

    name = "ollama"
    url_path = ""
    stream_content_type = "application/x-ndjson"

    def routes(self) -> list[Route]:
        return [
            Route("chat", "POST", "/api/chat", self._validate_chat, self._answer_chat, self._events),
            Route("embed", "POST", "/api/embed", self._validate_embed, self._answer_embed),
        ]

    # -- dialect ------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        defaults = {
            400: "invalid request",
            401: "unauthorized",
            404: 'model "llama3.2" not found, try pulling it first',
            429: "too many requests",
        }
        return {"error": message or defaults.get(status, "an internal error occurred")}

    def frame(self, payload: JSONObject) -> SSE:
        return NDJSONLine(data=orjson.dumps(payload).decode())

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        return self.frame({"error": message or "an error was encountered while running the model: unexpected EOF"})

    # -- validation ---------------------------------------------------------------------------------------
    def _validate_chat(self, request: RecordedRequest) -> Reply | None:
        body = request.json
        if not isinstance(body, dict):
            return Reply.error(400, "invalid character 'x' looking for beginning of value")
        if not body.get("model"):
            return Reply.error(400, "model is required")
        problem = _body_problem(body)
        return Reply.error(400, problem) if problem else None

    def _validate_embed(self, request: RecordedRequest) -> Reply | None:
        body = request.json
        if not isinstance(body, dict):
            return Reply.error(400, "invalid character 'x' looking for beginning of value")
        if not body.get("model"):
            return Reply.error(400, "model is required")
        value = body.get("input")
        if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            return Reply.error(400, "invalid input type")
        return None

    # -- default answers ----------------------------------------------------------------------------------
    def _answer_chat(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        if body.get("stream", True):
            return Reply.stream(self._events(request))
        content, calls, reason = _plan(body)
        message: JSONObject = {"role": "assistant", "content": content}
        if body.get("think"):
            message["thinking"] = THINKING
        if calls:
            message["tool_calls"] = calls
        return Reply.json({**_head(body), "message": message, **_final(body, content, calls, reason)})

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        body = request.body_object
        content, calls, reason = _plan(body)
        lines: list[JSONObject] = []
        if body.get("think"):
            for piece in split_pieces(THINKING):
                lines.append(
                    {**_head(body), "message": {"role": "assistant", "content": "", "thinking": piece}, "done": False}
                )
        if calls:
            lines.append(
                {**_head(body), "message": {"role": "assistant", "content": "", "tool_calls": calls}, "done": False}
            )
        for piece in split_pieces(content):
            lines.append({**_head(body), "message": {"role": "assistant", "content": piece}, "done": False})
        final = {**_head(body), "message": {"role": "assistant", "content": ""}, **_final(body, content, calls, reason)}
        return [*lines, final]

    def _answer_embed(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = int(body.get("dimensions") or 384)
        vectors = [embedding_vector(str(body["model"]), item, size) for item in inputs]
        tokens = sum(approx_tokens(item) for item in inputs)
        return Reply.json(
            {
                "model": body["model"],
                "embeddings": vectors,
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": tokens,
            }
        )


def _unmarshal(field: str, go_type: str) -> str:
    return f"json: cannot unmarshal value into Go struct field ChatRequest.{field} of type {go_type}"


def _body_problem(body: JSONObject) -> str | None:
    """What the Go server would refuse in a chat body (None when it would take it)."""
    messages = body.get("messages")
    if messages is not None and not isinstance(messages, list):
        return _unmarshal("messages", "[]api.Message")
    for message in messages or []:
        if problem := _message_problem(message):
            return problem
    fmt = body.get("format")
    if fmt is not None and fmt not in ("", "json") and not isinstance(fmt, dict):
        return f"invalid format: {orjson.dumps(fmt).decode()}"
    think = body.get("think")
    if think is not None and not isinstance(think, bool) and think not in _THINK_LEVELS:
        return f"invalid think value: {orjson.dumps(think).decode()}"
    options = body.get("options")
    if options is not None and not isinstance(options, dict):
        return _unmarshal("options", "map[string]interface {}")
    return None


def _message_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "json: cannot unmarshal value into Go struct field ChatRequest.messages of type api.Message"
    if message.get("role") not in _ROLES:
        return f"invalid role: {message.get('role')}"
    if message.get("content") is not None and not isinstance(message["content"], str):
        return "json: cannot unmarshal array into Go struct field Message.messages.content of type string"
    for image in message.get("images") or []:
        try:
            base64.b64decode(str(image), validate=True)
        except (binascii.Error, ValueError):
            return "illegal base64 data at input byte 4"
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("arguments", {}), dict):
            return (
                "json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls.function"
                ".arguments of type api.ToolCallFunctionArguments"
            )
    return None


def _head(body: JSONObject) -> JSONObject:
    return {"model": body["model"], "created_at": CREATED_AT}


def _called_tools(body: JSONObject) -> list[JSONObject]:
    """The tools the last user message mentions, in order of mention (Ollama cannot be forced to call one)."""
    tools = [t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and t.get("function")]
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if not tools or last.get("role") != "user":
        return []
    text = str(last.get("content") or "")
    mentioned = sorted((text.find(t["name"]), i) for i, t in enumerate(tools) if t["name"] in text)
    return [tools[i] for _, i in mentioned]


def _plan(body: JSONObject) -> tuple[str, list[JSONObject], str]:
    """(content, tool calls, done_reason) of the answer."""
    called = _called_tools(body)
    if called:
        calls = [
            {"function": {"name": t["name"], "arguments": example_from_schema(t.get("parameters", {}))}} for t in called
        ]
        return "", calls, "stop"  # Ollama ends tool calls with "stop" too (§12.1)
    fmt = body.get("format")
    if fmt == "json":
        return orjson.dumps({"message": ANSWER}).decode(), [], "stop"
    if isinstance(fmt, dict):
        return orjson.dumps(example_from_schema(fmt)).decode(), [], "stop"
    limit = (body.get("options") or {}).get("num_predict")
    pieces = split_pieces(ANSWER)
    if isinstance(limit, int) and 0 <= limit < len(pieces):
        return "".join(pieces[:limit]), [], "length"
    return ANSWER, [], "stop"


def _final(body: JSONObject, content: str, calls: list[JSONObject], reason: str) -> JSONObject:
    prompt = approx_tokens(orjson.dumps([body.get("messages"), body.get("tools")]))
    completion = len(split_pieces(content)) + approx_tokens(orjson.dumps(calls)) * bool(calls)
    if body.get("think"):
        completion += len(split_pieces(THINKING))
    return {
        "done": True,
        "done_reason": reason,
        **_DURATIONS,
        "prompt_eval_count": prompt,
        "eval_count": completion,
        "eval_duration": 133293625,
    }
