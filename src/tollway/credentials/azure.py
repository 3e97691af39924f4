"""Azure OpenAI credentials: the API version and the Microsoft Entra ID token, from the call or the environment.

The key itself is resolved by the client like any provider's (``api_key=`` or ``AZURE_API_KEY`` /
``AZURE_OPENAI_API_KEY``); the base URL likewise (``api_base=`` or ``AZURE_API_BASE`` / ``AZURE_OPENAI_ENDPOINT``).
This resolver adds what a key alone does not give:

* ``api_version``: the call's ``api_version=``, else ``AZURE_API_VERSION`` (LiteLLM's name), else
  ``OPENAI_API_VERSION`` (the openai SDK's ``AzureOpenAI``), else ``DEFAULT_API_VERSION`` (the latest GA
  data-plane version, PROVIDERS.md §4). ``"v1"``/``"latest"``/``"preview"`` select Azure's v1 URLs.
* ``params["azure_ad_token"]``: an Entra ID access token (scope ``https://cognitiveservices.azure.com/.default``)
  from the call's ``azure_ad_token=``, else ``AZURE_AD_TOKEN`` (LiteLLM) or ``AZURE_OPENAI_AD_TOKEN`` (openai
  SDK). It is used only when no key is set. Fetching tokens (azure-identity) is left to the caller, who passes the
  token; a token expires after about an hour, so long-lived processes pass a fresh one per call.

A call with neither a key nor a token fails here, before any request, naming the variables to set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tollway.adapters.azure import DEFAULT_API_VERSION
from tollway.errors import MissingCredentialsError

if TYPE_CHECKING:
    from tollway.adapters.base import Endpoint
    from tollway.transport import Transport

__all__ = ["AzureCredentials"]

_VERSION_ENV = ("AZURE_API_VERSION", "OPENAI_API_VERSION")
_TOKEN_ENV = ("AZURE_AD_TOKEN", "AZURE_OPENAI_AD_TOKEN")


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


class AzureCredentials:
    """Fills ``Endpoint.api_version`` and ``params["azure_ad_token"]`` (a ``CredentialResolver``)."""

    async def resolve(self, endpoint: Endpoint, environ: Mapping[str, str], transport: Transport) -> Endpoint:
        """The endpoint with its API version and Entra token resolved; ``MissingCredentialsError`` without
        a key or a token."""
        version = endpoint.api_version or _first(environ, _VERSION_ENV) or DEFAULT_API_VERSION
        params = dict(endpoint.params)
        token = params.get("azure_ad_token")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise MissingCredentialsError(
                "azure_ad_token must be a non-empty string (a Microsoft Entra ID access token)",
                provider=endpoint.provider,
                model=endpoint.model,
            )
        token = token or _first(environ, _TOKEN_ENV)
        if not endpoint.api_key and not token:
            raise MissingCredentialsError(
                "no credentials for azure: set AZURE_API_KEY (or AZURE_OPENAI_API_KEY) or AZURE_AD_TOKEN "
                "(a Microsoft Entra ID token) in the environment, or pass api_key= or azure_ad_token=",
                provider=endpoint.provider,
                model=endpoint.model,
            )
        if token:
            params["azure_ad_token"] = token
        return dataclasses.replace(endpoint, api_version=version, params=params)
