"""Every error tollway raises, in one tree.

```
TollwayError                          status  OpenAI type              retryable
├── BadRequestError                   400     invalid_request_error    no
│   ├── ContextWindowExceededError    400     invalid_request_error    no   (code context_length_exceeded)
│   ├── ContentPolicyViolationError   400     invalid_request_error    no   (code content_policy_violation)
│   ├── UnsupportedParamsError        400     invalid_request_error    no   (code unsupported_parameter)
│   ├── UnknownProviderError          400     invalid_request_error    no   (code unknown_provider)
│   └── UnprocessableEntityError      422     invalid_request_error    no
├── AuthenticationError               401     authentication_error     no
│   └── MissingCredentialsError       401     authentication_error     no   (raised before any request)
├── PermissionDeniedError             403     permission_error         no
├── NotFoundError                     404     not_found_error          no
├── BudgetExceededError               400     budget_exceeded          no
├── RateLimitError                    429     rate_limit_error         yes
├── APIConnectionError                502     api_connection_error     yes  (refused, reset, closed mid-stream)
│   └── Timeout                       408     timeout                  yes
├── InternalServerError               500     server_error             yes
│   ├── BadGatewayError               502     server_error             yes  (an upstream answer tollway cannot read)
│   └── ServiceUnavailableError       503     server_error             yes  (also "overloaded", e.g. Anthropic 529)
├── APIError                          any     api_error                by status (409 and >= 500 retry)
├── ConfigurationError                500     configuration_error      no   (a config entry tollway cannot use)
└── AllAttemptsFailedError            last    last error's type        no   (a Router gave up; every error kept)
```

Each error keeps what the upstream said (``upstream_status``, ``body``, ``headers``) so the router can honour
``retry_after`` and an operator can see the provider's own words. Errors are translated at one boundary per
adapter (``Adapter.map_error``) and at one in the client (transport failures); nothing else builds them from
status codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "APIConnectionError",
    "APIError",
    "AllAttemptsFailedError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigurationError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "InternalServerError",
    "MissingCredentialsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "TollwayError",
    "UnknownProviderError",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "error_for_status",
]


class TollwayError(Exception):
    """Base of every tollway error.

    ``status_code`` is the HTTP status tollway reports for the error (a gateway answers with it);
    ``upstream_status``, ``body`` and ``headers`` are what the provider sent, when there was an answer.
    """

    status_code: int = 500
    type: str = "api_error"
    retryable: bool = False
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.param = param
        self.code = code if code is not None else self.default_code

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        return f"{self.message} [{where}]" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error envelope for this error: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class BadRequestError(TollwayError):
    """The request cannot succeed as written; fix it before trying again."""

    status_code = 400
    type = "invalid_request_error"


class ContextWindowExceededError(BadRequestError):
    """The prompt (plus the requested output) is longer than the model's context window."""

    default_code = "context_length_exceeded"


class ContentPolicyViolationError(BadRequestError):
    """The provider's safety system refused the request."""

    default_code = "content_policy_violation"


class UnsupportedParamsError(BadRequestError):
    """A parameter the provider cannot honour; pass ``drop_params=True`` to drop it instead."""

    default_code = "unsupported_parameter"


class UnknownProviderError(BadRequestError):
    """The model string names a provider prefix tollway does not know."""

    default_code = "unknown_provider"


class UnprocessableEntityError(BadRequestError):
    """The provider understood the JSON but rejected its content (HTTP 422)."""

    status_code = 422


class AuthenticationError(TollwayError):
    """The provider rejected the credentials."""

    status_code = 401
    type = "authentication_error"


class MissingCredentialsError(AuthenticationError):
    """No credentials were found for the provider; the message names the environment variable to set."""

    default_code = "missing_credentials"


class PermissionDeniedError(TollwayError):
    """The credentials are valid but may not do this."""

    status_code = 403
    type = "permission_error"


class NotFoundError(TollwayError):
    """The model or route does not exist at the provider."""

    status_code = 404
    type = "not_found_error"


class BudgetExceededError(TollwayError):
    """A spend budget would be exceeded by this request."""

    status_code = 400
    type = "budget_exceeded"


class RateLimitError(TollwayError):
    """The provider (or a tollway limit) is throttling; ``retry_after`` says how long to wait when known."""

    status_code = 429
    type = "rate_limit_error"
    retryable = True
    default_code = "rate_limit_exceeded"


class APIConnectionError(TollwayError):
    """No usable answer arrived: connection refused or reset, or the upstream closed a stream before its end."""

    status_code = 502
    type = "api_connection_error"
    retryable = True


class Timeout(APIConnectionError):  # noqa: N818  # LiteLLM's and openai's public name
    """The upstream did not answer within the timeout."""

    status_code = 408
    type = "timeout"


class InternalServerError(TollwayError):
    """The provider failed (HTTP 5xx)."""

    status_code = 500
    type = "server_error"
    retryable = True


class BadGatewayError(InternalServerError):
    """The upstream answered with something tollway cannot read (not JSON, wrong shape)."""

    status_code = 502


class ServiceUnavailableError(InternalServerError):
    """The provider is overloaded or down (HTTP 503, Anthropic 529)."""

    status_code = 503


class APIError(TollwayError):
    """An upstream status without a more specific class; retryable for 409 and 5xx like the OpenAI SDK."""

    def __init__(self, message: str, *, status_code: int = 500, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.retryable = status_code in (408, 409, 429) or status_code >= 500


class ConfigurationError(TollwayError):
    """A configuration entry tollway cannot use; the message names the entry (e.g. ``model_list[2].litellm_params``).

    Raised when a router or gateway is built, never in the middle of serving requests.
    """

    status_code = 500
    type = "configuration_error"


class AllAttemptsFailedError(TollwayError):
    """Every deployment and fallback a router tried failed. ``errors`` keeps each attempt's error in order; status,
    type and retry_after are the last one's, so a gateway answers as the final upstream did."""

    def __init__(self, message: str, errors: list[TollwayError], **kwargs: Any) -> None:
        last = errors[-1] if errors else None
        if last is not None:
            kwargs.setdefault("retry_after", last.retry_after)
            kwargs.setdefault("upstream_status", last.upstream_status)
        super().__init__(message, **kwargs)
        self.errors = errors
        if last is not None:
            self.status_code = last.status_code
            self.type = last.type
            self.code = last.code

    @property
    def exceptions(self) -> tuple[TollwayError, ...]:
        """The attempts' errors (ExceptionGroup's name for them)."""
        return tuple(self.errors)


_BY_STATUS: dict[int, type[TollwayError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: InternalServerError,
    503: ServiceUnavailableError,
    504: Timeout,
    529: ServiceUnavailableError,
}


def error_for_status(status: int, message: str, **kwargs: Any) -> TollwayError:
    """Build the error class that fits an upstream HTTP status (adapters refine it from the body)."""
    kwargs.setdefault("upstream_status", status)
    cls = _BY_STATUS.get(status)
    if cls is None:
        if not 500 <= status < 600:
            return APIError(message, status_code=status, **kwargs)
        cls = InternalServerError
    return cls(message, **kwargs)
