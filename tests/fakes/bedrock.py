"""A fake AWS Bedrock Runtime: Converse, ConverseStream and InvokeModel (PROVIDERS.md §8).

Routes (model id percent-encoded in the path, as the real service wants it):
``"converse"`` ``POST /model/{id}/converse``, ``"converse_stream"`` ``POST /model/{id}/converse-stream`` and
``"invoke"`` ``POST /model/{id}/invoke`` (embeddings: Titan text and Cohere Embed bodies).

Requests are judged strictly, by independent judges:
* auth: ``Authorization: Bearer <key>`` with a key of ``fake.api_keys``, or a SigV4 signature that botocore's own
  ``SigV4Auth`` recomputes from ``fake.credentials`` (access key id -> secret) and the raw request: a mismatch is
  a 403 ``InvalidSignatureException``, an unknown key id a 403 ``UnrecognizedClientException``;
* body: botocore's ``ParamValidator`` over the operation's input shape from botocore's service model (unknown keys,
  wrong types and missing members are 400 ``ValidationException``), plus Converse rules (first turn ``user``,
  alternating roles, no blank text).

Streams are binary ``application/vnd.amazon.eventstream`` frames. Scripted stream items are dicts of one key,
the event type, as botocore parses them: ``{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}}``;
a key ending in ``Exception`` is framed as an exception. Errors carry ``x-amzn-ErrorType`` as the service sends it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import re
from dataclasses import dataclass

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session
from botocore.validate import ParamValidator

from tollway.eventstream import encode_message

from .base import (
    MAX_WAIT_SECONDS,
    SSE,
    Exchange,
    FakeUpstream,
    JSONObject,
    RecordedRequest,
    Reply,
    Route,
    _close,
    _ErrorReply,
    _StreamReply,
    approx_tokens,
    example_from_schema,
    split_pieces,
)

__all__ = ["ANSWER", "EXCEPTION_BY_STATUS", "REASONING", "BedrockFake", "event_frame", "exception_frame"]

ANSWER = "Hello from the fake Bedrock upstream."
REASONING = "The user greets me; a short friendly answer is right."
EXCEPTION_BY_STATUS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<action>converse|converse-stream|invoke)$")
_FIRST_TURN = (
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)
_ACTIONS = {"converse": "Converse", "converse-stream": "ConverseStream", "invoke": "InvokeModel"}
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+)")


def event_frame(event_type: str, payload: JSONObject) -> bytes:
    """One binary event message (§8.6)."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    """One binary modeled-exception message (``exception_type`` in lowerCamel, e.g. ``throttlingException``)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))


@dataclass(frozen=True, slots=True)
class _Frame(SSE):
    """A binary frame posing as an ``SSE`` item, so the shared stream machinery can write it."""

    raw: bytes = b""

    def encode(self) -> bytes:
        return self.raw


class BedrockFake(FakeUpstream):
    """Fake Bedrock Runtime; give ``fake.url`` to tollway as ``api_base`` or to boto3 as ``endpoint_url``."""

    name = "bedrock"

    def __init__(self) -> None:
        super().__init__()
        self.credentials = {"AKIDFAKEBEDROCK": "fake-bedrock-secret"}
        self.api_keys = {"bedrock-api-key-fake"}
        model = get_session().get_service_model("bedrock-runtime")
        self._shapes = {name: model.operation_model(name).input_shape for name in _ACTIONS.values()}

    def routes(self) -> list[Route]:
        return [
            Route("converse", "POST", "converse", self._validate, self._answer, self._events),
            Route("converse_stream", "POST", "converse-stream", self._validate, self._answer, self._events),
            Route("invoke", "POST", "invoke", self._validate, self._embed),
        ]

    def _find_route(self, recorded: RecordedRequest) -> Route | None:
        match = _PATH.match(recorded.path)
        if match is None:
            return None
        return next(
            (r for r in self._routes.values() if r.path == match["action"] and r.method == recorded.method), None
        )

    def _choose(self, exchange: Exchange) -> Reply:
        rejection = self._authenticate(exchange) if self.strict and exchange.route is not None else None
        reply = rejection or super()._choose(exchange)
        if isinstance(reply, _StreamReply):
            return _EventStreamReply(reply)
        if isinstance(reply, _ErrorReply) and not any(k.lower() == "x-amzn-errortype" for k in reply.headers):
            name = reply.error_type or EXCEPTION_BY_STATUS.get(reply.status, "InternalServerException")
            header = f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"
            return dataclasses.replace(reply, headers={**reply.headers, "x-amzn-ErrorType": header})
        return reply

    # -- dialect ------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        return {"message": message or f"{error_type or EXCEPTION_BY_STATUS.get(status, 'Error')} (fake)"}

    def frame(self, payload: JSONObject) -> SSE:
        ((kind, body),) = payload.items()
        if kind.endswith("Exception"):
            return _Frame(raw=exception_frame(kind, str(body.get("message", ""))))
        return _Frame(raw=event_frame(kind, body))

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        return _Frame(raw=exception_frame(error_type or "throttlingException", message or "Too many requests"))

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {"x-amzn-RequestId": request_id}

    # -- validation ---------------------------------------------------------------------------------------
    def _authenticate(self, exchange: Exchange) -> Reply | None:  # noqa: PLR0911  # one return per AWS auth error
        request = exchange.recorded
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            if authorization[7:] in self.api_keys:
                return None
            return Reply.error(
                403, "Invalid API Key format: Must start with pre-defined prefix", type="AccessDeniedException"
            )
        match = _AUTH.match(authorization)
        if match is None:
            return Reply.error(403, "Missing Authentication Token", type="MissingAuthenticationTokenException")
        key_id, _, region, service, signed = match.groups()
        secret = self.credentials.get(key_id)
        if secret is None:
            return Reply.error(
                403, "The security token included in the request is invalid.", type="UnrecognizedClientException"
            )
        if service != "bedrock":
            return Reply.error(
                403,
                f"Credential should be scoped to correct service: 'bedrock', not {service!r}",
                type="InvalidSignatureException",
            )
        expected = _botocore_signature(exchange, key_id, secret, region, signed.split(";"))
        if expected != authorization:
            return Reply.error(
                403,
                "The request signature we calculated does not match the signature you provided.",
                type="InvalidSignatureException",
            )
        return None

    def _validate(self, request: RecordedRequest) -> Reply | None:
        match = _PATH.match(request.path)
        assert match is not None
        if not isinstance(request.json, dict):
            return _invalid("Malformed input request, please reformat your input and try again.")
        if match["action"] == "invoke":
            return None if request.json else _invalid("Malformed input request: body is empty")
        params = {**request.json, "modelId": match["model"]}
        report = ParamValidator().validate(params, self._shapes[_ACTIONS[match["action"]]])
        if report.has_errors():
            return _invalid(report.generate_report())
        return _converse_rules(request.json)

    # -- default answers ----------------------------------------------------------------------------------
    def _answer(self, request: RecordedRequest) -> Reply:
        if request.path.endswith("/converse-stream"):
            return Reply.stream(self._events(request))
        body = request.body_object
        blocks, stop_reason = _plan(body)
        content = [_block_json(block) for block in blocks]
        return Reply.json(
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop_reason,
                "usage": self._usage(body, blocks),
                "metrics": {"latencyMs": 42},
            }
        )

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        body = request.body_object
        blocks, stop_reason = _plan(body)
        events: list[JSONObject] = [{"messageStart": {"role": "assistant"}}]
        for index, block in enumerate(blocks):
            events.extend(_block_events(index, block))
        events.append({"messageStop": {"stopReason": stop_reason}})
        events.append({"metadata": {"usage": self._usage(body, blocks), "metrics": {"latencyMs": 42}}})
        return events

    def _usage(self, body: JSONObject, blocks: list[_Block]) -> JSONObject:
        prompt = approx_tokens(orjson.dumps([body.get("system"), body.get("messages"), body.get("toolConfig")]))
        read = write = 0
        if b'"cachePoint"' in orjson.dumps(body):
            cacheable = prompt * 3 // 4
            key = orjson.dumps([body.get("system"), body.get("toolConfig"), body.get("messages")])
            if self.remember(b"bedrock:" + key):
                read = cacheable
            else:
                write = cacheable
        output = _output_tokens(blocks)
        usage = {"inputTokens": prompt - read - write, "outputTokens": output, "totalTokens": prompt + output}
        return {**usage, "cacheReadInputTokens": read, "cacheWriteInputTokens": write}

    def _embed(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        if "texts" in body:  # Cohere Embed: token count only in a header (InvokeModel response headers)
            vectors = [_vector(text, 8) for text in body["texts"]]
            tokens = sum(approx_tokens(text) for text in body["texts"])
            answer = {
                "id": "emb-fake",
                "embeddings": vectors,
                "response_type": "embeddings_floats",
                "texts": body["texts"],
            }
            return Reply.json(answer, headers={"X-Amzn-Bedrock-Input-Token-Count": str(tokens)})
        text = str(body.get("inputText", ""))
        vector = _vector(text, int(body.get("dimensions", 8)))
        return Reply.json(
            {"embedding": vector, "embeddingsByType": {"float": vector}, "inputTextTokenCount": approx_tokens(text)}
        )


def _botocore_signature(exchange: Exchange, key_id: str, secret: str, region: str, signed: list[str]) -> str:
    """What botocore signs for this request, from the headers the client said it signed."""
    recorded = exchange.recorded
    url = f"http://{recorded.headers.get('host', '')}{exchange.request.raw_path}"
    headers = {name: recorded.headers.get(name, "") for name in signed}
    aws_request = AWSRequest(method=recorded.method, url=url, headers=headers, data=recorded.body)
    aws_request.context["timestamp"] = recorded.headers.get("x-amz-date", "")
    token = recorded.headers.get("x-amz-security-token")
    auth = SigV4Auth(Credentials(key_id, secret, token), "bedrock", region)
    canonical = auth.canonical_request(aws_request)
    signature = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
    names = ";".join(sorted(signed))
    return f"AWS4-HMAC-SHA256 Credential={auth.scope(aws_request)}, SignedHeaders={names}, Signature={signature}"


def _invalid(message: str) -> Reply:
    return Reply.error(400, message, type="ValidationException")


def _converse_rules(body: JSONObject) -> Reply | None:
    """Rules of the real API beyond the service model (§8.3)."""
    messages = body["messages"]
    if not messages or messages[0]["role"] != "user":
        return _invalid(_FIRST_TURN)
    for previous, current in itertools.pairwise(messages):
        if previous["role"] == current["role"]:
            return _invalid("A conversation must alternate between user and assistant roles.")
    for message in messages:
        for block in message["content"]:
            if "text" in block and not block["text"].strip():
                return _invalid(
                    "The text field in the ContentBlock object is blank. Add text to the text field, and try again."
                )
    return None


@dataclass(frozen=True, slots=True)
class _Block:
    kind: str  # "reasoning" | "text" | "tool"
    pieces: list[str]
    name: str = ""
    block_id: str = ""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _chosen_tools(body: JSONObject) -> tuple[list[str], bool]:
    config = body.get("toolConfig") or {}
    names = [tool["toolSpec"]["name"] for tool in config.get("tools", []) if "toolSpec" in tool]
    choice = config.get("toolChoice") or {"auto": {}}
    if not names:
        return [], False
    if "tool" in choice:
        return [choice["tool"]["name"]], True
    if "any" in choice:
        return [names[0]], True
    last = body["messages"][-1]
    if last["role"] != "user" or any("toolResult" in block for block in last["content"]):
        return [], False
    text = " ".join(block.get("text", "") for block in last["content"])
    return [name for _, name in sorted((text.find(name), name) for name in names if name in text)], False


def _plan(body: JSONObject) -> tuple[list[_Block], str]:
    blocks: list[_Block] = []
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
    if thinking.get("type") == "enabled":
        blocks.append(_Block("reasoning", split_pieces(REASONING)))
    tools, forced = _chosen_tools(body)
    stop_reason = "end_turn"
    if not tools:
        blocks.append(_Block("text", split_pieces(_answer_text(body))))
    else:
        if not forced:
            blocks.append(_Block("text", split_pieces(f"I'll use {' and '.join(tools)}.")))
        specs = {t["toolSpec"]["name"]: t["toolSpec"] for t in body["toolConfig"]["tools"] if "toolSpec" in t}
        for position, tool in enumerate(tools):
            arguments = orjson.dumps(example_from_schema(specs[tool]["inputSchema"]["json"])).decode()
            step = max(1, len(arguments) // 3 + 1)
            pieces = [arguments[start : start + step] for start in range(0, len(arguments), step)]
            tool_id = f"tooluse_fake{position}" + hashlib.sha256(orjson.dumps(body)).hexdigest()[:16]
            blocks.append(_Block("tool", pieces, name=tool, block_id=tool_id))
        stop_reason = "tool_use"
    budget = int((body.get("inferenceConfig") or {}).get("maxTokens") or 1 << 30)
    if _output_tokens(blocks) > budget:
        kept: list[_Block] = []
        for block in blocks:
            if budget <= 0 or block.kind == "tool":
                break
            kept.append(_Block(block.kind, block.pieces[:budget]))
            budget -= len(block.pieces)
        blocks, stop_reason = kept, "max_tokens"
    return blocks, stop_reason


def _answer_text(body: JSONObject) -> str:
    text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
    if text_format.get("type") == "json_schema":
        schema = orjson.loads(text_format["structure"]["jsonSchema"]["schema"])
        example = example_from_schema(schema)
        return orjson.dumps(example if example else {"answer": ANSWER}).decode()
    return ANSWER


def _output_tokens(blocks: list[_Block]) -> int:
    return sum(len(block.pieces) + (8 if block.kind == "tool" else 0) for block in blocks)


def _signature(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _block_json(block: _Block) -> JSONObject:
    if block.kind == "reasoning":
        return {"reasoningContent": {"reasoningText": {"text": block.text, "signature": _signature(block.text)}}}
    if block.kind == "tool":
        return {"toolUse": {"toolUseId": block.block_id, "name": block.name, "input": orjson.loads(block.text)}}
    return {"text": block.text}


def _block_events(index: int, block: _Block) -> list[JSONObject]:
    events: list[JSONObject] = []
    if block.kind == "tool":
        start = {"toolUse": {"toolUseId": block.block_id, "name": block.name}}
        events.append({"contentBlockStart": {"contentBlockIndex": index, "start": start}})
        deltas: list[JSONObject] = [{"toolUse": {"input": piece}} for piece in block.pieces]
    elif block.kind == "reasoning":
        deltas = [{"reasoningContent": {"text": piece}} for piece in block.pieces]
        deltas.append({"reasoningContent": {"signature": _signature(block.text)}})
    else:
        deltas = [{"text": piece} for piece in block.pieces]  # text blocks get no contentBlockStart (§8.5)
    events.extend({"contentBlockDelta": {"contentBlockIndex": index, "delta": delta}} for delta in deltas)
    events.append({"contentBlockStop": {"contentBlockIndex": index}})
    return events


def _vector(text: str, size: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(digest[i % len(digest)] / 255.0 - 0.5, 6) for i in range(size)]


@dataclass(frozen=True, slots=True)
class _EventStreamReply(Reply):
    """``Reply.stream``/``stream_error`` behaviours written as ``application/vnd.amazon.eventstream``."""

    inner: _StreamReply

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        spec = self.inner
        fake = exchange.fake
        items = list(spec.events) if spec.events is not None else list(exchange.default_events())
        response = web.StreamResponse(status=200, headers=exchange.headers(spec.headers))
        response.content_type = "application/vnd.amazon.eventstream"
        await response.prepare(exchange.request)
        for index, item in enumerate(items):
            if spec.error_after is not None and index >= spec.error_after:
                break
            if spec.truncate_after is not None and index >= spec.truncate_after:
                if spec.abort:
                    _close(exchange.request, reset=False)
                    return response
                await response.write_eof()
                return response
            frame = fake.frame(item) if isinstance(item, dict) else item
            if spec.pause:
                await asyncio.sleep(min(spec.pause, MAX_WAIT_SECONDS))
            await response.write(frame.encode() if isinstance(frame, SSE) else frame)
        if spec.error_after is not None:
            await response.write(fake.stream_error(spec.error_message, spec.error_type).encode())
        await response.write_eof()
        return response
