"""Credential resolvers: complete an endpoint with what a provider needs beyond an API key.

Cloud providers authenticate with more than a key (AWS SigV4 credentials and a region, a Google OAuth token from a
service account, an Azure Entra token and an API version). A provider row names its resolver
(``ProviderSpec.credentials``); the client creates one resolver per client and calls it before every call, so a
resolver may cache (and refresh) tokens. Resolvers do the I/O that adapters must not: reading the environment and
credential files, fetching tokens. Configuration problems (no credentials, a malformed service-account file, an
invalid region) raise before any request: ``MissingCredentialsError`` naming what to set, or ``BadRequestError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tollway.adapters.base import Endpoint
    from tollway.transport import Transport

__all__ = ["CredentialResolver"]


class CredentialResolver(Protocol):
    """Completes ``Endpoint.params`` / ``api_key`` / ``api_base`` for one provider."""

    async def resolve(self, endpoint: Endpoint, environ: Mapping[str, str], transport: Transport) -> Endpoint:
        """Return the endpoint with credentials filled in (``dataclasses.replace``); ``transport`` is for token
        requests."""
        ...
