"""Our SigV4 signer against botocore's ``SigV4Auth`` on the same request and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tollway.credentials.sigv4 import AwsCredentials, sign_request

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"


def botocore_headers(
    url: str, headers: dict[str, str], body: bytes, token: str | None, when: datetime
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.astimezone(UTC).replace(tzinfo=None)):
        SigV4Auth(
            Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "bedrock", "eu-west-3"
        ).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize(
    "path",
    [
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse",
        "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse-stream",
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3/converse",
        "/model/amazon.titan-embed-text-v2:0/invoke?b=2&a=1",
        "",
    ],
)
@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLETOKEN"])
def test_signature_equals_botocore(path: str, token: str | None) -> None:
    url = BASE + ":443" * (path == "") + path
    headers = {"Content-Type": "application/json", "X-Custom": "  a   b  ", "User-Agent": "not signed"}
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    credentials = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = sign_request(
        "POST", url, headers, body, credentials=credentials, region="eu-west-3", service="bedrock", now=NOW
    )
    theirs = botocore_headers(url, headers, body, token, NOW)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20250102T030405Z"
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == token
    assert "SignedHeaders=content-type;host;x-amz-date" in ours["authorization"]
    assert "user-agent" not in ours["authorization"]


def test_time_zone_is_converted_and_naive_means_utc() -> None:
    credentials = AwsCredentials("AKID", "SECRET")
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    a = sign_request(
        "POST", BASE + "/x", {}, b"", credentials=credentials, region="us-east-1", service="bedrock", now=paris
    )
    b = sign_request(
        "POST",
        BASE + "/x",
        {},
        b"",
        credentials=credentials,
        region="us-east-1",
        service="bedrock",
        now=NOW.replace(tzinfo=None),
    )
    assert a == b
    assert "Credential=AKID/20250102/us-east-1/bedrock/aws4_request" in a["authorization"]


def test_different_body_different_signature_and_secret_not_in_repr() -> None:
    credentials = AwsCredentials("AKID", "SECRET")
    one = sign_request(
        "POST", BASE + "/x", {}, b"1", credentials=credentials, region="us-east-1", service="bedrock", now=NOW
    )
    two = sign_request(
        "POST", BASE + "/x", {}, b"2", credentials=credentials, region="us-east-1", service="bedrock", now=NOW
    )
    assert one["authorization"] != two["authorization"]
    assert "SECRET" not in repr(credentials)
