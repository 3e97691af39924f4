"""``GET /model/info`` (and ``/v1/model/info``, LiteLLM's paths): every deployment, its provider, its cooldown and
what the catalog knows of its model, with every credential left out.

``{"data": [{"model_name", "model_id", "deployment_id", "provider", "model", "healthy", "cooldown_seconds",
"model_info": {...}, "litellm_params": {...}}]}``. ``healthy`` is false while the router has the deployment cooling
down after failures, true otherwise (``/health`` probes the providers for real). ``model_info`` is the catalog's facts
(mode, context window, prices as decimal strings) overlaid with the deployment's own prices and ``model_info``;
``litellm_params`` holds only non-secret settings (``api_base`` without user info or query, ``api_version``, region,
limits, prices...). A key that may use only some model groups sees only their deployments.

Nothing secret reaches the answer: parameters are copied from an allow-list, and any value equal to (or containing)
a credential of the deployment is dropped as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.proxy.auth import caller_of
from tollway.proxy.management import Query, ok
from tollway.proxy.responses import Checker, Observer, guard

if TYPE_CHECKING:
    from tollway.router import Router
    from tollway.router.deployment import Deployment

__all__ = ["ModelInfoRoutes", "deployment_info", "model_info_routes", "prices", "public_params"]

# litellm_params a dashboard may show: endpoints and places, never credentials.
_PUBLIC_PARAMS = (
    "model",
    "api_base",
    "api_version",
    "custom_llm_provider",
    "aws_region_name",
    "vertex_project",
    "vertex_location",
    "region_name",
    "rpm",
    "tpm",
    "timeout",
    "stream_timeout",
    "max_retries",
    "num_retries",
    "max_parallel_requests",
    "weight",
    "order",
    "tags",
    "base_model",
)
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "authorization", "signature", "cookie")


def _clean_url(value: str) -> str:
    """A URL without user info, query or fragment (where keys hide)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _secrets(params: Mapping[str, Any]) -> set[str]:
    """Every credential-looking value of a deployment (at any depth), to make sure none is ever sent."""
    found: set[str] = set()
    for name, value in params.items():
        secret = any(word in str(name).lower() for word in _SECRET_WORDS)
        if isinstance(value, Mapping):
            found |= _secrets(value)
            if secret:
                found |= {str(item) for item in value.values() if isinstance(item, str | int)}
        elif secret and isinstance(value, str) and value:
            found.add(value)
    return {value for value in found if len(value) >= 4}


def _safe(value: Any, secrets: set[str]) -> Any:
    """``value`` when it is plain data holding none of ``secrets``; else None."""
    if isinstance(value, Decimal):
        value = format(value, "f")
    if isinstance(value, str):
        return None if any(secret in value for secret in secrets) else value
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple | frozenset | set):
        items = [_safe(item, secrets) for item in value]
        return [item for item in items if item is not None]
    if isinstance(value, Mapping):
        kept = {
            str(key): _safe(item, secrets)
            for key, item in value.items()
            if not any(word in str(key).lower() for word in _SECRET_WORDS if word != "token")
        }
        return {key: item for key, item in kept.items() if item is not None}
    return None


def _is_price(name: str) -> bool:
    return "cost" in name or name.endswith("_mtok")


def prices(params: Mapping[str, Any]) -> dict[str, str]:
    """A deployment's own prices (LiteLLM's ``input_cost_per_token``... and genai-prices' ``input_mtok``...) as
    decimal strings; what is not a number is left out."""
    from decimal import InvalidOperation

    from tollway.governance.records import money_str

    found: dict[str, str] = {}
    for name, value in params.items():
        if not _is_price(str(name)) or isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            continue
        if amount.is_finite():
            found[str(name)] = money_str(amount) or "0"
    return found


def public_params(deployment: Deployment) -> dict[str, Any]:
    """The deployment's ``litellm_params`` a dashboard may show (see the module docstring)."""
    params = dict(deployment.call_params)
    secrets = _secrets(params)
    shown: dict[str, Any] = {"model": deployment.model, **prices(params)}
    for name in _PUBLIC_PARAMS:
        if name in params and name != "model":
            value = _clean_url(params[name]) if name == "api_base" and isinstance(params[name], str) else params[name]
            safe = _safe(value, secrets)
            if safe is not None:
                shown[name] = safe
    for name, value in (("rpm", deployment.rpm), ("tpm", deployment.tpm), ("region", deployment.region)):
        if value is not None:
            shown.setdefault(name, value)
    return shown


def _catalog(model: str) -> dict[str, Any]:
    """What the price and capability catalog knows of ``model`` ({} when nothing, or for a wildcard)."""
    from tollway.errors import TollwayError
    from tollway.pricing.catalog import get_model_info

    if "*" in model:
        return {}
    try:
        return get_model_info(model)
    except (TollwayError, ValueError, KeyError):
        return {}


def deployment_info(deployment: Deployment, cooldown_until: float | None, now: float) -> dict[str, Any]:
    """One entry of ``/model/info``."""
    from tollway.pricing.names import split_model

    secrets = _secrets(deployment.call_params) | _secrets(deployment.model_info)
    # The deployment's own prices (in litellm_params or model_info) win over the catalog's: they are what it costs.
    merged = {**_catalog(deployment.model), **prices(deployment.call_params), **dict(deployment.model_info)}
    info = _safe({**merged, "id": deployment.id}, secrets)
    remaining = max(0.0, cooldown_until - now) if cooldown_until is not None else 0.0
    return {
        "model_name": deployment.model_name,
        "model_id": deployment.id,
        "deployment_id": deployment.id,
        "provider": deployment.call_params.get("custom_llm_provider") or split_model(deployment.model)[0],
        "model": deployment.model,
        "healthy": remaining <= 0,
        "cooldown_seconds": round(remaining, 3),
        "model_info": info,
        "litellm_params": public_params(deployment),
    }


class ModelInfoRoutes:
    """The handler over ``router`` (its deployments and their cooldowns); ``clock`` is UNIX seconds."""

    def __init__(self, router: Router, clock: Callable[[], float] = time.time) -> None:
        self._router = router
        self._clock = clock

    async def info(self, request: Request, request_id: str) -> Response:
        """``GET /model/info``: the deployments the caller may use."""
        from tollway.governance.admission import model_allowed

        Query(request, ())
        principal = caller_of(request).principal
        cooling = await self._router.acooldowns()
        now = self._clock()
        deployments: Sequence[Deployment] = self._router.deployments
        data = [
            deployment_info(deployment, cooling.get(deployment.id), now)
            for deployment in deployments
            if model_allowed(principal, deployment.model_name)
        ]
        return ok({"data": data}, request_id)


def model_info_routes(
    router: Router, auth: Checker | None, *, observer: Callable[[str], Observer] | None = None
) -> list[BaseRoute]:
    """``GET /model/info`` and ``GET /v1/model/info`` behind ``guard`` (metrics route name ``management``)."""
    watch = observer("management") if observer is not None else None
    endpoint = guard(ModelInfoRoutes(router).info, auth, observer=watch)
    return [Route(path, endpoint, methods=["GET"]) for path in ("/model/info", "/v1/model/info")]
