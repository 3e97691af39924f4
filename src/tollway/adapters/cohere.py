"""The Cohere v2 wire API (chat, embed, rerank), pure; and tollway's one rerank shape, shared with Voyage and Jina.

Wire format: ../shared/PROVIDERS.md §9 (request §9.2, response §9.3, stream §9.4 in ``cohere_stream``, errors
§9.5); mapping tables §13; gotchas §14. Endpoints: ``POST {api_base}/v2/chat``, ``/v2/embed``, ``/v2/rerank`` with
``Authorization: Bearer <key>``.

Chat request mapping (§13.3): ``max_tokens``/``max_completion_tokens`` -> ``max_tokens``, ``top_p`` -> ``p``,
``top_k`` -> ``k``, ``stop`` -> ``stop_sequences``; ``seed``, ``temperature``, penalties and ``logprobs`` keep
their names. ``tool_choice`` ``required``/``none`` -> ``REQUIRED``/``NONE``, ``auto`` is Cohere's default (omitted);
Cohere has no named tool choice, so a named choice sends only that tool with ``REQUIRED`` (same effect).
``response_format`` ``json_object`` -> ``{"type": "json_object"}``, ``json_schema`` -> ``{"type": "json_object",
"json_schema": <schema>}``. ``reasoning_effort`` -> ``thinking`` (``none`` disables it, other efforts enable it
with the token budgets of ``anthropic_models.REASONING_BUDGETS``); an explicit Cohere ``thinking`` wins.
Cohere's own parameters pass through under their names: ``documents``, ``citation_options``, ``safety_mode``,
``strict_tools``, ``priority``, ``k``, ``p`` (or anything via ``extra_body``). Not available on Cohere (§14.1-2,
§14.7): ``n`` > 1, ``top_logprobs``, ``parallel_tool_calls: false``, ``logit_bias``, ``user``...: each raises
``UnsupportedParamsError`` (dropped with ``drop_params``).

Response: text content items -> ``content``, thinking items -> ``reasoning_content``; ``tool_plan`` and
``citations`` are kept on the message as provider fields; usage follows §13.2 (``tokens`` counts, ``cached_tokens``,
``billed_units`` kept on the usage object).

Embeddings: ``input`` -> ``texts`` with ``input_type`` (default ``"search_document"``: the OpenAI call has no such
notion and Cohere requires one for v3+ models; pass ``input_type="search_query"`` for queries), ``embedding_types:
["float"]``, ``dimensions`` -> ``output_dimension`` (embed-v4 and later). Vectors are returned as lists of floats, or
as base64 of little-endian float32 when ``encoding_format="base64"`` (what openai-python asks for by default, §2).

Rerank — tollway's one answer shape, whatever the provider (Cohere's v2 shape, which the gateway serves on
``/rerank``)::

    {"id": str,
     "results": [{"index": int, "relevance_score": float, "document": {"text": str}}, ...],
     "meta": {"billed_units": {...}, "tokens": {...}}}

``results`` are sorted from most to least relevant; ``index`` is the position in the request's ``documents``;
``document`` is present only when the request said ``return_documents=True`` (default False; tollway fills it from
the request, since Cohere v2 never returns documents). Request ``documents`` may be strings or ``{"text": ...}``
objects; anything else is a ``BadRequestError``. ``top_n`` limits the results.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tollway.adapters.anthropic_models import REASONING_BUDGETS
from tollway.adapters.base import (
    BaseAdapter,
    Endpoint,
    StreamDecoder,
    bad_request,
    filter_params,
    json_body,
    load_json,
    require,
)
from tollway.adapters.cohere_stream import (
    CohereStreamDecoder,
    error_from_response,
    finish_reason,
    openai_logprobs,
    openai_message,
    openai_usage,
    path_of,
)
from tollway.errors import (
    BadGatewayError,
    BadRequestError,
    TollwayError,
    UnsupportedParamsError,
)
from tollway.http import HttpRequest, HttpResponse
from tollway.messages import content_text, parse_data_url

__all__ = [
    "CHAT_PARAMS",
    "DEFAULT_INPUT_TYPE",
    "CohereAdapter",
    "RetrievalAdapter",
    "bearer_headers",
    "check_encoding_format",
    "embedding_list",
    "embedding_texts",
    "error_from_response",
    "rerank_answer",
    "rerank_documents",
    "rerank_top_n",
]

# OpenAI parameters this adapter translates, plus Cohere's own names (§9.2). Cohere 400s on unknown fields, so the
# body is built from this list only (§14.14).
CHAT_PARAMS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "n",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "thinking",
        "documents",
        "citation_options",
        "safety_mode",
        "strict_tools",
        "priority",
        "k",
        "p",
    }
)
_CONSUMED = ("model", "messages", "stream_options")
_PASSTHROUGH = ("documents", "citation_options", "safety_mode", "strict_tools", "priority")
_COPIED = ("temperature", "seed", "frequency_penalty", "presence_penalty")

# Cohere requires an input type for embed v3+ models; "search_document" is the documented choice for stored text.
DEFAULT_INPUT_TYPE = "search_document"
_EMBED_PARAMS = frozenset({"dimensions", "encoding_format", "input_type", "truncate", "max_tokens", "priority"})
# Embed v2/v3 models have a fixed size; output_dimension exists from embed-v4 on (cohere-python v2/raw_client.py).
_FIXED_DIMENSION_MARKERS = ("-v2", "-v3")
_RERANK_PARAMS = frozenset({"top_n", "return_documents", "max_tokens_per_doc", "priority", "relevant_spans"})
_RERANK_CONSUMED = ("model", "query", "documents")


def _unsupported(endpoint: Endpoint, param: str, why: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(
        f"{endpoint.provider} does not support {param} {why} (pass drop_params=True to drop it)",
        provider=endpoint.provider,
        model=endpoint.model,
        param=param,
    )


def bearer_headers(endpoint: Endpoint) -> dict[str, str]:
    """JSON headers with ``Authorization: Bearer <key>`` (Cohere, Voyage and Jina all authenticate so)."""
    headers = {"content-type": "application/json"}
    if endpoint.api_key:
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    for name, value in endpoint.headers.items():
        headers.pop(name.lower(), None)  # the caller's spelling of a name replaces ours
        headers[name] = value
    return headers


class CohereAdapter(BaseAdapter):
    """Cohere v2 chat, embed and rerank (stateless; the module docstring lists every mapping)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/v2/chat`` request for an OpenAI chat request."""
        params = filter_params(request, CHAT_PARAMS, endpoint, ignored=_CONSUMED)
        body: dict[str, Any] = {"model": endpoint.model, "messages": convert_messages(request["messages"], endpoint)}
        _sampling(body, params, endpoint)
        _tools(body, params, endpoint)
        _response_format(body, params, endpoint)
        _thinking(body, params, endpoint)
        body.update({name: params[name] for name in _PASSTHROUGH if name in params})
        if params.get("stream"):
            body["stream"] = True
        url = endpoint.api_base + "/v2/chat"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` dict for a Cohere v2 chat answer (§9.3)."""
        data = load_json(response.body, endpoint)
        message = data.get("message")
        if not isinstance(message, dict):
            raise BadGatewayError(
                f"{endpoint.provider} returned a chat response without a 'message' object",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        choice = {
            "index": 0,
            "message": openai_message(message),
            "finish_reason": finish_reason(data.get("finish_reason")),
            "logprobs": openai_logprobs(data.get("logprobs")),
        }
        return {
            "id": str(data.get("id") or ""),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": endpoint.model,
            "choices": [choice],
            "usage": openai_usage(data.get("usage")),
        }

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> CohereStreamDecoder:
        """A decoder for one streamed ``/v2/chat`` answer."""
        return CohereStreamDecoder(endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/v2/embed`` request for an OpenAI embeddings request."""
        params = filter_params(request, _EMBED_PARAMS, endpoint, ignored=("model", "input"))
        check_encoding_format(params, endpoint)
        body: dict[str, Any] = {
            "model": endpoint.model,
            "texts": embedding_texts(request.get("input"), endpoint),
            "input_type": params.get("input_type", DEFAULT_INPUT_TYPE),
            "embedding_types": ["float"],
        }
        if "dimensions" in params:
            if any(marker in endpoint.model for marker in _FIXED_DIMENSION_MARKERS):
                if not endpoint.drop_params:
                    raise _unsupported(endpoint, "dimensions", "on this model (output_dimension needs embed-v4+)")
            else:
                body["output_dimension"] = params["dimensions"]
        body.update({name: params[name] for name in ("truncate", "max_tokens", "priority") if name in params})
        url = endpoint.api_base + "/v2/embed"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI embeddings ``list`` for a Cohere ``embeddings_by_type`` answer."""
        data = load_json(response.body, endpoint)
        embeddings = data.get("embeddings")
        # embeddings_by_type (v2) holds {"float": [...]}; the legacy embeddings_floats form is the list itself.
        vectors = embeddings.get("float") if isinstance(embeddings, Mapping) else embeddings
        meta = path_of(data, "meta")
        prompt = path_of(meta, "billed_units").get("input_tokens", path_of(meta, "tokens").get("input_tokens", 0))
        result = embedding_list(vectors, request, endpoint, prompt_tokens=prompt, body=response.body)
        result["meta"] = dict(meta)
        return result

    def build_rerank_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/v2/rerank`` request (documents sent as strings, as v2 requires)."""
        params = filter_params(request, _RERANK_PARAMS, endpoint, ignored=_RERANK_CONSUMED)
        body: dict[str, Any] = {
            "model": endpoint.model,
            "query": request.get("query"),
            "documents": rerank_documents(request.get("documents"), endpoint),
        }
        top_n = rerank_top_n(request, endpoint)
        if top_n is not None:
            body["top_n"] = top_n
        # return_documents is answered by tollway itself: v2 has no such field (cohere-python v2 rerank).
        body.update({k: params[k] for k in ("max_tokens_per_doc", "priority", "relevant_spans") if k in params})
        url = endpoint.api_base + "/v2/rerank"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_rerank_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Cohere's v2 rerank answer in tollway's rerank shape (it already is that shape, minus documents)."""
        data = load_json(response.body, endpoint)
        meta = path_of(data, "meta")
        return rerank_answer(data.get("results"), request, endpoint, rerank_id=data.get("id"), meta=meta)

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer (``{"message": ...}``, §9.5)."""
        return error_from_response(response, endpoint)


class RetrievalAdapter(BaseAdapter):
    """Base of providers with embeddings and rerank but no chat API (Voyage, Jina): chat raises a clear error."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """Refuse: this provider has no chat API."""
        raise _no_chat(endpoint)

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Refuse: this provider has no chat API."""
        raise _no_chat(endpoint)

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """Refuse: this provider has no chat API."""
        raise _no_chat(endpoint)

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer (``{"detail": ...}`` or ``{"message": ...}`` bodies)."""
        return error_from_response(response, endpoint)


def _no_chat(endpoint: Endpoint) -> BadRequestError:
    return bad_request(
        endpoint,
        f"{endpoint.provider} has no chat API in tollway; it offers embeddings and rerank only",
        "model",
    )


# -- chat request ----------------------------------------------------------------------------------------------
def convert_messages(messages: Sequence[Any], endpoint: Endpoint) -> list[dict[str, Any]]:
    """Cohere v2 ``messages`` for OpenAI ones; ``BadRequestError`` names a message that cannot be sent."""
    converted: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):  # §14.6: developer is OpenAI's name for system
            converted.append({"role": "system", "content": _system_text(message.get("content"), where, endpoint)})
        elif role == "user":
            converted.append({"role": "user", "content": _user_content(message.get("content"), where, endpoint)})
        elif role == "assistant":
            assistant = _assistant(message, i)
            if assistant is not None:
                converted.append(assistant)
        elif role == "tool":
            content = message.get("content")
            if isinstance(content, list):
                content = [{"type": "text", "text": text} for text in [content_text(content)] if text]
            converted.append({"role": "tool", "tool_call_id": message.get("tool_call_id"), "content": content or ""})
        else:
            raise bad_request(endpoint, f"{where}.role {role!r} cannot be sent to Cohere", f"{where}.role")
    return converted


def _system_text(content: Any, where: str, endpoint: Endpoint) -> str:
    if isinstance(content, list) and any(isinstance(p, Mapping) and p.get("type") != "text" for p in content):
        raise bad_request(endpoint, f"{where} may hold text parts only (Cohere system messages are text)", where)
    return content_text(content)


def _user_content(content: Any, where: str, endpoint: Endpoint) -> str | list[dict[str, Any]]:
    if not isinstance(content, list):
        return str(content or "")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if not isinstance(url, str):
                raise bad_request(
                    endpoint,
                    f"{where}.content[{j}].image_url.url must be a string",
                    f"{where}.content[{j}]",
                )
            if not url.startswith(("https://", "http://")):
                parse_data_url(url, f"{where}.content[{j}].image_url.url")  # Cohere takes web or data URLs
            image_url: dict[str, Any] = {"url": url}
            if isinstance(image, Mapping) and image.get("detail") in ("auto", "low", "high"):
                image_url["detail"] = image["detail"]
            parts.append({"type": "image_url", "image_url": image_url})
        else:
            raise bad_request(endpoint, f"{where}.content[{j}] has type {kind!r}, which Cohere cannot take", where)
    return parts


def _assistant(message: Mapping[str, Any], index: int) -> dict[str, Any] | None:
    text = content_text(message.get("content"))
    calls = message.get("tool_calls") or ()
    if not calls:
        return {"role": "assistant", "content": text} if text else None  # Cohere rejects an empty turn
    converted: dict[str, Any] = {"role": "assistant", "tool_calls": []}
    for j, call in enumerate(calls):
        function = call.get("function") or {}
        converted["tool_calls"].append(
            {
                "id": call.get("id") or f"call_{index}_{j}",
                "type": "function",
                "function": {"name": function.get("name"), "arguments": function.get("arguments") or "{}"},
            }
        )
    # Cohere puts the text that accompanies tool calls in tool_plan (§9.2); our answers keep it there too.
    plan = message.get("tool_plan") or text
    if plan:
        converted["tool_plan"] = plan
    return converted


def _sampling(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint) -> None:
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    if limit is not None:
        body["max_tokens"] = limit
    body.update({name: params[name] for name in _COPIED if name in params})
    for ours, theirs in (("top_p", "p"), ("top_k", "k")):
        value = params.get(theirs, params.get(ours))
        if value is not None:
            body[theirs] = value
    stop = params.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if params.get("logprobs"):
        body["logprobs"] = True
    if params.get("n", 1) != 1 and not endpoint.drop_params:
        raise _unsupported(endpoint, "n", "other than 1 (Cohere returns one answer, §14.1)")


def _tools(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint) -> None:
    tools = [_tool(tool, endpoint) for tool in params.get("tools") or ()]
    if params.get("parallel_tool_calls") is False and not endpoint.drop_params:
        raise _unsupported(endpoint, "parallel_tool_calls", "false (Cohere may always call several tools)")
    choice = params.get("tool_choice")
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        tools = [tool for tool in tools if tool["function"]["name"] == name]
        require(bool(tools), f"tool_choice names {name!r}, which is not in tools", endpoint, "tool_choice")
        choice = "required"  # the only tool sent, forced: what a named choice means (Cohere has none, §13.3)
    if not tools:
        return  # a tool_choice without tools means nothing to Cohere
    body["tools"] = tools
    if any((t.get("function") or {}).get("strict") for t in params.get("tools") or ()):
        body.setdefault("strict_tools", True)  # OpenAI's per-function strict is one request switch on Cohere
    if choice in ("required", "none"):
        body["tool_choice"] = str(choice).upper()
    elif choice not in (None, "auto"):
        raise bad_request(endpoint, f"tool_choice {choice!r} has no Cohere equivalent", "tool_choice")


def _tool(tool: Any, endpoint: Endpoint) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(tool, Mapping) or tool.get("type", "function") != "function" or not isinstance(function, Mapping):
        raise bad_request(endpoint, "Cohere takes function tools only", "tools")
    converted: dict[str, Any] = {
        "name": function.get("name"),
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return {"type": "function", "function": converted}


def _response_format(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint) -> None:
    response_format = params.get("response_format")
    if not isinstance(response_format, Mapping):
        return
    kind = response_format.get("type")
    if kind in ("text", "json_object"):
        body["response_format"] = {"type": kind}
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        body["response_format"] = {"type": "json_object"}
        if isinstance(schema, Mapping):
            body["response_format"]["json_schema"] = dict(schema)
    elif not endpoint.drop_params:
        raise _unsupported(endpoint, "response_format", f"of type {kind!r}")


def _thinking(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint) -> None:
    thinking = params.get("thinking")
    if isinstance(thinking, Mapping):
        converted = {"type": thinking.get("type", "enabled")}
        budget = thinking.get("token_budget", thinking.get("budget_tokens"))  # Anthropic's spelling accepted
        if budget is not None:
            converted["token_budget"] = budget
        body["thinking"] = converted
        return
    effort = params.get("reasoning_effort")
    if effort is None:
        return
    if effort == "none":
        body["thinking"] = {"type": "disabled"}
    elif effort in REASONING_BUDGETS:
        body["thinking"] = {"type": "enabled", "token_budget": REASONING_BUDGETS[effort]}
    elif not endpoint.drop_params:
        raise _unsupported(endpoint, "reasoning_effort", f"{effort!r} (one of none, {', '.join(REASONING_BUDGETS)})")


# -- embeddings and rerank, shared by every retrieval provider ---------------------------------------------------
def embedding_texts(value: object, endpoint: Endpoint) -> list[str]:
    """The texts of an OpenAI embeddings ``input`` (a string or a list of strings; token ids are OpenAI-only)."""
    texts = [value] if isinstance(value, str) else value
    require(
        isinstance(texts, list) and bool(texts) and all(isinstance(t, str) and t for t in texts),
        f"input must be a non-empty string or a list of non-empty strings ({endpoint.provider} takes no token ids)",
        endpoint,
        "input",
    )
    assert isinstance(texts, list)
    return texts


def check_encoding_format(params: Mapping[str, Any], endpoint: Endpoint) -> None:
    """Require ``encoding_format`` to be absent, ``float`` or ``base64`` (what ``embedding_list`` produces)."""
    encoding = params.get("encoding_format")
    require(
        encoding in (None, "float", "base64"),
        "encoding_format must be 'float' or 'base64'",
        endpoint,
        "encoding_format",
    )


def embedding_list(
    vectors: object, request: Mapping[str, Any], endpoint: Endpoint, *, prompt_tokens: object, body: bytes
) -> dict[str, Any]:
    """The OpenAI embeddings ``list`` for float ``vectors`` in input order (base64 float32 when asked, §2)."""
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise BadGatewayError(
            f"{endpoint.provider} returned an embeddings response without a list of float vectors",
            provider=endpoint.provider,
            model=endpoint.model,
            body=body,
        )
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, vector in enumerate(vectors):
        floats = [float(x) for x in vector]
        embedding: Any = floats
        if as_base64:
            embedding = base64.b64encode(struct.pack(f"<{len(floats)}f", *floats)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = int(prompt_tokens) if isinstance(prompt_tokens, int | float) else 0
    return {
        "object": "list",
        "model": endpoint.model,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def rerank_documents(documents: object, endpoint: Endpoint) -> list[str]:
    """The texts of rerank ``documents`` given as strings or ``{"text": ...}`` objects."""
    require(
        isinstance(documents, list) and bool(documents), "documents must be a non-empty list", endpoint, "documents"
    )
    assert isinstance(documents, list)
    texts: list[str] = []
    for i, document in enumerate(documents):
        text = document.get("text") if isinstance(document, Mapping) else document
        if not isinstance(text, str):
            raise bad_request(
                endpoint, f"documents[{i}] must be a string or an object with a 'text' string", f"documents[{i}]"
            )
        texts.append(text)
    return texts


def rerank_top_n(request: Mapping[str, Any], endpoint: Endpoint) -> int | None:
    """The request's ``top_n`` (a positive integer), or None."""
    top_n = request.get("top_n")
    if top_n is not None:
        require(type(top_n) is int and top_n >= 1, "top_n must be a positive integer", endpoint, "top_n")
    return top_n


def rerank_answer(
    results: object,
    request: Mapping[str, Any],
    endpoint: Endpoint,
    *,
    rerank_id: object,
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """Tollway's rerank shape from ``results`` items ``{"index", "relevance_score"}`` (see the module docstring)."""
    documents = rerank_documents(request.get("documents"), endpoint)
    if not isinstance(results, list):
        raise BadGatewayError(
            f"{endpoint.provider} returned a rerank response without a results list",
            provider=endpoint.provider,
            model=endpoint.model,
        )
    ranked: list[dict[str, Any]] = []
    for item in results:
        index = item.get("index") if isinstance(item, Mapping) else None
        score = item.get("relevance_score") if isinstance(item, Mapping) else None
        if type(index) is not int or not 0 <= index < len(documents) or not isinstance(score, int | float):
            raise BadGatewayError(
                f"{endpoint.provider} returned a rerank result that names no document of the request: {item!r}",
                provider=endpoint.provider,
                model=endpoint.model,
            )
        entry: dict[str, Any] = {"index": index, "relevance_score": float(score)}
        if request.get("return_documents"):
            entry["document"] = {"text": documents[index]}
        ranked.append(entry)
    ranked.sort(key=lambda entry: -entry["relevance_score"])  # stable: ties keep the provider's order
    top_n = request.get("top_n")
    if type(top_n) is int:
        ranked = ranked[:top_n]
    return {"id": str(rerank_id or ""), "results": ranked, "meta": dict(meta)}
