"""The AWS Bedrock Runtime wire API: Converse / ConverseStream for chat, InvokeModel for embeddings (pure).

Wire format: ../shared/PROVIDERS.md §8 (endpoint §8.1, auth §8.2, request §8.3, response §8.4, stream §8.5-8.6,
errors §8.7); mapping tables §13; gotchas §14.

* URL: ``{api_base}/model/{modelId}/converse`` (``/converse-stream`` when streaming). The model id is
  percent-encoded (``/`` of ARNs included; ``:`` stays raw, see ``model_path``); a LiteLLM-style ``converse/``
  prefix is accepted and dropped. ``{region}`` in ``api_base`` is filled from ``params["aws_region_name"]``.
* Auth: ``Endpoint.api_key`` (a Bedrock API key: ``api_key=`` or ``AWS_BEARER_TOKEN_BEDROCK``) is sent as
  ``Authorization: Bearer``; otherwise the request is SigV4-signed for service ``bedrock`` with
  ``params["aws_access_key_id"|"aws_secret_access_key"|"aws_session_token"]`` (filled by
  ``tollway.credentials.aws.BedrockCredentials``). The signing time is the clock, or ``params["signing_time"]``
  (a ``datetime``, epoch seconds or ISO 8601 text) to pin it.
* Parameters: ``max_tokens``/``max_completion_tokens``, ``temperature``, ``top_p``, ``stop`` go to
  ``inferenceConfig``; ``top_k`` and Anthropic's ``thinking`` to ``additionalModelRequestFields``;
  ``reasoning_effort`` becomes Anthropic thinking budgets (``anthropic_models.REASONING_BUDGETS``) on
  ``anthropic.*`` models and ``reasoning_effort`` on ``openai.*`` (gpt-oss) models; ``response_format`` becomes
  ``outputConfig.textFormat`` (``json_object`` as the schema ``{"type": "object"}``); ``user`` becomes
  ``requestMetadata.user``; ``service_tier`` ``default``/``flex``/``priority`` becomes ``serviceTier``.
  Converse's own top-level fields are accepted as parameters under their Bedrock names
  (``guardrailConfig``, ``additionalModelRequestFields``, ``additionalModelResponseFieldPaths``,
  ``performanceConfig``, ``promptVariables``, ``requestMetadata``, ``outputConfig``, ``serviceTier``), and
  ``extra_body`` is merged over the body verbatim. ``n`` > 1, ``parallel_tool_calls=False``, ``seed``,
  penalties and logprobs have no Converse equivalent: ``UnsupportedParamsError`` (or dropped).
* Responses keep Bedrock's extras: ``additionalModelResponseFields``, ``trace``, ``metrics``,
  ``performanceConfig`` and ``serviceTier`` at the top level, reasoning as ``reasoning_content`` and
  ``thinking_blocks`` (Anthropic's shape, so a next turn can send them back), citations as
  ``message.citations``.
* Embeddings by model family: Amazon Titan text (``amazon.titan-embed-text-*``: one text per InvokeModel call)
  and Cohere Embed (``cohere.embed-*``: a batch per call). ``build_embedding_requests`` /
  ``merge_embedding_responses`` split a Titan batch into one request per input and sum the usage.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from tollway.adapters.anthropic_models import REASONING_BUDGETS, default_max_tokens
from tollway.adapters.base import BaseAdapter, Endpoint, StreamDecoder, filter_params, json_body, load_json, require
from tollway.adapters.bedrock_messages import convert_messages, convert_tool_choice, convert_tools
from tollway.adapters.bedrock_models import error_from_exception, exception_name, finish_reason, openai_usage
from tollway.credentials.sigv4 import AwsCredentials, sign_request
from tollway.errors import BadGatewayError, MissingCredentialsError, TollwayError, UnsupportedParamsError
from tollway.http import HttpRequest, HttpResponse, parse_retry_after

__all__ = ["SIGNING_SERVICE", "BedrockAdapter", "converse_url", "model_path", "sign"]

# §8.2: Bedrock Runtime signs as "bedrock", not "bedrock-runtime".
SIGNING_SERVICE = "bedrock"

SUPPORTED_PARAMS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "n",
        "user",
        "service_tier",
        "reasoning_effort",
        "thinking",
        "response_format",
    }
)
# Converse's own top-level members (botocore service-2.json ConverseRequest), accepted under their names.
NATIVE_PARAMS = frozenset(
    {
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "performanceConfig",
        "promptVariables",
        "requestMetadata",
        "outputConfig",
        "serviceTier",
    }
)
_CONSUMED = ("model", "messages", "stream_options")
_SERVICE_TIERS = frozenset({"default", "flex", "priority"})
_RESPONSE_EXTRAS = ("additionalModelResponseFields", "trace", "metrics", "performanceConfig", "serviceTier")
_EMBEDDING_PARAMS = frozenset({"input", "dimensions", "encoding_format", "input_type", "truncate", "normalize"})


def model_path(model: str) -> str:
    """The model id as one path segment, encoded as botocore sends it: ``/`` (ARNs) and ``:`` become ``%2F`` and
    ``%3A`` (``anthropic.claude-...-v1%3A0``); the signature covers exactly this path (§8.2), and the transport
    sends URLs without re-quoting them."""
    return quote(model, safe="")


def converse_url(endpoint: Endpoint, action: str) -> str:
    """``{api_base}/model/{encoded model id}/{action}`` with ``{region}`` filled."""
    model = endpoint.model.removeprefix("converse/")
    return f"{_base(endpoint)}/model/{model_path(model)}/{action}"


def _base(endpoint: Endpoint) -> str:
    base = endpoint.api_base
    if "{region}" in base:
        region = endpoint.params.get("aws_region_name")
        require(
            bool(region), "bedrock needs a region: set AWS_REGION or pass aws_region_name=", endpoint, "aws_region_name"
        )
        base = base.replace("{region}", str(region))
    return base


def sign(endpoint: Endpoint, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
    """Add Bedrock auth to ``headers``: the API key as a bearer token, else a SigV4 signature."""
    if endpoint.api_key:
        return {**headers, "authorization": f"Bearer {endpoint.api_key}"}
    params = endpoint.params
    key_id, secret = params.get("aws_access_key_id"), params.get("aws_secret_access_key")
    if not key_id or not secret:
        raise MissingCredentialsError(
            "no AWS credentials for bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
            "AWS_BEARER_TOKEN_BEDROCK",
            provider=endpoint.provider,
            model=endpoint.model,
        )
    region = params.get("aws_region_name")
    require(bool(region), "bedrock needs a region to sign requests: set AWS_REGION", endpoint, "aws_region_name")
    credentials = AwsCredentials(str(key_id), str(secret), params.get("aws_session_token") or None)
    return sign_request(
        method,
        url,
        headers,
        body,
        credentials=credentials,
        region=str(region),
        service=SIGNING_SERVICE,
        now=_signing_time(params.get("signing_time")),
    )


def _signing_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.now(UTC)


def _unsupported(endpoint: Endpoint, param: str, why: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(
        f"{endpoint.provider} does not support {param} {why} (pass drop_params=True to drop it)",
        provider=endpoint.provider,
        model=endpoint.model,
        param=param,
    )


def _family(model: str) -> str:
    """The provider part of a Bedrock model id: ``anthropic`` for ``us.anthropic.claude-...`` or an ARN."""
    tail = model.rsplit("/", 1)[-1]
    for family in ("anthropic", "openai", "amazon", "cohere", "meta", "mistral", "deepseek", "qwen", "writer"):
        if tail.startswith(family + ".") or f".{family}." in tail:
            return family
    return ""


class BedrockAdapter(BaseAdapter):
    """Translates OpenAI requests to Bedrock Converse / InvokeModel and the answers back (stateless)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The signed ``/converse`` (or ``/converse-stream``) request for an OpenAI chat request."""
        params = filter_params(request, SUPPORTED_PARAMS | NATIVE_PARAMS, endpoint, ignored=_CONSUMED)
        _check_single_choice(params, endpoint)
        converted = convert_messages(request.get("messages") or [], endpoint)
        body: dict[str, Any] = {"messages": converted.messages}
        if converted.system:
            body["system"] = converted.system
        extra_fields = dict(params.get("additionalModelRequestFields") or {})
        thinking_budget = _reasoning(params, endpoint, extra_fields)
        inference = _inference_config(params, endpoint, thinking_budget)
        if inference:
            body["inferenceConfig"] = inference
        _tool_config(body, params, endpoint, thinking=thinking_budget is not None)
        if "top_k" in params:
            extra_fields["top_k"] = params["top_k"]
        if extra_fields:
            body["additionalModelRequestFields"] = extra_fields
        _output_config(body, params, endpoint)
        _metadata(body, params, endpoint)
        for name in ("guardrailConfig", "additionalModelResponseFieldPaths", "performanceConfig", "promptVariables"):
            if name in params:
                body[name] = params[name]
        url = converse_url(endpoint, "converse-stream" if params.get("stream") else "converse")
        payload = json_body(body, endpoint.extra_body)
        headers = {"content-type": "application/json", **{k.lower(): v for k, v in endpoint.headers.items()}}
        return HttpRequest("POST", url, sign(endpoint, "POST", url, payload, headers), payload)

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` dict for a Converse answer."""
        data = load_json(response.body, endpoint)
        output = data.get("output")
        message = output.get("message") if isinstance(output, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            raise BadGatewayError(
                f"{endpoint.provider} returned a Converse response without output.message.content",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        request_id = response.headers.get("x-amzn-requestid")
        openai_message = _message(content)
        finish = finish_reason(data.get("stopReason"))
        if finish == "tool_calls" and "tool_calls" not in openai_message:
            finish = "stop"
        result: dict[str, Any] = {
            "id": f"chatcmpl-{request_id or uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": endpoint.model,
            "choices": [{"index": 0, "message": openai_message, "finish_reason": finish, "logprobs": None}],
            "usage": openai_usage(data.get("usage")),
        }
        result.update({name: data[name] for name in _RESPONSE_EXTRAS if name in data})
        return result

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """A fresh ``BedrockStreamDecoder`` for one ConverseStream answer."""
        from tollway.adapters.bedrock_stream import BedrockStreamDecoder

        return BedrockStreamDecoder(endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """One InvokeModel request (Titan: only for a single input; see ``build_embedding_requests``)."""
        requests = self.build_embedding_requests(request, endpoint)
        require(
            len(requests) == 1,
            f"{endpoint.model} embeds one text per request; send one input per call "
            "(or use a cohere.embed-* model, which takes a batch)",
            endpoint,
            "input",
        )
        return requests[0]

    def build_embedding_requests(self, request: dict[str, Any], endpoint: Endpoint) -> list[HttpRequest]:
        """The InvokeModel requests for an embeddings request: one per input for Titan, one for Cohere."""
        from tollway.adapters.bedrock_models import embedding_bodies

        params = filter_params(request, _EMBEDDING_PARAMS, endpoint, ignored=("model",))
        url = f"{_base(endpoint)}/model/{model_path(endpoint.model)}/invoke"
        requests = []
        for body in embedding_bodies(params, endpoint):
            payload = json_body(body, endpoint.extra_body)
            headers = {"content-type": "application/json", "accept": "application/json", **endpoint.headers}
            requests.append(HttpRequest("POST", url, sign(endpoint, "POST", url, payload, headers), payload))
        return requests

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI embeddings ``list`` for one InvokeModel answer (Titan or Cohere)."""
        return self.merge_embedding_responses([response], request, endpoint)

    def merge_embedding_responses(
        self, responses: list[HttpResponse], request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """One OpenAI embeddings ``list`` from the answers to ``build_embedding_requests`` (usage summed)."""
        vectors: list[list[float]] = []
        tokens = 0
        for response in responses:
            data = load_json(response.body, endpoint)
            batch = data.get("embeddings") if "embeddings" in data else [data.get("embedding")]
            if isinstance(batch, Mapping):
                batch = batch.get("float")  # Cohere with embedding_types: {"float": [[...]]}
            if not isinstance(batch, list) or not all(isinstance(v, list) for v in batch):
                raise BadGatewayError(
                    f"{endpoint.provider} returned an embeddings answer without vectors",
                    provider=endpoint.provider,
                    model=endpoint.model,
                    body=response.body,
                )
            vectors.extend(batch)
            count = data.get("inputTextTokenCount", response.headers.get("x-amzn-bedrock-input-token-count"))
            tokens += int(str(count)) if str(count or "").isdigit() else 0
        base64_format = request.get("encoding_format") == "base64"
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _b64(v) if base64_format else v}
                for i, v in enumerate(vectors)
            ],
            "model": endpoint.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer (``x-amzn-errortype`` or ``__type``, §8.7)."""
        try:
            payload: Any = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        name = exception_name(response.headers.get("x-amzn-errortype") or payload.get("__type") or payload.get("code"))
        message = payload.get("message") or payload.get("Message")
        if not isinstance(message, str) or not message:
            preview = response.body[:200].decode("utf-8", errors="replace").strip()
            message = f"{endpoint.provider} returned HTTP {response.status}" + (f": {preview}" if preview else "")
        return error_from_exception(
            name,
            message,
            endpoint,
            status=response.status,
            headers=response.headers,
            body=response.body,
            retry_after=parse_retry_after(response.headers),
        )


def _b64(vector: list[float]) -> str:
    # OpenAI's base64 encoding: little-endian float32 (openai-python decodes it with numpy.frombuffer).
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _check_single_choice(params: dict[str, Any], endpoint: Endpoint) -> None:
    # §14.1, §14.7: Converse returns one choice, and has no switch for parallel tool use.
    for name, bad in (
        ("n", params.get("n", 1) != 1),
        ("parallel_tool_calls", params.get("parallel_tool_calls") is False),
    ):
        if bad and not endpoint.drop_params:
            raise _unsupported(endpoint, name, f"= {params[name]!r} (Converse has no equivalent)")
        params.pop(name, None)


def _reasoning(params: dict[str, Any], endpoint: Endpoint, extra_fields: dict[str, Any]) -> int | None:
    """Put reasoning settings into ``additionalModelRequestFields``; the Anthropic thinking budget, if any."""
    family = _family(endpoint.model)
    thinking = params.get("thinking")
    effort = params.get("reasoning_effort")
    if family == "anthropic" and isinstance(thinking, Mapping):
        extra_fields["thinking"] = dict(thinking)
    elif family == "anthropic" and effort not in (None, "none"):
        budget = REASONING_BUDGETS.get(effort)
        if budget is None:
            if not endpoint.drop_params:
                raise _unsupported(
                    endpoint, "reasoning_effort", f"{effort!r} (one of none, {', '.join(REASONING_BUDGETS)})"
                )
            return None
        extra_fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif family == "openai" and effort is not None:
        extra_fields["reasoning_effort"] = effort  # gpt-oss on Bedrock takes OpenAI's field as a model field
    elif (thinking is not None or effort not in (None, "none")) and not endpoint.drop_params:
        name = "thinking" if thinking is not None else "reasoning_effort"
        raise _unsupported(endpoint, name, "for this model family (Anthropic and gpt-oss models only)")
    current = extra_fields.get("thinking")
    if isinstance(current, Mapping) and current.get("type") == "enabled":
        budget = current.get("budget_tokens")
        return budget if isinstance(budget, int) else None
    return None


def _inference_config(params: dict[str, Any], endpoint: Endpoint, thinking_budget: int | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    given = params.get("max_completion_tokens", params.get("max_tokens"))
    if thinking_budget is not None:
        # Anthropic thinking: the budget counts inside maxTokens and must be below it (§5.6); a smaller cap is
        # read as room for the visible answer on top of the budget, as the Anthropic adapter does.
        if given is None:
            given = max(default_max_tokens(endpoint.model), thinking_budget + 4096)
        elif given <= thinking_budget:
            given = thinking_budget + given
        if params.get("temperature", 1) != 1 and not endpoint.drop_params:
            raise _unsupported(endpoint, "temperature", "other than 1 while thinking is on")
        params.pop("temperature", None)
    if given is not None:
        config["maxTokens"] = int(given)
    if "temperature" in params:
        config["temperature"] = params["temperature"]
    if "top_p" in params:
        config["topP"] = params["top_p"]
    stop = params.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    return config


def _tool_config(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint, *, thinking: bool) -> None:
    choice = params.get("tool_choice")
    tools = convert_tools(params.get("tools"), endpoint)
    if not tools or choice == "none":
        return  # §8.3: there is no toolChoice "none"; leaving toolConfig out is how to say it
    config: dict[str, Any] = {"tools": tools}
    converse_choice = convert_tool_choice(choice, endpoint)
    if thinking and converse_choice is not None and "auto" not in converse_choice:
        # Anthropic models reject a forced tool while thinking (§5.6).
        if not endpoint.drop_params:
            raise _unsupported(endpoint, "tool_choice", "that forces a tool while thinking is on")
        converse_choice = {"auto": {}}
    if converse_choice is not None:
        config["toolChoice"] = converse_choice
    body["toolConfig"] = config


def _output_config(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint) -> None:
    if "outputConfig" in params:
        body["outputConfig"] = params["outputConfig"]
        return
    response_format = params.get("response_format")
    if not isinstance(response_format, Mapping) or response_format.get("type") == "text":
        return
    kind = response_format.get("type")
    spec = response_format.get("json_schema") if kind == "json_schema" else None
    if kind == "json_object":
        schema: Any = {"type": "object"}
        name = "json_object"
    elif isinstance(spec, Mapping):
        schema = spec.get("schema") or {"type": "object"}
        name = str(spec.get("name") or "response")
    else:
        if endpoint.drop_params:
            return
        raise _unsupported(endpoint, "response_format", f"of type {kind!r}")
    # §8.3: jsonSchema.schema is a JSON-encoded string, not an object.
    definition: dict[str, Any] = {"schema": orjson.dumps(schema).decode(), "name": name}
    if isinstance(spec, Mapping) and spec.get("description"):
        definition["description"] = spec["description"]
    body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def _metadata(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint) -> None:
    metadata = dict(params.get("requestMetadata") or {})
    if "user" in params:
        metadata["user"] = str(params["user"])
    if metadata:
        body["requestMetadata"] = metadata
    tier = params.get("serviceTier")
    if tier is None and params.get("service_tier") not in (None, "auto"):
        if params["service_tier"] in _SERVICE_TIERS:
            tier = {"type": params["service_tier"]}
        elif not endpoint.drop_params:
            raise _unsupported(
                endpoint, "service_tier", f"{params['service_tier']!r} (auto, default, flex or priority)"
            )
    if tier is not None:
        body["serviceTier"] = tier


def _message(content: list[Any]) -> dict[str, Any]:
    """The OpenAI assistant message for Converse content blocks."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking_blocks: list[dict[str, Any]] = []
    citations: list[Any] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input") if use.get("input") is not None else {}).decode()
            calls.append(
                {
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {"name": use.get("name"), "arguments": arguments},
                }
            )
        elif isinstance(block.get("reasoningContent"), Mapping):
            thinking_blocks.append(_thinking_block(block["reasoningContent"]))
        elif isinstance(block.get("citationsContent"), Mapping):
            cited = block["citationsContent"]
            texts.extend(
                str(part.get("text") or "") for part in cited.get("content") or () if isinstance(part, Mapping)
            )
            citations.extend(cited.get("citations") or ())
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thinking_blocks:
        message["reasoning_content"] = "".join(b.get("thinking", "") for b in thinking_blocks)
        message["thinking_blocks"] = thinking_blocks
    if citations:
        message["citations"] = citations
    return message


def _thinking_block(reasoning: Mapping[str, Any]) -> dict[str, Any]:
    """Converse ``reasoningContent`` in Anthropic's ``thinking_blocks`` shape (what the request side reads)."""
    text = reasoning.get("reasoningText")
    if isinstance(text, Mapping):
        return {"type": "thinking", "thinking": str(text.get("text") or ""), "signature": text.get("signature")}
    return {"type": "redacted_thinking", "data": reasoning.get("redactedContent")}
