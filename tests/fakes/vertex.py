"""Fake Vertex AI upstreams (PROVIDERS.md §7) and a fake Google OAuth 2.0 token endpoint.

* ``VertexClaudeFake``: Claude on Vertex, ``POST /{v1,v1beta1}/projects/{P}/locations/{L}/publishers/anthropic/
  models/{M}:rawPredict`` and ``:streamRawPredict`` (§7.2). It judges the Vertex envelope (bearer token, body
  with ``anthropic_version`` and without ``model``, method matching ``stream``), then hands the Messages body, with
  the model from the path, to the Anthropic fake's validation and default answers (§5). Front-end failures
  (401, 403, 404, 429) come back as google.rpc.Status, Claude's own failures in Anthropic's envelope.
* ``VertexGeminiFake``: Gemini on Vertex (§7.1), ``.../publishers/google/models/{M}:generateContent``,
  ``:streamGenerateContent?alt=sse`` and the text-embeddings ``:predict``. It judges the bearer token and the
  Vertex rule that every ``contents`` entry has a ``role``, then hands the request, re-addressed to the Gemini API
  path, to the Gemini fake's validation and default answers (§6: same bodies, answers and google.rpc errors).
* ``GoogleTokenFake``: ``POST /token`` for the JWT-bearer grant (RFC 7523) and the refresh-token grant. It
  verifies the assertion itself with ``cryptography`` (RS256 signature with the registered public key, ``iss``,
  ``aud``, ``scope``, lifetime, ``kid``), independently of google-auth, and answers
  ``{"access_token", "expires_in", "token_type"}`` or Google's OAuth error envelope.

SDK base URLs: ``AnthropicVertex(base_url=fake.url + "/v1", ...)``; tollway takes ``fake.url`` as ``api_base``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random
import re
import urllib.parse
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .anthropic import AnthropicFake
from .base import SSE, FakeUpstream, JSONObject, RecordedRequest, Reply, Route, approx_tokens
from .gemini import GeminiFake

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "GOOGLE_AUDIENCE",
    "GoogleTokenFake",
    "VertexClaudeFake",
    "VertexGeminiFake",
    "google_error_body",
    "vertex_route",
]

GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GOOGLE_MESSAGES = {
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential.",
    429: "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.",
}
# Statuses the Vertex front end answers itself (google.rpc); other Claude failures are Anthropic's own (§7.2 ⚠).
_FRONT_END_STATUSES = frozenset({401, 403, 404, 429})


def vertex_route(publisher: str, method: str) -> str:
    """The path pattern (a regex) of a Vertex model method; group ``model`` is the model id."""
    return (
        r"/(?:v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
        rf"/publishers/{publisher}/models/(?P<model>[^/:]+):{method}"
    )


def google_error_body(status: int, message: str | None, name: str | None = None) -> JSONObject:
    """A google.rpc.Status envelope (PROVIDERS.md §6.7)."""
    status_name = name or _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {
        "error": {
            "code": status,
            "message": message or _GOOGLE_MESSAGES.get(status, f"Fake Vertex AI error {status}"),
            "status": status_name,
        }
    }


def _match(routes: dict[str, Route], recorded: RecordedRequest) -> Route | None:
    for route in routes.values():
        if route.method == recorded.method and re.fullmatch(route.path, recorded.path):
            return route
    return None


class VertexClaudeFake(AnthropicFake):
    """Claude on Vertex; routes ``raw_predict`` (default) and ``stream_raw_predict``.

    ``accepted_tokens``: when non-empty, only these bearer tokens are accepted (401 otherwise).
    """

    name = "vertex_claude"

    def __init__(self) -> None:
        super().__init__()
        self.accepted_tokens: set[str] = set()

    def routes(self) -> list[Route]:
        return [
            Route("raw_predict", "POST", vertex_route("anthropic", "rawPredict"), self._check, self._reply),
            Route(
                "stream_raw_predict",
                "POST",
                vertex_route("anthropic", "streamRawPredict"),
                self._check,
                self._reply,
                self._stream_events,
            ),
        ]

    def _find_route(self, recorded: RecordedRequest) -> Route | None:
        return _match(self._routes, recorded)

    def reset(self) -> None:
        super().reset()
        self.accepted_tokens = set()

    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        if status in _FRONT_END_STATUSES and error_type is None:
            return google_error_body(status, message)
        return super().error_body(status, message, error_type, code=code, request_id=request_id)

    # -- the Vertex envelope, then the Anthropic judge and answers ------------------------------------------
    def _check(self, request: RecordedRequest) -> Reply | None:  # noqa: PLR0911  # one return per rule
        if _bearer(request, self.accepted_tokens) is None:
            return Reply.error(401)
        if "x-api-key" in request.headers:
            return Reply.error(400, "x-api-key is not accepted by Vertex AI", type="invalid_request_error")
        body = request.json
        if not isinstance(body, dict):
            return Reply.error(400, "Invalid JSON payload received.", type="invalid_request_error")
        if not isinstance(body.get("anthropic_version"), str) or not body["anthropic_version"]:
            return Reply.error(400, "anthropic_version: Field required", type="invalid_request_error")
        if "model" in body:
            return Reply.error(400, "model: Extra inputs are not permitted", type="invalid_request_error")
        streaming = request.path.endswith(":streamRawPredict")
        if bool(body.get("stream")) != streaming:
            return Reply.error(400, "stream must be true exactly on :streamRawPredict", type="invalid_request_error")
        return self._validate(self._as_messages(request))

    def _reply(self, request: RecordedRequest) -> Reply:
        return self._answer(self._as_messages(request))

    def _stream_events(self, request: RecordedRequest) -> list[JSONObject]:
        return self._events(self._as_messages(request))

    def _as_messages(self, request: RecordedRequest) -> RecordedRequest:
        """The request as the Messages API would have received it: model from the path, no anthropic_version."""
        match = re.fullmatch(vertex_route("anthropic", r"\w+"), request.path)
        body = {k: v for k, v in request.body_object.items() if k != "anthropic_version"}
        body["model"] = match.group("model") if match else "unknown"
        headers = {**request.headers, "x-api-key": "vertex", "anthropic-version": "2023-06-01"}
        return dataclasses.replace(request, headers=headers, body=orjson.dumps(body), json=body)


def _bearer(request: RecordedRequest, accepted: set[str]) -> str | None:
    """The bearer token when it is acceptable, else None."""
    authorization = request.headers.get("authorization", "")
    token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
    return token if token and (not accepted or token in accepted) else None


class VertexGeminiFake(GeminiFake):
    """Gemini on Vertex; routes ``generate`` (default), ``stream`` and ``predict`` (embeddings).

    ``accepted_tokens``: when non-empty, only these bearer tokens are accepted (401 otherwise).
    """

    name = "vertex_gemini"
    _EMBEDDING_INSTANCE = frozenset({"content", "task_type", "title"})
    _EMBEDDING_PARAMETERS = frozenset({"outputDimensionality", "autoTruncate"})

    def __init__(self) -> None:
        super().__init__()
        self.accepted_tokens: set[str] = set()

    def routes(self) -> list[Route]:
        return [
            Route("generate", "POST", vertex_route("google", "generateContent"), self._check, self._reply),
            Route(
                "stream",
                "POST",
                vertex_route("google", "streamGenerateContent"),
                self._check_stream,
                self._reply_stream,
                self._stream_events,
            ),
            Route("predict", "POST", vertex_route("google", "predict"), self._check_predict, self._predict),
        ]

    def reset(self) -> None:
        super().reset()
        self.accepted_tokens = set()

    def _front_door(self, request: RecordedRequest) -> Reply | None:
        if _bearer(request, self.accepted_tokens) is None:
            return Reply.error(401, _GOOGLE_MESSAGES[401])
        return None

    def _check(self, request: RecordedRequest) -> Reply | None:
        if rejection := self._front_door(request):
            return rejection
        contents = request.body_object.get("contents")
        for index, content in enumerate(contents if isinstance(contents, list) else ()):
            if isinstance(content, dict) and not content.get("role"):
                # Vertex requires the role that the Gemini API defaults to "user" (§7.1).
                return Reply.error(400, f"Please use a valid role: user, model. (contents[{index}].role)")
        return self._validate(self._as_gemini(request))

    def _check_stream(self, request: RecordedRequest) -> Reply | None:
        return self._check(request) or self._validate_stream(self._as_gemini(request))

    def _reply(self, request: RecordedRequest) -> Reply:
        return self._answer(self._as_gemini(request))

    def _reply_stream(self, request: RecordedRequest) -> Reply:
        return self._streamed(self._as_gemini(request))

    def _stream_events(self, request: RecordedRequest) -> list[JSONObject]:
        return self._events(self._as_gemini(request))

    def _as_gemini(self, request: RecordedRequest) -> RecordedRequest:
        """The request as the Gemini API would have received it (same body, Gemini path, an API key)."""
        match = re.fullmatch(vertex_route("google", r"(?P<method>\w+)"), request.path)
        path = f"/v1beta/models/{match.group('model')}:{match.group('method')}" if match else request.path
        return dataclasses.replace(request, path=path, headers={**request.headers, "x-goog-api-key": "vertex"})

    # -- text embeddings (:predict) --------------------------------------------------------------------------
    def _check_predict(self, request: RecordedRequest) -> Reply | None:
        if rejection := self._front_door(request):
            return rejection
        body = request.body_object
        unknown = set(body) - {"instances", "parameters"}
        instances = body.get("instances")
        if unknown or not isinstance(instances, list) or not instances:
            return Reply.error(400, f"Invalid JSON payload received. Unknown or missing fields: {sorted(unknown)}")
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict) or set(instance) - self._EMBEDDING_INSTANCE:
                return Reply.error(400, f'Invalid JSON payload received. Unknown name at "instances[{index}]"')
            if not isinstance(instance.get("content"), str) or not instance["content"]:
                return Reply.error(400, f"instances[{index}].content must be a non-empty string")
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict) or set(parameters) - self._EMBEDDING_PARAMETERS:
            return Reply.error(400, 'Invalid JSON payload received. Unknown name at "parameters"')
        return None

    def _predict(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        match = re.fullmatch(vertex_route("google", "predict"), request.path)
        model = match.group("model") if match else ""
        size = int(body.get("parameters", {}).get("outputDimensionality") or 768)
        predictions = []
        for instance in body["instances"]:
            seed = hashlib.sha256(orjson.dumps([model, instance["content"], instance.get("task_type")])).digest()
            rng = random.Random(seed)
            values = [round(rng.uniform(-1, 1), 6) for _ in range(size)]
            statistics = {"truncated": False, "token_count": approx_tokens(instance["content"])}
            predictions.append({"embeddings": {"values": values, "statistics": statistics}})
        characters = sum(len(instance["content"]) for instance in body["instances"])
        return Reply.json({"predictions": predictions, "metadata": {"billableCharacterCount": characters}})


@dataclasses.dataclass(frozen=True, slots=True)
class _Account:
    public_key: rsa.RSAPublicKey
    key_id: str | None


class GoogleTokenFake(FakeUpstream):
    """Google's OAuth 2.0 token endpoint; ``fake.token_uri`` goes into a service-account file's ``token_uri``.

    Register what it accepts with ``add_service_account(email, public_key, key_id)`` and
    ``add_user(client_id, client_secret, refresh_token)``. ``issued`` lists the tokens handed out, in order;
    ``expires_in`` sets the lifetime of the next ones.
    """

    name = "google_token"

    def __init__(self) -> None:
        super().__init__()
        self._accounts: dict[str, _Account] = {}
        self._users: dict[str, tuple[str, str]] = {}
        self.issued: list[str] = []
        self.expires_in = 3599

    @property
    def token_uri(self) -> str:
        return self.origin + "/token"

    def routes(self) -> list[Route]:
        return [Route("token", "POST", "/token", self._validate, self._answer)]

    def reset(self) -> None:
        super().reset()
        self._accounts.clear()
        self._users.clear()
        self.issued = []
        self.expires_in = 3599

    def add_service_account(self, email: str, public_key: rsa.RSAPublicKey, key_id: str | None = None) -> None:
        self._accounts[email] = _Account(public_key, key_id)

    def add_user(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        self._users[client_id] = (client_secret, refresh_token)

    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        kind = error_type or ("invalid_grant" if status < 500 else "internal_failure")
        return {"error": kind, "error_description": message or "Fake token endpoint error"}

    def frame(self, payload: JSONObject) -> SSE:
        raise NotImplementedError("the token endpoint does not stream")

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        raise NotImplementedError("the token endpoint does not stream")

    def _validate(self, request: RecordedRequest) -> Reply | None:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return Reply.error(400, "Bad Request", type="invalid_request")
        form = dict(urllib.parse.parse_qsl(request.body.decode("ascii", errors="replace")))
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            problem = self._assertion_problem(form.get("assertion", ""))
        elif grant == "refresh_token":
            known = self._users.get(form.get("client_id", ""))
            ok = known is not None and known == (form.get("client_secret"), form.get("refresh_token"))
            problem = None if ok else "Token has been expired or revoked."
        else:
            return Reply.error(400, f"Invalid grant_type: {grant}", type="unsupported_grant_type")
        return Reply.error(400, problem, type="invalid_grant") if problem else None

    def _assertion_problem(self, assertion: str) -> str | None:  # noqa: PLR0911  # one return per rule
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = orjson.loads(_unb64(header_b64))
            claims = orjson.loads(_unb64(payload_b64))
            signature = _unb64(signature_b64)
        except ValueError:
            return "Invalid JWT: malformed token"
        account = self._accounts.get(str(claims.get("iss")))
        if account is None:
            return "Invalid grant: account not found"
        if header.get("alg") != "RS256" or header.get("typ") != "JWT" or header.get("kid") != account.key_id:
            return f"Invalid JWT header: {header}"
        try:
            signed = f"{header_b64}.{payload_b64}".encode()
            account.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        if claims.get("aud") != GOOGLE_AUDIENCE or claims.get("scope") != CLOUD_PLATFORM_SCOPE:
            return f"Invalid JWT claims: aud={claims.get('aud')!r} scope={claims.get('scope')!r}"
        lifetime = claims.get("exp", 0) - claims.get("iat", 0)
        if not 0 < lifetime <= 3600:
            return "Invalid JWT: Token must be a short-lived token (60 minutes)"
        return None

    def _answer(self, request: RecordedRequest) -> Reply:
        token = f"ya29.fake-{len(self.issued) + 1}"
        self.issued.append(token)
        return Reply.json({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parse_form(body: bytes) -> dict[str, Any]:
    """The fields of a form-encoded body (for tests reading what was sent to the token endpoint)."""
    return dict(urllib.parse.parse_qsl(body.decode("ascii")))
