"""AzureCredentials: API version and Entra token from the call or the environment; no credentials fail early."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import pytest

from tollway.adapters.azure import DEFAULT_API_VERSION
from tollway.adapters.base import Endpoint
from tollway.credentials.azure import AzureCredentials
from tollway.errors import AuthenticationError, MissingCredentialsError
from tollway.transport import Transport

NO_TRANSPORT = cast(Transport, object())  # the resolver must not make requests


def resolve(environ: Mapping[str, str] | None = None, **kwargs: Any) -> Endpoint:
    values: dict[str, Any] = {"provider": "azure", "model": "dep", "api_base": "https://r.openai.azure.com"}
    values.update(kwargs)
    return asyncio.run(AzureCredentials().resolve(Endpoint(**values), environ or {}, NO_TRANSPORT))


def test_key_only_gets_the_default_version_and_no_token() -> None:
    endpoint = resolve(api_key="k")
    assert endpoint.api_version == DEFAULT_API_VERSION == "2024-10-21"
    assert endpoint.api_key == "k"
    assert "azure_ad_token" not in endpoint.params


@pytest.mark.parametrize(
    ("environ", "given", "expected"),
    [
        ({"AZURE_API_VERSION": "2025-04-01-preview", "OPENAI_API_VERSION": "2024-06-01"}, None, "2025-04-01-preview"),
        ({"OPENAI_API_VERSION": "2024-06-01"}, None, "2024-06-01"),
        ({"AZURE_API_VERSION": "  "}, None, DEFAULT_API_VERSION),
        ({"AZURE_API_VERSION": "2025-04-01-preview"}, "v1", "v1"),
    ],
)
def test_api_version_precedence(environ: dict[str, str], given: str | None, expected: str) -> None:
    assert resolve(environ, api_key="k", api_version=given).api_version == expected


def test_token_from_the_call_wins_over_the_environment() -> None:
    endpoint = resolve({"AZURE_AD_TOKEN": "env-token"}, params={"azure_ad_token": "call-token"})
    assert endpoint.params["azure_ad_token"] == "call-token"


@pytest.mark.parametrize("name", ["AZURE_AD_TOKEN", "AZURE_OPENAI_AD_TOKEN"])
def test_token_from_the_environment(name: str) -> None:
    endpoint = resolve({name: "env-token"}, params={"other": 1})
    assert endpoint.params == {"other": 1, "azure_ad_token": "env-token"}
    assert endpoint.api_key is None


def test_no_key_and_no_token_names_what_to_set() -> None:
    with pytest.raises(MissingCredentialsError) as info:
        resolve({"AZURE_AD_TOKEN": ""})
    message = str(info.value)
    assert "AZURE_API_KEY" in message
    assert "AZURE_AD_TOKEN" in message
    assert isinstance(info.value, AuthenticationError)
    assert info.value.provider == "azure"


@pytest.mark.parametrize("token", ["", "   ", 42])
def test_malformed_token_is_refused(token: object) -> None:
    with pytest.raises(MissingCredentialsError, match="azure_ad_token must be a non-empty string"):
        resolve(api_key="k", params={"azure_ad_token": token})


def test_endpoint_is_not_mutated() -> None:
    original = Endpoint(provider="azure", model="dep", api_base="https://r", params={"azure_ad_token": "t"})
    resolved = asyncio.run(AzureCredentials().resolve(original, {"AZURE_API_VERSION": "v1"}, NO_TRANSPORT))
    assert original.api_version is None
    assert resolved.api_version == "v1"
    assert resolved is not original
