"""A fake Mistral La Plateforme: ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` (PROVIDERS.md §10).

It reuses the OpenAI fake's planning (which tools the model calls, JSON answers, ``max_tokens`` cuts) and speaks
Mistral's dialect around it:

* validation like the real API: ``Authorization: Bearer`` (401 ``{"message": "Unauthorized", "request_id"}``),
  unknown fields at the top level, in messages and in tool calls -> 422 ``{"detail": [{"loc", "msg", "type"}]}``
  (``seed``, ``max_completion_tokens``, ``stream_options``, ``user``, a user ``name``...), bodies checked with
  mistralai's own ``ChatCompletionRequest``/``EmbeddingRequest`` models, tool-call ids that are not 9
  alphanumerics -> 400, and the last message must be ``user``/``tool`` (or an assistant ``prefix``);
* answers: 9-character tool-call ids; ``tool_choice`` ``any``/``required``/named forces a call; reasoning
  (``reasoning_effort`` other than none, ``prompt_mode: "reasoning"``, or a ``magistral`` model) answers
  ``content`` as a list of a ``thinking`` chunk and a ``text`` chunk; streams send tool calls whole in one delta
  and ``usage`` on the final content chunk, never a separate usage chunk; ``data: [DONE]`` ends them.
* errors: top-level ``{"object": "error", "message", "type", "param", "code"}``; an in-stream error is the same
  object as a ``data:`` event (⚠ not documented by Mistral; the SDK has no special handling for it).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

import orjson
from mistralai.client.models import (
    AssistantMessage,
    ChatCompletionRequest,
    EmbeddingRequest,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from pydantic import BaseModel, ValidationError

from .base import SSE, JSONObject, RecordedRequest, Reply, Route, approx_tokens, split_pieces
from .openai import CREATED, OpenAIFake, _Choice, _plan, embedding_vector

__all__ = ["ANSWER", "THINKING", "MistralFake"]

ANSWER = "Hello from the fake Mistral upstream."
THINKING = "The user wants a greeting."
_ID = re.compile(r"[A-Za-z0-9]{9}")
_MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    "system": SystemMessage,
    "user": UserMessage,
    "assistant": AssistantMessage,
    "tool": ToolMessage,
}
_ERROR_MESSAGES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Invalid model",
    429: "Requests rate limit exceeded",
}


def _fields(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


class MistralFake(OpenAIFake):
    """Fake Mistral upstream; ``fake.url`` (``http://127.0.0.1:PORT/v1``) is tollway's ``api_base``, and
    ``fake.origin`` the mistralai SDK's ``server_url``."""

    name = "mistral"
    url_path = "/v1"

    def routes(self) -> list[Route]:
        return [
            Route("chat", "POST", "/v1/chat/completions", self._validate_chat, self._answer_chat, self._events),
            Route("embeddings", "POST", "/v1/embeddings", self._validate_embeddings, self._answer_embeddings),
        ]

    # -- dialect ------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        if status == 422:
            return {
                "detail": [{"loc": ["body"], "msg": message or "Invalid request", "type": error_type or "value_error"}]
            }
        if status == 401 and message is None:
            return {"message": "Unauthorized", "request_id": request_id}
        return {
            "object": "error",
            "message": message or _ERROR_MESSAGES.get(status, "Internal server error"),
            "type": error_type or ("invalid_request_error" if status < 500 else "internal_server_error"),
            "param": None,
            "code": code or str(status),
        }

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        body = self.error_body(500, message, error_type, code=None, request_id="")
        return self.frame(body)

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {
            "mistral-correlation-id": request_id,
            "x-ratelimitbysize-limit-minute": "500000",
            "x-ratelimitbysize-remaining-minute": "499000",
            "x-ratelimitbysize-limit-month": "1000000000",
            "x-ratelimitbysize-remaining-month": "999000000",
        }

    # -- validation ---------------------------------------------------------------------------------------
    def _validate_common(self, request: RecordedRequest) -> Reply | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return Reply.error(401)
        if not isinstance(request.json, dict):
            return _invalid(["body"], "Input should be a valid dictionary", "dict_type")
        return None

    def _validate_chat(self, request: RecordedRequest) -> Reply | None:
        if (rejection := self._validate_common(request)) is not None:
            return rejection
        body = request.body_object
        if rejection := _extra(body, _fields(ChatCompletionRequest), ["body"]):
            return rejection
        for index, message in enumerate(body.get("messages") or []):
            if rejection := _check_message(message, index):
                return rejection
        try:
            ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            error = exc.errors()[0]
            return _invalid(["body", *error["loc"]], error["msg"], error["type"])
        messages = body["messages"]
        last = messages[-1] if messages else {}
        if last.get("role") not in ("user", "tool") and not (last.get("role") == "assistant" and last.get("prefix")):
            return Reply.error(
                400, "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant"
            )
        return None

    def _validate_embeddings(self, request: RecordedRequest) -> Reply | None:
        if (rejection := self._validate_common(request)) is not None:
            return rejection
        body = request.body_object
        if rejection := _extra(body, _fields(EmbeddingRequest), ["body"]):
            return rejection
        try:
            EmbeddingRequest.model_validate(body)
        except ValidationError as exc:
            error = exc.errors()[0]
            return _invalid(["body", *error["loc"]], error["msg"], error["type"])
        return None

    # -- default answers ----------------------------------------------------------------------------------
    def _answer_chat(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        if body.get("stream"):
            return Reply.stream(self._events(request))
        choices = _mistral_plan(body)
        thinking = _thinks(body)
        return Reply.json(
            {
                "id": _completion_id(request),
                "object": "chat.completion",
                "created": CREATED,
                "model": body["model"],
                "choices": [
                    {
                        "index": index,
                        "message": {
                            "role": "assistant",
                            "content": _content(choice, thinking),
                            "tool_calls": choice.tool_calls or None,
                            "prefix": False,
                        },
                        "finish_reason": choice.finish_reason,
                    }
                    for index, choice in enumerate(choices)
                ],
                "usage": _usage(body, choices),
            }
        )

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        """The chunks of a streamed answer (``[DONE]`` is added by the stream); usage rides on the last one."""
        body = request.body_object
        choices = _mistral_plan(body)
        thinking = _thinks(body)
        prefix = {"id": _completion_id(request), "object": "chat.completion.chunk", "created": CREATED}
        prefix["model"] = body["model"]
        chunks: list[JSONObject] = []
        for index, choice in enumerate(choices):
            deltas: list[JSONObject] = [{"role": "assistant", "content": ""}]
            if thinking:
                deltas.append({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": THINKING}]}]})
            if choice.tool_calls:
                deltas.append({"tool_calls": [{**call, "index": i} for i, call in enumerate(choice.tool_calls)]})
            else:
                deltas.extend({"content": piece} for piece in split_pieces(choice.content or ""))
            for delta in deltas:
                chunks.append({**prefix, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
            last = chunks[-1]["choices"][0]
            last["finish_reason"] = choice.finish_reason
        chunks[-1]["usage"] = _usage(body, choices)
        return chunks

    def _answer_embeddings(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        model = str(body["model"])
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = int(body.get("output_dimension") or 1024)
        data = []
        for index, item in enumerate(inputs):
            vector = embedding_vector(model, item, size)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "embedding": encoded, "index": index})
        tokens = sum(approx_tokens(str(item)) for item in inputs)
        usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
        return Reply.json(
            {"id": "emb-" + _digest(request.body), "object": "list", "data": data, "model": model, "usage": usage}
        )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _completion_id(request: RecordedRequest) -> str:
    return _digest(request.body)


def _invalid(loc: list[Any], msg: str, kind: str) -> Reply:
    return Reply.error(422, body={"detail": [{"type": kind, "loc": loc, "msg": msg, "input": None}]})


def _extra(data: Any, allowed: set[str], loc: list[Any]) -> Reply | None:
    if not isinstance(data, dict):
        return None
    for key in data:
        if key not in allowed:
            return _invalid([*loc, key], "Extra inputs are not permitted", "extra_forbidden")
    return None


def _check_message(message: Any, index: int) -> Reply | None:
    if not isinstance(message, dict):
        return None
    model = _MESSAGE_MODELS.get(str(message.get("role")))
    if model is None:
        return _invalid(
            ["body", "messages", index, "role"], "Input tag does not match any expected tag", "union_tag_invalid"
        )
    loc: list[Any] = ["body", "messages", index]
    if rejection := _extra(message, _fields(model), loc):
        return rejection
    ids = [call.get("id") for call in message.get("tool_calls") or [] if isinstance(call, dict)]
    for position, call in enumerate(message.get("tool_calls") or []):
        if rejection := _extra(call, _fields(ToolCall), [*loc, "tool_calls", position]):
            return rejection
    if message.get("role") == "tool":
        ids.append(message.get("tool_call_id"))
    for call_id in ids:
        if call_id is not None and not (isinstance(call_id, str) and _ID.fullmatch(call_id)):
            return Reply.error(
                400,
                f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.",
                code="3280",
            )
    return None


def _thinks(body: JSONObject) -> bool:
    effort = body.get("reasoning_effort")
    if effort is not None:
        return bool(effort != "none")
    return body.get("prompt_mode") == "reasoning" or str(body.get("model", "")).startswith("magistral")


def _mistral_plan(body: JSONObject) -> list[_Choice]:
    """The OpenAI fake's plan, in Mistral's terms: ``any`` forces a call, ids are 9 alphanumerics, text is ours."""
    openai_body = dict(body)
    if body.get("tool_choice") in ("any", "required"):
        openai_body["tool_choice"] = "required"
    openai_body.pop("reasoning_effort", None)  # the OpenAI fake would keep tokens back for its own reasoning
    choices = _plan(openai_body)
    for choice in choices:
        if choice.content and not body.get("response_format"):
            choice.content = _cut(ANSWER, body.get("max_tokens"))
            choice.finish_reason = "length" if choice.content != ANSWER else "stop"
        for call in choice.tool_calls:
            call["id"] = hashlib.sha256(call["id"].encode() + orjson.dumps(body["messages"])).hexdigest()[:9]
        if choice.tool_calls:
            choice.finish_reason = "tool_calls"  # Mistral also reports tool_calls for a forced call
    return choices


def _cut(text: str, limit: Any) -> str:
    pieces = split_pieces(text)
    return text if limit is None or int(limit) >= len(pieces) else "".join(pieces[: int(limit)])


def _content(choice: _Choice, thinking: bool) -> Any:
    if not thinking:
        return choice.content if choice.content is not None else ""
    chunks: list[JSONObject] = [{"type": "thinking", "thinking": [{"type": "text", "text": THINKING}]}]
    if choice.content:
        chunks.append({"type": "text", "text": choice.content})
    return chunks


def _usage(body: JSONObject, choices: list[_Choice]) -> JSONObject:
    prompt = approx_tokens(orjson.dumps([body.get("messages"), body.get("tools")]))
    completion = sum(
        approx_tokens(orjson.dumps(c.tool_calls)) if c.tool_calls else len(split_pieces(c.content or ""))
        for c in choices
    )
    if _thinks(body):
        completion += len(split_pieces(THINKING)) * len(choices)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
