"""The error tree: statuses, OpenAI types, retryability, what is kept from the upstream."""

import pytest

import tollway
from tollway.errors import APIError, error_for_status


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, tollway.BadRequestError, False),
        (401, tollway.AuthenticationError, False),
        (403, tollway.PermissionDeniedError, False),
        (404, tollway.NotFoundError, False),
        (408, tollway.Timeout, True),
        (422, tollway.UnprocessableEntityError, False),
        (429, tollway.RateLimitError, True),
        (500, tollway.InternalServerError, True),
        (502, tollway.InternalServerError, True),
        (503, tollway.ServiceUnavailableError, True),
        (529, tollway.ServiceUnavailableError, True),
        (599, tollway.InternalServerError, True),
    ],
)
def test_error_for_status(status: int, cls: type[tollway.TollwayError], retryable: bool) -> None:
    error = error_for_status(status, "boom", provider="p", model="m", retry_after=2.0, body=b"x", headers={"a": "b"})
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.upstream_status == status
    assert (error.provider, error.model, error.retry_after, error.body, error.headers) == (
        "p",
        "m",
        2.0,
        b"x",
        {"a": "b"},
    )


@pytest.mark.parametrize(("status", "retryable"), [(402, False), (409, True), (418, False)])
def test_other_statuses_keep_their_code(status: int, retryable: bool) -> None:
    assert error_for_status(status, "odd", upstream_status=status).upstream_status == status
    error = error_for_status(status, "odd")
    assert isinstance(error, APIError)
    assert error.status_code == status
    assert error.retryable is retryable


def test_subclasses_of_bad_request() -> None:
    for cls in (
        tollway.ContextWindowExceededError,
        tollway.ContentPolicyViolationError,
        tollway.UnsupportedParamsError,
        tollway.UnknownProviderError,
        tollway.UnprocessableEntityError,
    ):
        assert issubclass(cls, tollway.BadRequestError)
    assert issubclass(tollway.MissingCredentialsError, tollway.AuthenticationError)
    assert issubclass(tollway.Timeout, tollway.APIConnectionError)
    assert issubclass(tollway.ServiceUnavailableError, tollway.InternalServerError)


def test_openai_envelope_and_str() -> None:
    error = tollway.UnsupportedParamsError("no logprobs here", provider="anthropic", model="claude", param="logprobs")
    assert error.to_dict() == {
        "error": {
            "message": "no logprobs here [anthropic/claude]",
            "type": "invalid_request_error",
            "param": "logprobs",
            "code": "unsupported_parameter",
        }
    }
    assert str(tollway.TollwayError("plain")) == "plain"


def test_status_codes_of_the_contract() -> None:
    assert tollway.BudgetExceededError.status_code == 400
    assert tollway.Timeout.status_code == 408
    assert tollway.RateLimitError.status_code == 429
    assert tollway.ServiceUnavailableError.status_code == 503
