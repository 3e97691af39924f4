"""A request's headers as one plain dict, built once per request for the model routes' few lookups.

Starlette's ``Headers.get`` scans the raw header list and encodes the name on every lookup, and a missing name
costs a raised ``KeyError``; the model routes look up four to six names per request (request id, credentials,
content length, customer, feature), several of them usually absent. One dict, kept in the request's scope, answers
each in a hash lookup. Names are lower case as ASGI servers deliver them; of a repeated header the first value
wins, as with Starlette's ``Headers.get``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

__all__ = ["headers_of"]

_KEY = "tollway.headers"


def headers_of(request: Request) -> Mapping[str, str]:
    """The request's headers by lower-case name (first value of a repeated name), built on first use."""
    scope = request.scope
    headers: dict[str, str] | None = scope.get(_KEY)
    if headers is None:
        headers = scope[_KEY] = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])
        }
    return headers
