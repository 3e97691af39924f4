"""Azure OpenAI: OpenAI's wire API under Azure's URLs and auth, with Azure's content-filter annotations.

Bodies, responses and streams are OpenAI's (PROVIDERS.md §4), so ``AzureAdapter`` is the OpenAI adapter given an
endpoint rewritten for Azure. What differs:

URLs
    ``api_base`` is the resource endpoint (``https://NAME.openai.azure.com``; a trailing ``/openai`` is tolerated).
    Classic (deployment) form, the default: ``{api_base}/openai/deployments/{deployment}/chat/completions
    ?api-version={version}`` (and ``/embeddings``), the deployment being the ``azure/<deployment>`` part of the
    model string. Azure ignores the body's ``model`` there; it is sent all the same (what ``AzureOpenAI`` does).
    The v1 form ``{api_base}/openai/v1/chat/completions`` (GA since Aug 2025, no dated ``api-version``; the
    deployment name goes in ``model``) is used when ``api_base`` already ends in ``/openai/v1``, or when the API
    version is ``"v1"`` or ``"latest"``; ``"preview"`` selects the v1 form with ``?api-version=preview`` (Azure's v1
    reference: ``api-version`` is optional there, "v1 if not otherwise specified"). Without an API version the
    adapter uses ``DEFAULT_API_VERSION`` (``AzureCredentials`` normally fills it from the call or the environment).
Auth
    ``api-key: <key>`` when a key is set, else ``Authorization: Bearer <Entra ID token>`` from
    ``params["azure_ad_token"]`` (filled by ``AzureCredentials`` from the call or ``AZURE_AD_TOKEN``).
Reasoning deployments
    Deployment names are free, so OpenAI's model-id rule (o-series/gpt-5 reject ``max_tokens`` and sampling
    controls) only applies when the deployment is named after its model. ``params["azure_reasoning_model"]``
    (True/False) overrides it, and LiteLLM's spellings ``azure/o_series/<deployment>`` and
    ``azure/gpt5_series/<deployment>`` mark a reasoning deployment (the prefix is not part of the deployment).
Parameters
    Azure's own chat parameters ``data_sources`` ("On your data") and ``user_security_context`` are accepted
    beside OpenAI's. Dated API versions before 2024-09-01 have no ``stream_options`` (the 2024-06-01 GA
    spec has none ⚠), so usage is not forced on streams there.
Content filtering
    A blocked output ends with ``finish_reason: "content_filter"`` (passed through); a blocked prompt is a 400
    with ``code: "content_filter"`` or ``innererror.code: "ResponsibleAIPolicyViolation"`` and becomes
    ``ContentPolicyViolationError``. ``prompt_filter_results`` and ``choices[].content_filter_results`` are kept.
    In streams Azure sends ``prompt_filter_results`` alone in a first chunk with ``"choices": []``, an empty id
    and model and ``created: 0``; ``AzureStreamDecoder`` moves those results onto the next chunk so that every
    chunk but the final usage chunk has choices and all chunks share one id (naive clients index
    ``choices[0]``, §14.13).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from tollway.adapters.base import Endpoint, StreamDecoder
from tollway.adapters.openai import OpenAIAdapter
from tollway.adapters.openai_stream import OpenAIStreamDecoder
from tollway.errors import BadRequestError, ContentPolicyViolationError, TollwayError
from tollway.http import HttpRequest, HttpResponse

__all__ = ["DEFAULT_API_VERSION", "AzureAdapter", "AzureStreamDecoder", "azure_openai_endpoint"]

# The latest GA data-plane inference version (PROVIDERS.md §4; Azure OpenAI REST reference).
DEFAULT_API_VERSION = "2024-10-21"
# API versions that select the v1 URL form; "preview" is also sent as the v1 form's api-version query.
_V1_VERSIONS = frozenset({"v1", "latest", "preview"})
_V1_SUFFIX = "/openai/v1"
# LiteLLM's model-string markers for reasoning deployments (``azure/o_series/<deployment>``).
_REASONING_MARKERS = ("o_series/", "gpt5_series/")
# Azure-only chat parameters (Azure OpenAI REST reference: "On your data" data_sources; Defender for Cloud's
# user_security_context).
_AZURE_CHAT_PARAMS = ("data_sources", "user_security_context")
# First dated API version with stream_options.include_usage (2024-09-01-preview); earlier ones reject it ⚠.
_STREAM_OPTIONS_SINCE = "2024-09-01"
_POLICY_INNER_CODE = "ResponsibleAIPolicyViolation"


def azure_openai_endpoint(endpoint: Endpoint) -> Endpoint:
    """The endpoint rewritten so that the OpenAI adapter builds an Azure request (URL, auth, quirks)."""
    version = endpoint.api_version or DEFAULT_API_VERSION
    deployment, reasoning = _deployment(endpoint)
    base = endpoint.api_base.rstrip("/")
    if base.endswith(_V1_SUFFIX) or version.lower() in _V1_VERSIONS:
        root = base if base.endswith(_V1_SUFFIX) else _resource(base) + _V1_SUFFIX
        query = "?api-version=preview" if version.lower() == "preview" else ""
    else:
        root = f"{_resource(base)}/openai/deployments/{quote(deployment, safe='')}"
        query = "?" + urlencode({"api-version": version})
    quirks: dict[str, Any] = {
        **endpoint.quirks,
        "chat_path": "/chat/completions" + query,
        "embeddings_path": "/embeddings" + query,
        "extra_params": (*_names(endpoint.quirks.get("extra_params")), *_AZURE_CHAT_PARAMS),
    }
    if reasoning is not None:
        quirks["reasoning_model"] = reasoning
    if version[:4].isdigit() and version[:10] < _STREAM_OPTIONS_SINCE:
        quirks["include_usage"] = False
    api_key = endpoint.api_key
    if api_key:
        quirks["auth_header"] = "api-key"
    else:
        token = endpoint.params.get("azure_ad_token")
        api_key = token if isinstance(token, str) and token else None
        quirks["auth_header"] = "authorization"
    return dataclasses.replace(endpoint, model=deployment, api_base=root, api_key=api_key, quirks=quirks)


def _deployment(endpoint: Endpoint) -> tuple[str, bool | None]:
    """The deployment name and whether it is a reasoning model (None: decide by OpenAI's model-id rule)."""
    deployment = endpoint.model
    reasoning: bool | None = None
    for marker in _REASONING_MARKERS:
        if deployment.startswith(marker):
            deployment, reasoning = deployment[len(marker) :], True
            break
    forced = endpoint.params.get("azure_reasoning_model")
    if forced is not None:
        reasoning = bool(forced)
    elif reasoning is None and "reasoning_model" in endpoint.quirks:
        reasoning = bool(endpoint.quirks["reasoning_model"])
    return deployment, reasoning


def _resource(base: str) -> str:
    # Users often copy ".../openai" from the portal; the paths below start with /openai themselves.
    return base.removesuffix("/openai")


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(str(item) for item in value)
    return ()


def _is_policy_violation(body: bytes) -> bool:
    """Whether an error body is Azure's prompt-filter envelope (``innererror.code``, PROVIDERS.md §4)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    inner = error.get("innererror") if isinstance(error, dict) else None
    return isinstance(inner, dict) and inner.get("code") == _POLICY_INNER_CODE


class AzureStreamDecoder:
    """The OpenAI stream decoder, with Azure's prompt-filter chunk folded into the next chunk (``StreamDecoder``)."""

    __slots__ = ("_inner", "_pending", "usage")

    def __init__(self, endpoint: Endpoint) -> None:
        self._inner = OpenAIStreamDecoder(endpoint)
        # Azure's choices-less prompt-filter chunk, held until a chunk with choices (or the usage chunk) can carry
        # its prompt_filter_results.
        self._pending: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Decode more bytes (see ``OpenAIStreamDecoder.feed``)."""
        try:
            decoded = self._inner.feed(data)
            chunks = self._fold(decoded)
            if decoded and not chunks:
                # Only the prompt-filter chunk came before an in-stream error the inner decoder holds: with nothing
                # to hand out, raise it now (the held error surfaces on the inner decoder's next call).
                chunks = self._fold(self._inner.feed(b""))
            return chunks
        finally:
            self.usage = self._inner.usage

    def close(self) -> list[dict[str, Any]]:
        """End of the byte stream; a prompt-filter chunk nothing followed is returned as Azure sent it."""
        try:
            chunks = self._fold(self._inner.close())
        finally:
            self.usage = self._inner.usage
        pending, self._pending = self._pending, None
        # _fold hands a held chunk to the first chunk after it, so one still held means nothing followed.
        return [pending] if pending is not None else chunks

    def _fold(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in chunks:
            if not chunk.get("choices") and chunk.get("usage") is None and "prompt_filter_results" in chunk:
                if self._pending is None:
                    self._pending = chunk
                else:
                    self._pending["prompt_filter_results"] = [
                        *self._pending["prompt_filter_results"],
                        *chunk["prompt_filter_results"],
                    ]
                continue
            if self._pending is not None:
                results = self._pending["prompt_filter_results"]
                self._pending = None
                out.append({**chunk, "prompt_filter_results": chunk.get("prompt_filter_results") or results})
            else:
                out.append(chunk)
        return out


class AzureAdapter(OpenAIAdapter):
    """Azure OpenAI Chat Completions and Embeddings (stateless; the module docstring lists what differs)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream ``POST .../chat/completions`` at the deployment (or v1) URL."""
        return super().build_chat_request(request, azure_openai_endpoint(endpoint))

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """A fresh ``AzureStreamDecoder`` for one streamed answer."""
        return AzureStreamDecoder(endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream ``POST .../embeddings`` at the deployment (or v1) URL."""
        return super().build_embedding_request(request, azure_openai_endpoint(endpoint))

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """OpenAI's error mapping, plus Azure's prompt filter (``innererror``) as ``ContentPolicyViolationError``."""
        error = super().map_error(response, endpoint)
        if (
            isinstance(error, BadRequestError)
            and not isinstance(error, ContentPolicyViolationError)
            and _is_policy_violation(response.body)
        ):
            return ContentPolicyViolationError(
                error.message,
                provider=error.provider,
                model=error.model,
                retry_after=error.retry_after,
                upstream_status=error.upstream_status,
                body=error.body,
                headers=error.headers,
                param=error.param,
                code=error.code,
            )
        return error
