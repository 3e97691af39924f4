"""A fake Gemini API (Generative Language API, PROVIDERS.md §6).

Routes (``/{v1,v1beta,v1beta1}/models/{model}:<method>``, the colon path matched literally, §15):
``"generate"`` ``:generateContent`` (default), ``"stream"`` ``:streamGenerateContent`` (``alt=sse`` required),
``"embed"`` ``:batchEmbedContents``, ``"embed_one"`` ``:embedContent``.

Requests are judged like the real service: ``x-goog-api-key`` (or ``?key=``) is required (403 otherwise), and the
camelCase body is checked field by field against the REST reference with unknown names rejected (400
INVALID_ARGUMENT ``Invalid JSON payload received. Unknown name "x" at 'y': Cannot find field.``), roles are
``user``/``model``, ``parts`` are non-empty with one data field each, ``functionResponse.response`` is an object,
and Gemini 3 models require the ``thoughtSignature`` of the first function call of each model turn (§6.2).

Default answers are deterministic: a thought part when ``thinkingConfig.includeThoughts`` is set (thought tokens
whenever thinking is on), then ``"Hello from the fake Gemini upstream."`` (JSON for ``responseMimeType``
``application/json``); function calls (no text, ``finishReason`` STOP as the real API does) for mode ANY, or for
AUTO when the last user turn mentions declared functions (one call per function, in order of mention). Gemini 3
models sign the first call. ``maxOutputTokens`` cuts the text (MAX_TOKENS), ``candidateCount`` gives several
candidates, ``responseLogprobs`` adds ``logprobsResult``, a ``googleSearch`` tool adds ``groundingMetadata``.
A repeated prompt of ≥ 1024 tokens reports ``cachedContentTokenCount`` (implicit caching).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
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

__all__ = ["ANSWER", "THOUGHT", "GeminiFake"]

ANSWER = "Hello from the fake Gemini upstream."
THOUGHT = "The user greets me; a short friendly answer is right."
THOUGHTS_TOKENS = 24
SIGNATURE = "c2lnbmF0dXJlLWZyb20tdGhlLWZha2U="
_MODEL_PATH = r"/(?:v1|v1beta|v1beta1)/models/(?P<model>[^/:]+):"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    403: "Method doesn't allow unregistered callers (callers without established identity).",
    404: "models/unknown is not found for API version v1beta, or is not supported for generateContent.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
# Fields of the REST messages (ai.google.dev/api), used to reject unknown names as the real service does.
_FIELDS: Mapping[str, frozenset[str]] = {
    "request": frozenset(
        {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent"}
    ),
    "content": frozenset({"role", "parts"}),
    "part": frozenset(
        {
            "text",
            "inlineData",
            "fileData",
            "functionCall",
            "functionResponse",
            "executableCode",
            "codeExecutionResult",
            "thought",
            "thoughtSignature",
            "videoMetadata",
            "partMetadata",
        }
    ),
    "generation_config": frozenset(
        {
            "stopSequences",
            "responseMimeType",
            "responseSchema",
            "responseJsonSchema",
            "responseModalities",
            "candidateCount",
            "maxOutputTokens",
            "temperature",
            "topP",
            "topK",
            "seed",
            "presencePenalty",
            "frequencyPenalty",
            "responseLogprobs",
            "logprobs",
            "enableEnhancedCivicAnswers",
            "speechConfig",
            "thinkingConfig",
            "mediaResolution",
        }
    ),
    "thinking_config": frozenset({"includeThoughts", "thinkingBudget", "thinkingLevel"}),
    "tool": frozenset(
        {
            "functionDeclarations",
            "googleSearchRetrieval",
            "codeExecution",
            "googleSearch",
            "urlContext",
            "googleMaps",
            "fileSearch",
            "computerUse",
        }
    ),
    "function_declaration": frozenset(
        {"name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema", "behavior"}
    ),
    "tool_config": frozenset({"functionCallingConfig"}),
    "function_calling_config": frozenset({"mode", "allowedFunctionNames"}),
}
_DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode")
_MODES = frozenset({"AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"})


class GeminiFake(FakeUpstream):
    """Fake Gemini API upstream; give ``fake.url`` as the base URL (the client adds ``/v1beta/models/...``)."""

    name = "gemini"

    def routes(self) -> list[Route]:
        return [
            Route("generate", "POST", _MODEL_PATH + "generateContent", self._validate, self._answer),
            Route(
                "stream",
                "POST",
                _MODEL_PATH + "streamGenerateContent",
                self._validate_stream,
                self._streamed,
                self._events,
            ),
            Route("embed", "POST", _MODEL_PATH + "batchEmbedContents", self._validate_embed, self._embed),
            Route("embed_one", "POST", _MODEL_PATH + "embedContent", self._validate_embed, self._embed_one),
        ]

    def _find_route(self, recorded: RecordedRequest) -> Route | None:
        # Gemini paths carry the model, so routes are patterns rather than fixed paths.
        for route in self._routes.values():
            if route.method == recorded.method and re.fullmatch(route.path, recorded.path):
                return route
        return None

    # -- dialect ------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        name = error_type or _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        error: JSONObject = {
            "code": status,
            "message": message or _MESSAGES.get(status, "Request failed."),
            "status": name,
        }
        if status == 429:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "requests"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "32s"},
            ]
        if code:
            error.setdefault("details", []).append(
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code, "domain": "googleapis.com"}
            )
        return {"error": error}

    def frame(self, payload: JSONObject) -> SSE:
        return SSE(data=orjson.dumps(payload).decode())

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        name = error_type or "UNAVAILABLE"
        code = next((c for c, n in _STATUS_NAMES.items() if n == name), 500)
        return self.frame({"error": {"code": code, "message": message or _MESSAGES[503], "status": name}})

    # -- validation ---------------------------------------------------------------------------------------
    def _validate(self, request: RecordedRequest) -> Reply | None:
        if not request.headers.get("x-goog-api-key") and not request.query.get("key"):
            return Reply.error(403)
        if not isinstance(request.json, dict):
            return _invalid("Invalid JSON payload received. Expected an object.")
        problem = _request_problem(_body(request), _model(request))
        return None if problem is None else _invalid(problem)

    def _validate_stream(self, request: RecordedRequest) -> Reply | None:
        if request.query.get("alt") != "sse":
            # The real endpoint answers a JSON array without alt=sse; this fake only speaks SSE (§6.1).
            return _invalid("this fake serves streamGenerateContent only with alt=sse")
        return self._validate(request)

    def _validate_embed(self, request: RecordedRequest) -> Reply | None:
        if not request.headers.get("x-goog-api-key") and not request.query.get("key"):
            return Reply.error(403)
        body = _body(request)
        items = body.get("requests") if "requests" in body else [body]
        if not isinstance(items, list) or not items:
            return _invalid("* BatchEmbedContentsRequest.requests: contents is not specified")
        for index, item in enumerate(items):
            unknown = set(item) - {"model", "content", "taskType", "title", "outputDimensionality"}
            if unknown:
                return _invalid(_unknown(sorted(unknown)[0], f"requests[{index}]"))
            if "requests" in body and item.get("model") != f"models/{_model(request)}":
                return _invalid(f"Model {item.get('model')!r} in requests[{index}] does not match the URL's model.")
            parts = (item.get("content") or {}).get("parts")
            if not parts or not all(isinstance(p.get("text"), str) for p in parts):
                return _invalid(f"* requests[{index}].content: contents is not specified")
        return None

    # -- default answers ----------------------------------------------------------------------------------
    def _answer(self, request: RecordedRequest) -> Reply:
        body = _body(request)
        candidates = [_candidate(_plan(body, _model(request)), i) for i in range(_count(body))]
        return Reply.json({**_shell(request), "candidates": candidates, "usageMetadata": self._usage(request)})

    def _streamed(self, request: RecordedRequest) -> Reply:
        return Reply.stream(self._events(request))

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        body = _body(request)
        plan = _plan(body, _model(request))
        usage = self._usage(request)
        shell = _shell(request)
        events: list[JSONObject] = []
        pieces: list[JSONObject] = [{"text": p, "thought": True} for p in plan["thoughts"]]
        pieces += [{"text": p} for p in plan["text"]]
        pieces += [{"functionCall": call["call"], **call["extra"]} for call in plan["calls"]]
        for index, part in enumerate(pieces or [{"text": ""}]):
            candidate: JSONObject = {"content": {"role": "model", "parts": [part]}, "index": 0}
            event: JSONObject = {**shell, "candidates": [candidate]}
            if index == len(pieces) - 1 or not pieces:
                candidate["finishReason"] = plan["finish"]
                event["usageMetadata"] = usage
            else:
                event["usageMetadata"] = {"promptTokenCount": usage["promptTokenCount"]}
            events.append(event)
        return events

    def _usage(self, request: RecordedRequest) -> JSONObject:
        body = _body(request)
        plan = _plan(body, _model(request))
        prompt = approx_tokens(orjson.dumps([body.get("systemInstruction"), body.get("contents"), body.get("tools")]))
        usage: JSONObject = {"promptTokenCount": prompt}
        if prompt >= 1024 and self.remember(
            b"gemini:" + orjson.dumps([_model(request), body.get("systemInstruction"), body.get("contents")])
        ):
            usage["cachedContentTokenCount"] = prompt * 3 // 4  # implicit caching of a repeated prefix
        output = (len(plan["text"]) + 8 * len(plan["calls"])) * _count(body)
        usage["candidatesTokenCount"] = output
        if plan["thinking"]:
            usage["thoughtsTokenCount"] = THOUGHTS_TOKENS
        usage["totalTokenCount"] = prompt + output + usage.get("thoughtsTokenCount", 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        return usage

    def _embed(self, request: RecordedRequest) -> Reply:
        items = _body(request)["requests"]
        return Reply.json({"embeddings": [{"values": _vector(_model(request), item)} for item in items]})

    def _embed_one(self, request: RecordedRequest) -> Reply:
        return Reply.json({"embedding": {"values": _vector(_model(request), _body(request))}})


# Values below these keys are user data (schemas, arguments), not REST field names.
_OPAQUE = frozenset(
    {"parametersJsonSchema", "parameters", "responseJsonSchema", "responseSchema", "args", "response", "properties"}
)


def camel(value: Any) -> Any:
    """The body with proto snake_case field names spelled in camelCase (the API accepts both, §6.2)."""
    if isinstance(value, list):
        return [camel(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: JSONObject = {}
    for key, item in value.items():
        name = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        out[name] = item if name in _OPAQUE else camel(item)
    return out


def _body(request: RecordedRequest) -> JSONObject:
    body = camel(request.body_object)
    assert isinstance(body, dict)
    return body


def _model(request: RecordedRequest) -> str:
    match = re.match(_MODEL_PATH, request.path)
    return match.group("model") if match else ""


def _invalid(message: str) -> Reply:
    return Reply.error(400, message)


def _unknown(name: str, where: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."


def _fields(value: Any, kind: str, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"Invalid value at '{where}': expected an object."
    unknown = sorted(set(value) - _FIELDS[kind])
    return _unknown(unknown[0], where) if unknown else None


def _request_problem(body: JSONObject, model: str) -> str | None:
    problem = _fields(body, "request", "")
    contents = body.get("contents")
    if problem is None and (not isinstance(contents, list) or not contents):
        problem = "* GenerateContentRequest.contents: contents is not specified"
    for i, content in enumerate(contents or ()):
        problem = problem or _content_problem(content, f"contents[{i}]", model)
    system = body.get("systemInstruction")
    if problem is None and system is not None:
        problem = _fields(system, "content", "system_instruction") or _parts_problem(system, "system_instruction")
    problem = problem or _config_problem(body.get("generationConfig"))
    for i, tool in enumerate(body.get("tools") or ()):
        problem = problem or _tool_problem(tool, f"tools[{i}]")
    config = body.get("toolConfig")
    if problem is None and config is not None:
        calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
        problem = _fields(config, "tool_config", "tool_config") or _fields(
            calling, "function_calling_config", "tool_config.function_calling_config"
        )
        if problem is None and calling.get("mode", "AUTO") not in _MODES:
            problem = f"Invalid value at 'tool_config.function_calling_config.mode' ({calling.get('mode')})"
    return problem


def _content_problem(content: Any, where: str, model: str) -> str | None:
    problem = _fields(content, "content", where) or _parts_problem(content, where)
    if problem is not None:
        return problem
    if content.get("role") not in ("user", "model"):
        return f"Please use a valid role: user, model. Got {content.get('role')!r} at '{where}'."
    calls = [p for p in content["parts"] if "functionCall" in p]
    if "gemini-3" in model and calls and not calls[0].get("thoughtSignature"):
        return f"Function call is missing a thought_signature in functionCall parts. ({where}.parts)"
    for j, part in enumerate(content["parts"]):
        response = part.get("functionResponse")
        if response is not None and not isinstance(response.get("response"), dict):
            return f"Invalid value at '{where}.parts[{j}].function_response.response': expected an object."
    return None


def _parts_problem(content: JSONObject, where: str) -> str | None:
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
    for j, part in enumerate(parts):
        problem = _fields(part, "part", f"{where}.parts[{j}]")
        if problem is not None:
            return problem
        if sum(1 for name in _DATA_FIELDS if name in part) != 1:
            oneof = "required oneof field 'data' must have one initialized field"
            return f"* GenerateContentRequest.{where}.parts[{j}].data: {oneof}"
        if part.get("text") == "" and not part.get("thoughtSignature"):
            return f"* GenerateContentRequest.{where}.parts[{j}].text: text must not be empty"
    return None


def _config_problem(config: Any) -> str | None:
    if config is None:
        return None
    problem = _fields(config, "generation_config", "generation_config")
    thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
    if problem is None and thinking is not None:
        problem = _fields(thinking, "thinking_config", "generation_config.thinking_config")
        if problem is None and "thinkingBudget" in thinking and "thinkingLevel" in thinking:
            problem = "You can only set one of thinking budget and thinking level."
    if problem is None and len(config.get("stopSequences") or ()) > 5:
        problem = "Invalid value at 'generation_config.stop_sequences': at most 5 stop sequences are allowed."
    return problem


def _tool_problem(tool: Any, where: str) -> str | None:
    problem = _fields(tool, "tool", where)
    for k, declaration in enumerate((tool.get("functionDeclarations") or ()) if problem is None else ()):
        problem = problem or _fields(declaration, "function_declaration", f"{where}.function_declarations[{k}]")
        if problem is None and "parameters" in declaration and "parametersJsonSchema" in declaration:
            problem = "parameters and parameters_json_schema are mutually exclusive"
        if problem is None and "$schema" in orjson.dumps(declaration).decode():
            problem = _unknown("$schema", f"{where}.function_declarations[{k}].parameters_json_schema")
    return problem


def _count(body: JSONObject) -> int:
    return int((body.get("generationConfig") or {}).get("candidateCount") or 1)


def _declarations(body: JSONObject) -> dict[str, JSONObject]:
    return {d["name"]: d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()}


def _chosen_tools(body: JSONObject) -> list[str]:
    declared = _declarations(body)
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if not declared or mode == "NONE":
        return []
    if mode == "ANY":
        return [(calling.get("allowedFunctionNames") or list(declared))[0]]
    last = body["contents"][-1]
    if last["role"] != "user" or any("functionResponse" in p for p in last["parts"]):
        return []  # after function results the model answers in text
    text = " ".join(p.get("text", "") for p in last["parts"])
    return [name for _, name in sorted((text.find(name), name) for name in declared if name in text)]


def _plan(body: JSONObject, model: str) -> JSONObject:
    """The answer: thought pieces, text pieces, calls, finish reason, whether thinking is on."""
    config = body.get("generationConfig") or {}
    thinking_config = config.get("thinkingConfig") or {}
    thinking = bool(thinking_config) and thinking_config.get("thinkingBudget", -1) != 0
    thoughts = split_pieces(THOUGHT) if thinking_config.get("includeThoughts") else []
    calls = []
    for position, name in enumerate(_chosen_tools(body)):
        declaration = _declarations(body)[name]
        schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
        extra = {"thoughtSignature": SIGNATURE} if "gemini-3" in model and position == 0 else {}
        calls.append({"call": {"name": name, "args": example_from_schema(_lower_types(schema)) or {}}, "extra": extra})
    text: list[str] = []
    finish = "STOP"  # also with function calls: the real API never says "tool" (§6.3)
    if not calls:
        text = split_pieces(_answer_text(config))
        limit = config.get("maxOutputTokens")
        if isinstance(limit, int) and len(text) > limit:
            text, finish = text[:limit], "MAX_TOKENS"
    return {"thoughts": thoughts, "text": text, "calls": calls, "finish": finish, "thinking": thinking, "body": body}


def _lower_types(schema: Any) -> Any:
    # The OpenAPI dialect spells types in capitals; example_from_schema reads JSON Schema.
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    return schema


def _answer_text(config: JSONObject) -> str:
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        return orjson.dumps(example_from_schema(_lower_types(schema)) if schema else {"answer": ANSWER}).decode()
    return ANSWER


def _candidate(plan: JSONObject, index: int) -> JSONObject:
    parts: list[JSONObject] = []
    if plan["thoughts"]:
        parts.append({"text": "".join(plan["thoughts"]), "thought": True})
    if plan["text"]:
        parts.append({"text": "".join(plan["text"])})
    parts.extend({"functionCall": call["call"], **call["extra"]} for call in plan["calls"])
    candidate: JSONObject = {
        "content": {"role": "model", "parts": parts},
        "finishReason": plan["finish"],
        "index": index,
    }
    body = plan["body"]
    if (body.get("generationConfig") or {}).get("responseLogprobs"):
        chosen = [{"token": p, "logProbability": -0.25} for p in plan["text"]]
        candidate["logprobsResult"] = {
            "chosenCandidates": chosen,
            "topCandidates": [{"candidates": [c]} for c in chosen],
        }
    if any("googleSearch" in tool for tool in body.get("tools") or ()):
        candidate["groundingMetadata"] = {
            "webSearchQueries": ["fake query"],
            "groundingChunks": [{"web": {"uri": "https://example.com/", "title": "example.com"}}],
        }
    return candidate


def _shell(request: RecordedRequest) -> JSONObject:
    return {"modelVersion": _model(request), "responseId": "fake" + hashlib.sha256(request.body).hexdigest()[:20]}


def _vector(model: str, item: JSONObject) -> list[float]:
    text = "".join(p.get("text", "") for p in (item.get("content") or {}).get("parts") or ())
    rng = random.Random(hashlib.sha256(orjson.dumps([model, text])).digest())
    return [round(rng.uniform(-1, 1), 6) for _ in range(int(item.get("outputDimensionality") or 768))]
