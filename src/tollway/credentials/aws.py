"""AWS credentials and region for Bedrock, found the way the AWS SDKs find them (reads env and files).

Order (the AWS SDKs' "standardized credential providers", botocore ``credentials.py``):

1. the call's options ``aws_access_key_id`` / ``aws_secret_access_key`` / ``aws_session_token``;
2. an explicit ``aws_profile_name`` option: that profile of the shared files (it then beats the environment, as
   ``boto3.Session(profile_name=...)`` does);
3. ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``;
4. the profile ``AWS_PROFILE`` (else ``default``) of ``~/.aws/credentials`` then ``~/.aws/config``
   (``AWS_SHARED_CREDENTIALS_FILE`` / ``AWS_CONFIG_FILE`` move them).

A Bedrock API key (``Endpoint.api_key``: ``api_key=`` or ``AWS_BEARER_TOKEN_BEDROCK``) replaces all of these:
it is sent as a bearer token and needs no signing. SSO, ``credential_process``, role assumption and instance
metadata are not supported (they need network calls or subprocesses); use boto3 to obtain keys for them.

Region: ``aws_region_name``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region``. It must look
like an AWS region (``REGION_PATTERN``: ``us-east-1``, ``eu-central-2``, ``us-gov-west-1``, ``ap-southeast-5``,
``cn-north-1``...), so a typo fails here with a ``BadRequestError`` instead of as a DNS error. The resolver puts
everything it found in ``Endpoint.params`` under the option names; the adapter signs with them.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollway.errors import BadRequestError, MissingCredentialsError

if TYPE_CHECKING:
    from tollway.adapters.base import Endpoint
    from tollway.transport import Transport

__all__ = ["REGION_PATTERN", "BedrockCredentials"]

# Partition prefix (us, eu, ap, ca, me, sa, af, il, mx, cn), optional "-gov"/"-iso*" designator, a direction
# word, a number: the shape of every region in botocore's endpoints.json.
REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
_KEY_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_MISSING = (
    "no AWS credentials for bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile "
    "of ~/.aws/credentials), or AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key); or pass aws_access_key_id= and "
    "aws_secret_access_key=, aws_profile_name= or api_key="
)


class BedrockCredentials:
    """``CredentialResolver`` for Bedrock: fills ``aws_*`` params (keys and a validated region)."""

    async def resolve(self, endpoint: Endpoint, environ: Mapping[str, str], transport: Transport) -> Endpoint:
        """The endpoint with ``aws_region_name`` and, unless a bearer key is set, the access keys in params."""
        params: dict[str, Any] = dict(endpoint.params)
        explicit_profile = params.get("aws_profile_name")
        profile_name = str(explicit_profile or environ.get("AWS_PROFILE") or "default")
        profile = _profile(environ, profile_name, required=explicit_profile is not None, endpoint=endpoint)
        if not endpoint.api_key:
            params.update(_keys(params, environ, profile, explicit_profile is not None, endpoint))
        region = params.get("aws_region_name") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        region = region or profile.get("region")
        if region:
            params["aws_region_name"] = _valid_region(str(region).strip(), endpoint)
        elif "{region}" in endpoint.api_base or not endpoint.api_key:
            raise BadRequestError(
                "no AWS region for bedrock: set AWS_REGION (or AWS_DEFAULT_REGION, or region in your AWS profile) "
                "or pass aws_region_name=",
                provider=endpoint.provider,
                model=endpoint.model,
                param="aws_region_name",
            )
        return dataclasses.replace(endpoint, params=params)


def _keys(
    params: Mapping[str, Any],
    environ: Mapping[str, str],
    profile: Mapping[str, str],
    profile_first: bool,
    endpoint: Endpoint,
) -> dict[str, str]:
    sources: list[Mapping[str, Any]] = [params]
    env = {name: environ.get(name.upper(), "") for name in _KEY_NAMES}
    sources.extend([profile, env] if profile_first else [env, profile])
    for source in sources:
        key_id, secret = source.get("aws_access_key_id"), source.get("aws_secret_access_key")
        if key_id and secret:
            found = {"aws_access_key_id": str(key_id), "aws_secret_access_key": str(secret)}
            if source.get("aws_session_token"):
                found["aws_session_token"] = str(source["aws_session_token"])
            return found
        if (key_id or secret) and source is params:
            missing = "aws_secret_access_key" if key_id else "aws_access_key_id"
            raise MissingCredentialsError(
                f"bedrock: {missing}= is missing (the access key id and secret go together)",
                provider=endpoint.provider,
                model=endpoint.model,
            )
    raise MissingCredentialsError(_MISSING, provider=endpoint.provider, model=endpoint.model)


def _profile(environ: Mapping[str, str], name: str, *, required: bool, endpoint: Endpoint) -> dict[str, str]:
    """The profile's settings: ``credentials`` file entries over ``config`` file entries."""
    home = os.path.expanduser("~")
    credentials_file = environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
    config_file = environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    # The config file names non-default profiles "[profile NAME]"; the credentials file never does.
    config_section = name if name == "default" else f"profile {name}"
    settings = _section(config_file, config_section, endpoint)
    if settings is None and name != "default":
        settings = _section(config_file, name, endpoint)  # older config files omit the "profile " prefix
    credentials = _section(credentials_file, name, endpoint)
    if settings is None and credentials is None:
        if required:
            raise MissingCredentialsError(
                f"the AWS profile {name!r} is in neither {credentials_file} nor {config_file}",
                provider=endpoint.provider,
                model=endpoint.model,
            )
        return {}
    return {**(settings or {}), **(credentials or {})}


def _section(path: str, section: str, endpoint: Endpoint) -> dict[str, str] | None:
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise BadRequestError(
            f"cannot read the AWS file {path}: {exc}", provider=endpoint.provider, model=endpoint.model
        ) from None
    if not parser.has_section(section):
        return None
    return {key.lower(): value.strip() for key, value in parser.items(section)}


def _valid_region(region: str, endpoint: Endpoint) -> str:
    if not REGION_PATTERN.match(region):
        raise BadRequestError(
            f"{region!r} is not an AWS region (expected a name like us-east-1, eu-west-3 or us-gov-west-1)",
            provider=endpoint.provider,
            model=endpoint.model,
            param="aws_region_name",
        )
    return region
