"""A fake OpenAI API: ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` (PROVIDERS.md §1, §2).

Default answers are deterministic and derived from the request:

* chat: the text ``"Hello from the fake OpenAI upstream."`` (as JSON when ``response_format`` asks for it), or a
  tool call when ``tool_choice`` is ``"required"``/names a function, or when ``tool_choice`` is auto and the last
  user message mentions a tool's name; arguments are built from the schema's required properties. ``n``,
  ``max_completion_tokens`` (finish ``length``), ``stream`` and ``stream_options.include_usage`` are honoured.
  Usage estimates prompt tokens from the request size; a repeated prompt of ≥ 1024 tokens reports cached
  tokens; reasoning models (o-series, gpt-5, or a ``reasoning_effort``) report reasoning tokens.
* embeddings: a pseudo-random vector per input (seeded by model + input), ``dimensions`` and
  ``encoding_format`` honoured (base64 = packed little-endian float32, what openai-python decodes).
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)

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
    strict_validator,
    validation_message,
)

__all__ = ["ANSWER", "CREATED", "OpenAIFake"]

ANSWER = "Hello from the fake OpenAI upstream."
CREATED = 1735689600  # a fixed timestamp keeps responses comparable across runs
REASONING_TOKENS = 16
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "invalid_request_error",
    429: "requests",
}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
_ERROR_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to sample from this model.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again in 1s.",
}
_EMBEDDING_DIMENSIONS = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536}


@dataclass(slots=True)
class _Choice:
    content: str | None
    finish_reason: str
    tool_calls: list[JSONObject] = field(default_factory=list)


class OpenAIFake(FakeUpstream):
    """Fake OpenAI upstream; give ``fake.url`` (``http://127.0.0.1:PORT/v1``) to the SDK as ``base_url``."""

    name = "openai"
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
        return {
            "error": {
                "message": message or _ERROR_MESSAGES.get(status, "The server had an error while processing."),
                "type": error_type or _ERROR_TYPES.get(status, "server_error"),
                "param": None,
                "code": code or _ERROR_CODES.get(status),
            }
        }

    def frame(self, payload: JSONObject) -> SSE:
        return SSE(data=orjson.dumps(payload).decode())

    def stream_end(self) -> tuple[SSE, ...]:
        return (SSE(data="[DONE]"),)

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        error = {
            "message": message or "The server had an error while processing your request.",
            "type": error_type or "server_error",
            "param": None,
            "code": None,
        }
        return self.frame({"error": error})

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {
            "x-request-id": request_id,
            "openai-version": "2020-10-01",
            "openai-processing-ms": "7",
            "openai-organization": "fake-org",
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-limit-tokens": "30000000",
            "x-ratelimit-remaining-tokens": "29999000",
            "x-ratelimit-reset-tokens": "2ms",
        }

    # -- validation ---------------------------------------------------------------------------------------
    def _validate_common(self, request: RecordedRequest) -> Reply | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return Reply.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not isinstance(request.json, dict):
            return _bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload.)"
            )
        if not request.json.get("model"):
            return _bad_request("you must provide a model parameter", param="model")
        return None

    def _validate_chat(self, request: RecordedRequest) -> Reply | None:
        if (rejection := self._validate_common(request)) is not None:
            return rejection
        body = request.body_object
        if "messages" not in body:
            return _bad_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        if body["messages"] == []:
            return _bad_request(
                "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array"
            )
        if unknown := sorted(set(body) - _CHAT_FIELDS):
            return _bad_request(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
        schema = CompletionCreateParamsStreaming if body.get("stream") else CompletionCreateParamsNonStreaming
        if problem := validation_message(strict_validator(schema), _without_echoed_fields(body)):
            return _bad_request(f"Invalid request: {problem}", problem.split(":", 1)[0])
        return _check_chat_rules(body)

    def _validate_embeddings(self, request: RecordedRequest) -> Reply | None:
        if (rejection := self._validate_common(request)) is not None:
            return rejection
        body = request.body_object
        if body.get("input") in (None, "", []):
            return _bad_request("'$.input' is invalid. Please check the API reference.", "input")
        if body.get("encoding_format", "float") not in ("float", "base64"):
            return _bad_request("Invalid value for 'encoding_format'.", "encoding_format")
        if "dimensions" in body and not str(body["model"]).startswith("text-embedding-3"):
            return _bad_request("This model does not support specifying dimensions.", "dimensions")
        return None

    # -- default answers ----------------------------------------------------------------------------------
    def _answer_chat(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        if body.get("stream"):
            return Reply.stream(self._events(request))
        choices = _plan(body)
        return Reply.json(
            {
                "id": _completion_id(request),
                "object": "chat.completion",
                "created": CREATED,
                "model": body["model"],
                "system_fingerprint": "fp_fake",
                "service_tier": "default",
                "choices": [
                    {
                        "index": index,
                        "message": {
                            "role": "assistant",
                            "content": choice.content,
                            "refusal": None,
                            "annotations": [],
                            **({"tool_calls": choice.tool_calls} if choice.tool_calls else {}),
                        },
                        "logprobs": None,
                        "finish_reason": choice.finish_reason,
                    }
                    for index, choice in enumerate(choices)
                ],
                "usage": self._usage(body, choices),
            }
        )

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        """The chunks of a streamed completion (without the final ``[DONE]``, which the stream adds)."""
        body = request.body_object
        choices = _plan(body)
        stream_options = body.get("stream_options") or {}
        include_usage = bool(stream_options.get("include_usage"))
        obfuscate = stream_options.get("include_obfuscation", True)
        prefix = {
            "id": _completion_id(request),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        deltas = [_choice_deltas(choice) for choice in choices]
        chunks: list[JSONObject] = []
        # With n > 1 the real API interleaves the choices' chunks; so does the fake, round-robin.
        for step in range(max(len(d) for d in deltas)):
            for index, choice_deltas in enumerate(deltas):
                if step >= len(choice_deltas):
                    continue
                delta, finish_reason = choice_deltas[step]
                chunk = {
                    **prefix,
                    "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                }
                if include_usage:
                    chunk["usage"] = None
                if obfuscate and delta:
                    chunk["obfuscation"] = "x" * (1 + (step + index) % 7)
                chunks.append(chunk)
        if include_usage:
            chunks.append({**prefix, "choices": [], "usage": self._usage(body, choices)})
        return chunks

    def _usage(self, body: JSONObject, choices: list[_Choice]) -> JSONObject:
        prompt = approx_tokens(orjson.dumps([body.get("messages"), body.get("tools")]))
        # Automatic prompt caching: prompts of ≥ 1024 tokens, counted in 128-token steps, on a repeat.
        key = orjson.dumps([body.get("model"), body.get("messages"), body.get("tools")])
        cached = prompt // 128 * 128 if prompt >= 1024 and self.remember(b"openai:" + key) else 0
        reasoning = REASONING_TOKENS * len(choices) if _reasons(body) else 0
        completion = reasoning + sum(_choice_tokens(choice) for choice in choices)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _answer_embeddings(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        model = str(body["model"])
        inputs = body["input"]
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        size = int(body.get("dimensions") or _EMBEDDING_DIMENSIONS.get(model, 1536))
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            vector = embedding_vector(model, item, size)
            tokens += len(item) if isinstance(item, list) else approx_tokens(str(item))
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return Reply.json({"object": "list", "data": data, "model": model, "usage": usage})


def embedding_vector(model: str, item: Any, size: int) -> list[float]:
    """The fake's embedding of ``item``: deterministic, and exactly representable as float32."""
    seed = hashlib.sha256(orjson.dumps([model, item])).digest()
    rng = random.Random(seed)
    return [rng.randint(-1024, 1024) / 1024 for _ in range(size)]


_CHAT_FIELDS = (
    CompletionCreateParamsStreaming.__required_keys__
    | CompletionCreateParamsStreaming.__optional_keys__
    | CompletionCreateParamsNonStreaming.__optional_keys__
)


def _bad_request(message: str, param: str | None = None, code: str | None = None) -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return Reply.error(400, body=body)


def _check_chat_rules(body: JSONObject) -> Reply | None:
    """Cross-field rules the real API enforces beyond the request schema."""
    if "stream_options" in body and not body.get("stream"):
        return _bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )
    if "parallel_tool_calls" in body and not body.get("tools"):
        return _bad_request("Invalid value for 'parallel_tool_calls': only allowed when 'tools' are specified.")
    names = _tool_names(body)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("function", {}).get("name") not in names:
        return _bad_request("Invalid value for 'tool_choice': no function named so in 'tools'.", "tool_choice")
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object" and b"json" not in orjson.dumps(body["messages"]).lower():
        return _bad_request(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            "messages",
        )
    return None


def _tool_names(body: JSONObject) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or [] if tool.get("type") == "function"]


def _called_tools(body: JSONObject) -> list[str]:
    """The tools the model calls: the forced one, or every tool the last user message mentions (in order of
    mention: several make parallel calls)."""
    names = _tool_names(body)
    choice = body.get("tool_choice", "auto")
    if not names or choice == "none":
        return []
    if isinstance(choice, dict):
        return [str(choice["function"]["name"])]
    if choice == "required":
        return [names[0]]
    messages = body["messages"]
    last = messages[-1] if messages else {}
    if last.get("role") != "user":
        return []  # after a tool result the model answers in text
    text = orjson.dumps(last.get("content")).decode()
    mentioned = sorted((text.find(name), name) for name in names if name in text)
    if body.get("parallel_tool_calls") is False:
        mentioned = mentioned[:1]
    return [name for _, name in mentioned]


def _plan(body: JSONObject) -> list[_Choice]:
    """What each choice says: tool calls or text, cut at the token limit."""
    count = int(body.get("n") or 1)
    tools = _called_tools(body)
    if tools:
        functions = [t["function"] for t in body["tools"] if t.get("type") == "function"]
        schemas = {f["name"]: f.get("parameters", {}) for f in functions}
        # A named tool_choice ends with finish_reason "stop", not "tool_calls": a real-API quirk.
        finish = "stop" if isinstance(body.get("tool_choice"), dict) else "tool_calls"
        return [
            _Choice(
                None,
                finish,
                [
                    _tool_call(
                        f"call_fake{index}_{position}", name, orjson.dumps(example_from_schema(schemas[name])).decode()
                    )
                    for position, name in enumerate(tools)
                ],
            )
            for index in range(count)
        ]
    text = _answer_text(body)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    choices = []
    for _ in range(count):
        pieces = split_pieces(text)
        available = None if limit is None else max(0, int(limit) - (REASONING_TOKENS if _reasons(body) else 0))
        if available is not None and available < len(pieces):
            choices.append(_Choice("".join(pieces[:available]), "length"))
        else:
            choices.append(_Choice(text, "stop"))
    return choices


def _answer_text(body: JSONObject) -> str:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        return orjson.dumps({"message": ANSWER}).decode()
    if response_format.get("type") == "json_schema":
        return orjson.dumps(example_from_schema(response_format["json_schema"].get("schema", {}))).decode()
    return ANSWER


def _reasons(body: JSONObject) -> bool:
    effort = body.get("reasoning_effort")
    if effort is not None:
        return bool(effort != "none")
    return str(body.get("model", "")).startswith(("o1", "o3", "o4", "gpt-5"))


def _tool_call(call_id: str, name: str, arguments: str) -> JSONObject:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _choice_tokens(choice: _Choice) -> int:
    if choice.tool_calls:
        return sum(approx_tokens(call["function"]["arguments"]) + 4 for call in choice.tool_calls)
    return len(split_pieces(choice.content or ""))


def _choice_deltas(choice: _Choice) -> list[tuple[JSONObject, str | None]]:
    """The (delta, finish_reason) pairs streaming one choice."""
    if not choice.tool_calls:
        first: JSONObject = {"role": "assistant", "content": "", "refusal": None}
        pieces = [({"content": piece}, None) for piece in split_pieces(choice.content or "")]
        return [(first, None), *pieces, ({}, choice.finish_reason)]
    deltas: list[tuple[JSONObject, str | None]] = []
    for index, call in enumerate(choice.tool_calls):
        opening = {"index": index, "id": call["id"], "type": "function"}
        opening["function"] = {"name": call["function"]["name"], "arguments": ""}
        head: JSONObject = {"tool_calls": [opening]}
        if index == 0:
            head = {"role": "assistant", "content": None, **head}
        deltas.append((head, None))
        # Fragment the arguments across several deltas, as the real API does, so clients must concatenate.
        arguments = call["function"]["arguments"]
        step = max(1, len(arguments) // 3 + 1)
        for start in range(0, len(arguments), step):
            fragment = {"index": index, "function": {"arguments": arguments[start : start + step]}}
            deltas.append(({"tool_calls": [fragment]}, None))
    deltas.append(({}, choice.finish_reason))
    return deltas


def _completion_id(request: RecordedRequest) -> str:
    return "chatcmpl-fake" + hashlib.sha256(request.body).hexdigest()[:20]


def _without_echoed_fields(body: JSONObject) -> JSONObject:
    """The body minus response-only fields of assistant messages that clients echo back.

    openai-python's own documentation appends ``completion.choices[0].message`` to the next request, which carries
    ``annotations`` (not in the request types); the real API accepts it, so the fake must too.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    cleaned = [
        {k: v for k, v in m.items() if k != "annotations"}
        if isinstance(m, dict) and m.get("role") == "assistant"
        else m
        for m in messages
    ]
    return {**body, "messages": cleaned}
