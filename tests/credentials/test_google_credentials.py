"""VertexCredentials against the loopback Google token fake: JWT assertions, caching, refresh, errors."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes import Reply
from fakes.vertex import CLOUD_PLATFORM_SCOPE, GOOGLE_AUDIENCE, GoogleTokenFake, parse_form
from tollway import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    MissingCredentialsError,
    ServiceUnavailableError,
)
from tollway.adapters.base import Endpoint
from tollway.credentials.google import REFRESH_MARGIN, VertexCredentials
from tollway.transport.aiohttp import AiohttpTransport

EMAIL = "tollway-test@tollway-project.iam.gserviceaccount.com"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _key()
BAD_PEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
OTHER_KEY = _key()


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def account(google_token_fake: GoogleTokenFake) -> dict[str, Any]:
    google_token_fake.add_service_account(EMAIL, KEY.public_key(), key_id="kid-1")
    return {
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "kid-1",
        "private_key": _pem(KEY),
        "client_email": EMAIL,
        "client_id": "1234",
        "token_uri": google_token_fake.token_uri,
    }


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def endpoint(**params: Any) -> Endpoint:
    return Endpoint(
        provider="vertex_ai",
        model="gemini-2.5-flash",
        api_base="https://{location}-aiplatform.googleapis.com",
        params=params,
    )


def _claims(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = assertion.split(".")
    decode = lambda s: orjson.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return decode(header), decode(payload)


async def test_service_account_dict_gives_token_project_and_location(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    resolver = VertexCredentials()
    resolved = await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)
    assert resolved.api_key == "ya29.fake-1"
    assert dict(resolved.params) == {"vertex_project": "sa-project", "vertex_location": "us-central1"}
    sent = google_token_fake.last_request
    assert sent.path == "/token"
    form = parse_form(sent.body)
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims = _claims(form["assertion"])
    assert header == {"typ": "JWT", "alg": "RS256", "kid": "kid-1"}
    assert claims["iss"] == EMAIL
    assert claims["aud"] == GOOGLE_AUDIENCE
    assert claims["scope"] == CLOUD_PLATFORM_SCOPE
    assert claims["exp"] - claims["iat"] == 3600


async def test_token_is_cached_across_calls(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    resolver = VertexCredentials()
    tokens = [(await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)).api_key for _ in range(4)]
    assert tokens == ["ya29.fake-1"] * 4
    assert len(google_token_fake.requests) == 1


async def test_concurrent_calls_share_one_refresh(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    google_token_fake.script(Reply.delay(0.2))
    resolver = VertexCredentials()
    results = await asyncio.gather(
        *(resolver.resolve(endpoint(vertex_credentials=account), {}, transport) for _ in range(6))
    )
    assert {r.api_key for r in results} == {"ya29.fake-1"}
    assert len(google_token_fake.requests) == 1


async def test_token_refreshes_shortly_before_expiry(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    google_token_fake.expires_in = 3600
    clock = Clock()
    resolver = VertexCredentials(clock=clock)
    first = await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)
    clock.now += 3600 - REFRESH_MARGIN - 1  # still inside the safe window
    same = await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)
    clock.now += 2  # now within five minutes of expiry
    fresh = await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)
    assert (first.api_key, same.api_key, fresh.api_key) == ("ya29.fake-1", "ya29.fake-1", "ya29.fake-2")
    assert len(google_token_fake.requests) == 2


async def test_given_access_token_wins_without_any_token_request(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    given = Endpoint(provider="vertex_ai", model="m", api_base="x", api_key="ya29.given", params={})
    resolved = await VertexCredentials().resolve(given, {"VERTEXAI_PROJECT": "env-project"}, transport)
    assert resolved.api_key == "ya29.given"
    assert resolved.params["vertex_project"] == "env-project"
    assert google_token_fake.requests == []


async def test_file_path_json_text_and_environment_variable(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport, tmp_path: Path
) -> None:
    path = tmp_path / "sa.json"
    path.write_bytes(orjson.dumps(account))
    by_path = await VertexCredentials().resolve(endpoint(vertex_credentials=str(path)), {}, transport)
    by_text = await VertexCredentials().resolve(endpoint(vertex_credentials=path.read_text()), {}, transport)
    environ = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(path),
        "VERTEXAI_PROJECT": "env-project",
        "GOOGLE_CLOUD_LOCATION": "europe-west4",
    }
    by_env = await VertexCredentials().resolve(endpoint(), environ, transport)
    assert [r.api_key for r in (by_path, by_text, by_env)] == ["ya29.fake-1", "ya29.fake-2", "ya29.fake-3"]
    assert by_path.params["vertex_project"] == "sa-project"
    assert dict(by_env.params) == {"vertex_project": "env-project", "vertex_location": "europe-west4"}


async def test_call_params_win_over_environment(account: dict[str, Any], transport: AiohttpTransport) -> None:
    environ = {"VERTEXAI_PROJECT": "env-project", "VERTEXAI_LOCATION": "asia-east1", "GOOGLE_CLOUD_PROJECT": "other"}
    resolved = await VertexCredentials().resolve(
        endpoint(vertex_credentials=account, vertex_project="p", vertex_location="global"), environ, transport
    )
    assert dict(resolved.params) == {"vertex_project": "p", "vertex_location": "global"}
    env_only = await VertexCredentials().resolve(endpoint(vertex_credentials=account), environ, transport)
    assert dict(env_only.params) == {"vertex_project": "env-project", "vertex_location": "asia-east1"}


async def test_authorized_user_file_uses_the_refresh_token(
    google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    google_token_fake.add_user("client-1", "secret-1", "refresh-1")
    user = {
        "type": "authorized_user",
        "client_id": "client-1",
        "client_secret": "secret-1",
        "refresh_token": "refresh-1",
        "quota_project_id": "user-project",
        "token_uri": google_token_fake.token_uri,
    }
    resolved = await VertexCredentials().resolve(endpoint(vertex_credentials=user), {}, transport)
    assert resolved.api_key == "ya29.fake-1"
    assert resolved.params["vertex_project"] == "user-project"
    assert parse_form(google_token_fake.last_request.body)["grant_type"] == "refresh_token"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda a: "{not json", "not valid JSON"),
        (lambda a: "[1, 2]", "not a JSON object"),
        (lambda a: {**a, "type": "external_account"}, "type is 'external_account'"),
        (lambda a: {k: v for k, v in a.items() if k != "client_email"}, "no client_email"),
        (
            lambda a: {**a, "private_key": BAD_PEM},
            "private_key cannot be loaded",
        ),
        (lambda a: 42, "expected a path"),
        (lambda a: "/nonexistent/sa.json", "cannot be read"),
    ],
)
async def test_malformed_credentials_fail_before_any_request(
    account: dict[str, Any],
    google_token_fake: GoogleTokenFake,
    transport: AiohttpTransport,
    mutate: Any,
    match: str,
) -> None:
    with pytest.raises(BadRequestError, match=match) as info:
        await VertexCredentials().resolve(endpoint(vertex_credentials=mutate(account)), {}, transport)
    assert info.value.param == "vertex_credentials"
    assert "BEGIN PRIVATE KEY" not in str(info.value)
    assert google_token_fake.requests == []


async def test_nothing_configured_names_what_to_set(transport: AiohttpTransport) -> None:
    with pytest.raises(MissingCredentialsError, match="GOOGLE_APPLICATION_CREDENTIALS") as info:
        await VertexCredentials().resolve(endpoint(), {"VERTEXAI_PROJECT": "p"}, transport)
    assert "vertex_credentials" in str(info.value)


async def test_missing_project_names_what_to_set(transport: AiohttpTransport) -> None:
    given = Endpoint(provider="vertex_ai", model="m", api_base="x", api_key="ya29.given")
    with pytest.raises(MissingCredentialsError, match="VERTEXAI_PROJECT"):
        await VertexCredentials().resolve(given, {}, transport)


async def test_signature_with_the_wrong_key_is_an_authentication_error(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    google_token_fake.add_service_account(EMAIL, OTHER_KEY.public_key(), key_id="kid-1")
    with pytest.raises(AuthenticationError, match="Invalid JWT Signature") as info:
        await VertexCredentials().resolve(endpoint(vertex_credentials=account), {}, transport)
    assert info.value.upstream_status == 400
    assert EMAIL in str(info.value)


async def test_token_endpoint_outage_is_retryable_and_not_cached(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    google_token_fake.script(Reply.error(503, "backend unavailable"))
    resolver = VertexCredentials()
    with pytest.raises(ServiceUnavailableError, match="backend unavailable"):
        await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)
    assert (await resolver.resolve(endpoint(vertex_credentials=account), {}, transport)).api_key == "ya29.fake-1"


async def test_answer_without_access_token_is_an_error(
    account: dict[str, Any], google_token_fake: GoogleTokenFake, transport: AiohttpTransport
) -> None:
    google_token_fake.script(Reply.json({"token_type": "Bearer"}))
    with pytest.raises(InternalServerError, match="no access_token"):
        await VertexCredentials().resolve(endpoint(vertex_credentials=account), {}, transport)
