"""A fake Azure OpenAI resource: OpenAI's wire format under Azure's URLs, auth and safety annotations (PROVIDERS.md §4).

Routes (both URL forms reach the same two routes, so one script serves either):

* ``"chat"``: ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (classic) and
  ``POST /openai/v1/chat/completions`` (v1, ``model`` = deployment name);
* ``"embeddings"``: ``POST /openai/deployments/{deployment}/embeddings?api-version=...`` and
  ``POST /openai/v1/embeddings``.

Give ``fake.url`` to ``openai.AzureOpenAI(azure_endpoint=...)`` (or to tollway as ``api_base``), and ``fake.v1_url``
to ``openai.OpenAI(base_url=...)``. What Azure adds to the OpenAI fake:

* auth is ``api-key: <key>`` or ``Authorization: Bearer <Entra token>``; anything else is Azure's 401 (``code``
  ``"401"``, a string);
* classic URLs need ``api-version`` (``YYYY-MM-DD`` or ``YYYY-MM-DD-preview``): missing gives 404 "Resource not
  found", malformed 400 ⚠ (Azure's exact wording varies); the body's ``model`` is optional there (the deployment
  decides, and the fake answers with the deployment as ``model``); ``data_sources`` and ``user_security_context``
  are accepted beside OpenAI's parameters;
* answers carry ``prompt_filter_results`` and ``choices[].content_filter_results``; streams start with a
  filter-only chunk (``"choices": []``, ``"id": ""``, ``"model": ""``, ``"created": 0``, ``"object": ""``);
* error envelopes are Azure's: 429 ``{"error": {"code": "429", "message": "... Please retry after N seconds."}}``,
  404 ``DeploymentNotFound``, 400 ``content_filter`` with ``innererror`` (``Reply.error(400, code="content_filter")``
  or ``AzureFake.prompt_filtered()``). ``AzureFake.rate_limited(s)`` adds ``retry-after`` and ``retry-after-ms``;
  ``AzureFake.output_filtered(stream=...)`` ends an answer with ``finish_reason: "content_filter"``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .base import JSONObject, RecordedRequest, Reply, Route
from .openai import CREATED, OpenAIFake

__all__ = ["SAFE", "AzureFake"]

_CLASSIC = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/(?P<op>chat/completions|embeddings)$")
_V1 = re.compile(r"^/openai/v1/(?P<op>chat/completions|embeddings)$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_V1_API_VERSIONS = frozenset({"v1", "latest", "preview"})
_AZURE_CHAT_FIELDS = ("data_sources", "user_security_context")

SAFE: JSONObject = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
_PROMPT_FILTER: list[JSONObject] = [
    {"prompt_index": 0, "content_filter_results": {**SAFE, "jailbreak": {"filtered": False, "detected": False}}}
]
_VIOLENT: JSONObject = {**SAFE, "violence": {"filtered": True, "severity": "high"}}
_FILTERED_PROMPT_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry."
)


def _azure_error(code: str, message: str) -> JSONObject:
    return {"error": {"code": code, "message": message}}


class AzureFake(OpenAIFake):
    """Fake Azure OpenAI resource; ``fake.url`` is the resource endpoint (``http://127.0.0.1:PORT``)."""

    name = "azure"
    url_path = ""

    @property
    def v1_url(self) -> str:
        """The v1 API base URL (``.../openai/v1``), for ``openai.OpenAI(base_url=...)``."""
        return self.origin + "/openai/v1"

    def routes(self) -> list[Route]:
        # Paths are documentation only: ``_find_route`` matches both URL forms with a deployment in them.
        return [
            Route(
                "chat",
                "POST",
                "/openai/deployments/{deployment}/chat/completions",
                self._validate_chat,
                self._answer_chat,
                self._events,
            ),
            Route(
                "embeddings",
                "POST",
                "/openai/deployments/{deployment}/embeddings",
                self._validate_embeddings,
                self._answer_embeddings,
            ),
        ]

    def _find_route(self, recorded: RecordedRequest) -> Route | None:
        match = _CLASSIC.match(recorded.path) or _V1.match(recorded.path)
        if match is None or recorded.method != "POST":
            return None
        return self._routes["chat" if match["op"] == "chat/completions" else "embeddings"]

    # -- scripting helpers ----------------------------------------------------------------------------------
    @staticmethod
    def rate_limited(seconds: int = 6) -> Reply:
        """Azure's 429: string code, the wait in the message, ``retry-after`` and ``retry-after-ms``."""
        message = (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
            f"exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {seconds} seconds."
        )
        headers = {"retry-after": str(seconds), "retry-after-ms": str(seconds * 1000)}
        return Reply.error(429, body=_azure_error("429", message), headers=headers)

    @staticmethod
    def prompt_filtered(message: str | None = None) -> Reply:
        """Azure's 400 for a prompt its content filter blocked (PROVIDERS.md §4)."""
        return Reply.json(_content_filter_body(message), status=400)

    @staticmethod
    def output_filtered(*, stream: bool = False, model: str = "gpt-4o-2024-11-20") -> Reply:
        """An answer cut by the output filter: partial text, then ``finish_reason: "content_filter"``."""
        envelope = {"id": "chatcmpl-azfiltered", "created": CREATED, "model": model, "system_fingerprint": "fp_az"}
        if not stream:
            choice = {
                "index": 0,
                "finish_reason": "content_filter",
                "logprobs": None,
                "message": {"role": "assistant", "content": "I will", "refusal": None},
                "content_filter_results": _VIOLENT,
            }
            usage = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
            body = {**envelope, "object": "chat.completion", "choices": [choice], "usage": usage}
            return Reply.json({**body, "prompt_filter_results": _PROMPT_FILTER})
        chunk = {**envelope, "object": "chat.completion.chunk"}
        deltas: list[tuple[JSONObject, str | None, JSONObject]] = [
            ({"role": "assistant", "content": ""}, None, {}),
            ({"content": "I will"}, None, SAFE),
            ({}, "content_filter", _VIOLENT),
        ]
        events: list[JSONObject] = [_filter_chunk()]
        for delta, finish, results in deltas:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            events.append({**chunk, "choices": [{**choice, "content_filter_results": results}]})
        return Reply.stream(events)

    # -- dialect --------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        if status == 400 and code == "content_filter":
            return _content_filter_body(message)
        if status == 401:
            return _azure_error(
                code or "401",
                message
                or "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        if status == 404:
            return _azure_error(
                code or "DeploymentNotFound",
                message
                or "The API deployment for this resource does not exist. If you created the deployment "
                "within the last 5 minutes, please wait a moment and try again.",
            )
        if status == 429:
            return _azure_error(
                code or "429",
                message
                or "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
                "have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.",
            )
        return super().error_body(status, message, error_type, code=code, request_id=request_id)

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {
            "apim-request-id": request_id,
            "x-request-id": request_id,
            "x-ms-region": "Sweden Central",
            "x-ratelimit-remaining-requests": "99",
            "x-ratelimit-remaining-tokens": "99000",
        }

    # -- validation -----------------------------------------------------------------------------------------
    def _validate_azure(self, request: RecordedRequest) -> Reply | None:
        api_key = request.headers.get("api-key", "").strip()
        bearer = request.headers.get("authorization", "")
        if not api_key and not (bearer.startswith("Bearer ") and bearer[7:].strip()):
            return Reply.error(401)
        version = request.query.get("api-version")
        if _CLASSIC.match(request.path):
            if version is None:
                return Reply.json(_azure_error("404", "Resource not found"), status=404)
            if not _API_VERSION.match(version):
                return Reply.json(_azure_error("BadRequest", "API version not supported"), status=400)
        elif version is not None and version not in _V1_API_VERSIONS:
            return Reply.json(_azure_error("BadRequest", "API version not supported"), status=400)
        return None

    def _validate_chat(self, request: RecordedRequest) -> Reply | None:
        if (rejection := self._validate_azure(request)) is not None:
            return rejection
        body = request.body_object
        sources = body.get("data_sources")
        if sources is not None and not (
            isinstance(sources, list) and all(isinstance(s, dict) and s.get("type") for s in sources)
        ):
            return Reply.error(400, "data_sources must be a list of objects with a 'type'.", code="invalid_value")
        return super()._validate_chat(self._as_openai(request))

    def _validate_embeddings(self, request: RecordedRequest) -> Reply | None:
        if (rejection := self._validate_azure(request)) is not None:
            return rejection
        return super()._validate_embeddings(self._as_openai(request))

    def _as_openai(self, request: RecordedRequest) -> RecordedRequest:
        """The request as the OpenAI fake should see it: Bearer auth, the deployment as ``model`` on classic URLs
        (Azure ignores the body's model there), Azure-only fields removed."""
        body = request.json
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in _AZURE_CHAT_FIELDS}
            match = _CLASSIC.match(request.path)
            if match is not None:
                body["model"] = match["deployment"]
        headers = {**request.headers, "authorization": "Bearer azure"}
        return dataclasses.replace(request, headers=headers, json=body)

    # -- default answers ------------------------------------------------------------------------------------
    def _answer_chat(self, request: RecordedRequest) -> Reply:
        reply = super()._answer_chat(self._as_openai(request))
        body: Any = getattr(reply, "body", None)
        if isinstance(body, dict):  # a whole answer (streams are annotated in _events)
            for choice in body["choices"]:
                choice["content_filter_results"] = SAFE
            body["prompt_filter_results"] = _PROMPT_FILTER
        return reply

    def _answer_embeddings(self, request: RecordedRequest) -> Reply:
        return super()._answer_embeddings(self._as_openai(request))

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        events = super()._events(self._as_openai(request))
        for event in events:
            for choice in event["choices"]:
                # Azure annotates content deltas; role and finish chunks carry an empty result object.
                has_content = bool(choice["delta"].get("content") or choice["delta"].get("tool_calls"))
                choice["content_filter_results"] = SAFE if has_content else {}
        return [_filter_chunk(), *events]


def _filter_chunk() -> JSONObject:
    """Azure's first stream chunk: prompt filter results and nothing else (PROVIDERS.md §4)."""
    return {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": _PROMPT_FILTER}


def _content_filter_body(message: str | None) -> JSONObject:
    inner = {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": {**SAFE, "violence": {"filtered": True, "severity": "medium"}},
    }
    error = {
        "code": "content_filter",
        "message": message or _FILTERED_PROMPT_MESSAGE,
        "param": "prompt",
        "status": 400,
        "innererror": inner,
    }
    return {"error": error}
