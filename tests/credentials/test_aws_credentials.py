"""BedrockCredentials: explicit params, environment, shared files, regions, bearer keys, and what is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tollway.adapters.base import Endpoint
from tollway.credentials.aws import REGION_PATTERN, BedrockCredentials
from tollway.errors import BadRequestError, MissingCredentialsError

BASE = "https://bedrock-runtime.{region}.amazonaws.com"


def resolve(environ: dict[str, str], api_key: str | None = None, api_base: str = BASE, **params: Any) -> dict[str, Any]:
    endpoint = Endpoint("bedrock", "amazon.nova-lite-v1:0", api_base, api_key=api_key, params=params)
    resolved = asyncio.run(BedrockCredentials().resolve(endpoint, environ, transport=None))  # type: ignore[arg-type]
    return dict(resolved.params)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = secret-default\n\n"
        "[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=secret-work\naws_session_token=token-work\n"
    )
    config = tmp_path / "config"
    config.write_text(
        "[default]\nregion = eu-west-1\n\n[profile work]\nregion = ap-southeast-2\n\n[profile cfgonly]\n"
        "aws_access_key_id = AKIDCFG\naws_secret_access_key = secret-cfg\nregion = us-west-2\n"
    )
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config)}


def test_environment_keys_and_region() -> None:
    params = resolve(
        {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t", "AWS_REGION": "us-east-1"}
    )
    assert params == {
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "s",
        "aws_session_token": "t",
        "aws_region_name": "us-east-1",
    }


def test_explicit_params_beat_environment() -> None:
    environ = {"AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "env", "AWS_DEFAULT_REGION": "us-east-1"}
    params = resolve(environ, aws_access_key_id="ARG", aws_secret_access_key="arg", aws_region_name="eu-central-1")
    assert (params["aws_access_key_id"], params["aws_region_name"]) == ("ARG", "eu-central-1")
    assert "aws_session_token" not in params


def test_default_profile_from_files(files: dict[str, str]) -> None:
    params = resolve(files)
    assert params["aws_access_key_id"] == "AKIDDEFAULT"
    assert params["aws_region_name"] == "eu-west-1"


def test_aws_profile_env_but_env_keys_win(files: dict[str, str]) -> None:
    params = resolve({**files, "AWS_PROFILE": "work"})
    assert (params["aws_access_key_id"], params["aws_session_token"], params["aws_region_name"]) == (
        "AKIDWORK",
        "token-work",
        "ap-southeast-2",
    )
    params = resolve({**files, "AWS_PROFILE": "work", "AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "env"})
    assert params["aws_access_key_id"] == "ENV"


def test_explicit_profile_beats_env_keys_and_config_only_profile(files: dict[str, str]) -> None:
    environ = {**files, "AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "env"}
    assert resolve(environ, aws_profile_name="work")["aws_access_key_id"] == "AKIDWORK"
    params = resolve(files, aws_profile_name="cfgonly")
    assert (params["aws_access_key_id"], params["aws_region_name"]) == ("AKIDCFG", "us-west-2")


def test_unknown_explicit_profile(files: dict[str, str]) -> None:
    with pytest.raises(MissingCredentialsError, match="'nope'"):
        resolve(files, aws_profile_name="nope")


def test_no_credentials_names_what_to_set(tmp_path: Path) -> None:
    environ = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_REGION": "us-east-1",
    }
    with pytest.raises(MissingCredentialsError) as info:
        resolve(environ)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        assert name in str(info.value)


def test_half_explicit_keys() -> None:
    with pytest.raises(MissingCredentialsError, match="aws_secret_access_key"):
        resolve({"AWS_REGION": "us-east-1"}, aws_access_key_id="AKID")


def test_bearer_key_needs_no_aws_keys(tmp_path: Path) -> None:
    environ = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x"),
        "AWS_CONFIG_FILE": str(tmp_path / "x"),
        "AWS_REGION": "us-west-2",
    }
    assert resolve(environ, api_key="bedrock-key") == {"aws_region_name": "us-west-2"}
    # A bearer key with a fixed base URL needs no region at all.
    assert resolve({k: v for k, v in environ.items() if k != "AWS_REGION"}, api_key="k", api_base="http://proxy") == {}


@pytest.mark.parametrize("region", ["us-east1", "US-EAST-1", "us-east-1 ; rm", "moon-1", "useast1"])
def test_invalid_region_is_a_bad_request(region: str) -> None:
    with pytest.raises(BadRequestError, match="not an AWS region"):
        resolve({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, aws_region_name=region)


def test_missing_region(tmp_path: Path) -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_CONFIG_FILE": str(tmp_path / "x"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x"),
    }
    with pytest.raises(BadRequestError, match="AWS_REGION"):
        resolve(environ)


@pytest.mark.parametrize(
    "region",
    ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-5", "cn-north-1", "us-isob-east-1", "il-central-1"],
)
def test_real_regions_are_valid(region: str) -> None:
    assert REGION_PATTERN.match(region)


def test_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "credentials"
    bad.write_text("this is not = an ini\n[")
    with pytest.raises(BadRequestError, match="cannot read the AWS file"):
        resolve({"AWS_SHARED_CREDENTIALS_FILE": str(bad), "AWS_REGION": "us-east-1"})
