"""Vertex AI: Gemini and Claude models under Google Cloud project/location URLs (pure).

Vertex serves two wire formats, chosen here by model family (a property of the model id, not of a provider name):

* ``claude-*``: the Anthropic Messages format (../shared/PROVIDERS.md §5) at
  ``{base}/v1/projects/{P}/locations/{L}/publishers/anthropic/models/{M}:rawPredict`` (``:streamRawPredict`` when
  streaming). The body is the Messages body without ``model`` and with ``"anthropic_version":
  "vertex-2023-10-16"`` (§7.2); answers, streams and model-level errors are Anthropic's, so the Anthropic adapter
  does the translation.
* every other model (``gemini-*``, embedding models): the Gemini format (§6) at
  ``.../publishers/google/models/{M}:generateContent`` (``:streamGenerateContent?alt=sse``) (§7.1), translated by
  the Gemini adapter's reusable functions.

Embeddings use the Vertex text-embeddings API ``:predict`` with ``instances`` (one per input; ``dimensions`` →
``parameters.outputDimensionality``; Vertex provider params ``task_type``, ``title``, ``auto_truncate``), as
documented at https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api; it
serves ``text-embedding-*``, ``text-multilingual-embedding-*`` and ``gemini-embedding-*`` models.

Endpoint: ``api_base`` may hold ``{location}`` (the registry's ``https://{location}-aiplatform.googleapis.com``):
location ``global`` uses ``https://aiplatform.googleapis.com``, ``us``/``eu`` the multi-region hosts
``https://aiplatform.{us|eu}.rep.googleapis.com`` (§7.1); an explicit base is used as given. ``params`` carry
``vertex_project`` (required) and ``vertex_location`` (default ``us-central1``), set by
``tollway.credentials.google.VertexCredentials``; ``api_key`` is the OAuth2 access token, sent as
``Authorization: Bearer``; ``api_version`` is the URL version (``v1`` by default, or ``v1beta1``).

Errors: the Vertex front end answers auth, quota and routing failures with a google.rpc.Status envelope (§6.7,
401 UNAUTHENTICATED, 429 RESOURCE_EXHAUSTED) for both publishers, while Claude's own errors keep Anthropic's
envelope (§5.9); ``map_error`` reads whichever arrived.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import struct
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from tollway.adapters.anthropic import AnthropicAdapter
from tollway.adapters.anthropic_models import error_from_payload
from tollway.adapters.base import BaseAdapter, Endpoint, StreamDecoder, filter_params, json_body, load_json, require
from tollway.errors import BadGatewayError, BadRequestError, TollwayError
from tollway.http import HttpRequest, HttpResponse, parse_retry_after

if TYPE_CHECKING:
    from tollway.adapters.gemini import GeminiAdapter

__all__ = ["ANTHROPIC_VERTEX_VERSION", "DEFAULT_LOCATION", "VertexAdapter", "is_claude", "vertex_base_url"]

# The anthropic_version Vertex documents for Claude request bodies (§7.2; Anthropic "Claude on Vertex AI").
ANTHROPIC_VERTEX_VERSION = "vertex-2023-10-16"
DEFAULT_LOCATION = "us-central1"
_DEFAULT_URL_VERSION = "v1"
_MULTI_REGIONS = frozenset({"us", "eu"})
_REGIONAL_HOST = "{location}-aiplatform.googleapis.com"
# OpenAI embedding parameters, plus the Vertex text-embeddings options accepted as provider params.
_EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format", "task_type", "title", "auto_truncate"})
_EMBEDDING_CONSUMED = ("model", "input")


def is_claude(model: str) -> bool:
    """Whether ``model`` is an Anthropic model on Vertex (``claude-sonnet-4-5@20250929``...)."""
    return model.startswith("claude-")


def vertex_base_url(endpoint: Endpoint) -> str:
    """``api_base`` with ``{location}``/``{project}`` filled; the regional host template follows §7.1's rules."""
    location = _location(endpoint)
    base = endpoint.api_base
    if _REGIONAL_HOST in base and location == "global":
        base = base.replace(_REGIONAL_HOST, "aiplatform.googleapis.com")
    elif _REGIONAL_HOST in base and location in _MULTI_REGIONS:
        base = base.replace(_REGIONAL_HOST, f"aiplatform.{location}.rep.googleapis.com")
    return base.replace("{location}", location).replace("{project}", _project(endpoint))


def _location(endpoint: Endpoint) -> str:
    return str(endpoint.params.get("vertex_location") or DEFAULT_LOCATION)


def _project(endpoint: Endpoint) -> str:
    project = endpoint.params.get("vertex_project")
    require(
        bool(project),
        f"{endpoint.provider} needs a Google Cloud project: set VERTEXAI_PROJECT or pass vertex_project=",
        endpoint,
        param="vertex_project",
    )
    return str(project)


def model_url(endpoint: Endpoint, publisher: str, method: str) -> str:
    """``{base}/{version}/projects/{P}/locations/{L}/publishers/{publisher}/models/{model}:{method}``."""
    model = urllib.parse.quote(endpoint.model, safe="@")
    return (
        f"{vertex_base_url(endpoint)}/{endpoint.api_version or _DEFAULT_URL_VERSION}"
        f"/projects/{_project(endpoint)}/locations/{_location(endpoint)}"
        f"/publishers/{publisher}/models/{model}:{method}"
    )


def bearer_headers(endpoint: Endpoint, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` plus ``Authorization: Bearer <token>`` and the caller's own headers (which win)."""
    headers = dict(base or {"content-type": "application/json"})
    if endpoint.api_key:
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    for name, value in endpoint.headers.items():
        headers.pop(name.lower(), None)
        headers[name] = value
    return headers


@functools.cache
def _gemini() -> GeminiAdapter:
    """The Gemini translation with Vertex URLs and auth (loaded on first use: Claude-only users skip it)."""
    from tollway.adapters.gemini import GeminiAdapter

    class VertexGemini(GeminiAdapter):
        """Gemini bodies, answers and errors; Vertex URLs and bearer auth."""

        def model_url(self, endpoint: Endpoint, method: str) -> str:
            return model_url(endpoint, "google", method)

        def request_headers(self, endpoint: Endpoint) -> dict[str, str]:
            return bearer_headers(endpoint)

    return VertexGemini()


class VertexAdapter(BaseAdapter):
    """Vertex AI chat (Gemini and Claude) and embeddings; stateless, dispatching on the model family."""

    def __init__(self) -> None:
        self._claude = AnthropicAdapter()

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``generateContent`` or ``rawPredict`` request for an OpenAI chat request."""
        if not is_claude(endpoint.model):
            return _gemini().build_chat_request(request, endpoint)
        # The Anthropic adapter builds and validates the Messages body; Vertex moves the model into the URL and
        # the API version into the body (§7.2). Auth is the bearer token, so no x-api-key is built.
        built = self._claude.build_chat_request(request, _without_key(endpoint))
        body = orjson.loads(built.body)
        body.pop("model", None)
        body.setdefault("anthropic_version", ANTHROPIC_VERTEX_VERSION)
        method = "streamRawPredict" if body.get("stream") else "rawPredict"
        headers = {k: v for k, v in built.headers.items() if k.lower() != "anthropic-version"}
        return HttpRequest(
            method="POST",
            url=model_url(endpoint, "anthropic", method),
            headers=bearer_headers(endpoint, headers),
            body=orjson.dumps(body),
        )

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` for a Gemini or Claude answer."""
        if is_claude(endpoint.model):
            return self._claude.parse_chat_response(response, request, endpoint)
        return _gemini().parse_chat_response(response, request, endpoint)

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """The Anthropic SSE decoder for Claude, the Gemini one otherwise."""
        if is_claude(endpoint.model):
            return self._claude.chat_stream_decoder(request, endpoint)
        return _gemini().chat_stream_decoder(request, endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``:predict`` request of the Vertex text-embeddings API (one instance per input)."""
        if is_claude(endpoint.model):
            return super().build_embedding_request(request, endpoint)
        params = filter_params(request, _EMBEDDING_PARAMS, endpoint, ignored=_EMBEDDING_CONSUMED)
        if params.get("encoding_format", "float") not in ("float", "base64"):
            raise BadRequestError(
                "encoding_format must be 'float' or 'base64'",
                provider=endpoint.provider,
                model=endpoint.model,
                param="encoding_format",
            )
        instances = [_instance(text, params) for text in _texts(request.get("input"), endpoint)]
        body: dict[str, Any] = {"instances": instances}
        parameters: dict[str, Any] = {}
        if "dimensions" in params:
            parameters["outputDimensionality"] = int(params["dimensions"])
        if "auto_truncate" in params:
            parameters["autoTruncate"] = bool(params["auto_truncate"])
        if parameters:
            body["parameters"] = parameters
        return HttpRequest(
            method="POST",
            url=model_url(endpoint, "google", "predict"),
            headers=bearer_headers(endpoint),
            body=json_body(body, endpoint.extra_body),
        )

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI embeddings ``list`` for ``{"predictions": [{"embeddings": {"values", "statistics"}}]}``."""
        if is_claude(endpoint.model):
            return super().parse_embedding_response(response, request, endpoint)
        data = load_json(response.body, endpoint)
        predictions = data.get("predictions")
        if not isinstance(predictions, list):
            raise BadGatewayError(
                f"{endpoint.provider} returned an embeddings answer without predictions",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        as_base64 = request.get("encoding_format") == "base64"
        items: list[dict[str, Any]] = []
        tokens = 0
        for index, prediction in enumerate(predictions):
            embeddings = prediction.get("embeddings") if isinstance(prediction, Mapping) else None
            embeddings = embeddings if isinstance(embeddings, Mapping) else {}
            values = [float(v) for v in embeddings.get("values") or ()]
            statistics = embeddings.get("statistics")
            if isinstance(statistics, Mapping) and isinstance(statistics.get("token_count"), int | float):
                tokens += int(statistics["token_count"])
            vector: Any = _base64_floats(values) if as_base64 else values
            items.append({"object": "embedding", "index": index, "embedding": vector})
        result: dict[str, Any] = {
            "object": "list",
            "data": items,
            "model": endpoint.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        if isinstance(data.get("metadata"), Mapping):
            result["vertex_metadata"] = dict(data["metadata"])  # billableCharacterCount: Vertex bills by it
        return result

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer, whichever envelope (google.rpc or Anthropic) it has."""
        if not is_claude(endpoint.model):
            return _gemini().map_error(response, endpoint)
        try:
            payload: Any = json.loads(response.body)
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, Mapping) else None
        if isinstance(error, Mapping) and "type" not in error and ("status" in error or "code" in error):
            return _gemini().map_error(response, endpoint)  # the Vertex front end's google.rpc.Status
        return error_from_payload(
            response.status,
            payload,
            provider=endpoint.provider,
            model=endpoint.model,
            body=response.body,
            headers=response.headers,
            retry_after=parse_retry_after(response.headers),
        )


def _without_key(endpoint: Endpoint) -> Endpoint:
    # Without the token the Anthropic adapter sends no x-api-key; the caller's headers are added afterwards.
    return dataclasses.replace(endpoint, api_key=None, headers={})


def _texts(value: Any, endpoint: Endpoint) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    ok = isinstance(texts, list) and bool(texts) and all(isinstance(t, str) and t for t in texts)
    require(
        ok, f"{endpoint.provider} embeddings take a non-empty string or list of strings as input", endpoint, "input"
    )
    return list(texts)


def _instance(text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    instance: dict[str, Any] = {"content": text}
    if "task_type" in params:
        instance["task_type"] = str(params["task_type"])
    if "title" in params:
        instance["title"] = str(params["title"])
    return instance


def _base64_floats(values: list[float]) -> str:
    # OpenAI's base64 encoding: little-endian float32 (what openai-python decodes).
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
