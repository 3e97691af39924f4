"""Parameters a gateway client may not set, and the per-model exceptions an operator configures.

A request body's ``api_base``, ``api_key``, extra headers, cloud credentials or per-call prices would let a client
send the gateway's traffic or credentials elsewhere (server-side request forgery) or set its own bill, so they are
refused. LiteLLM's ``litellm_params.configurable_clientside_auth_params`` lifts the refusal for chosen parameters
of a deployment::

    configurable_clientside_auth_params: ["api_key", {"api_base": "https://[a-z0-9-]+\\.example\\.com/v1"}]

A name allows any value; ``{name: pattern}`` allows the values the regular expression matches in full.
``base_url`` is another name for ``api_base`` and ``headers`` for ``extra_headers``. A parameter passes only when
every deployment of the requested model group allows it (and of each group named in the request's own
``fallbacks``); prices, ``extra_body``, ``custom_llm_provider`` and the like can never be allowed.

A request that carries allowed parameters is served by a separate router over the same deployments, without the
configured fallbacks (which would hand the client's key or base URL to another group), without cooldowns (a client's
bad key must not take a deployment out of rotation for everyone), without the response cache (an answer from a
client-chosen endpoint must not be served to others) and with its own in-memory counters.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from tollway.errors import BadRequestError, ConfigurationError
from tollway.router import Router

__all__ = ["ALLOWABLE_PARAMS", "REFUSED_PARAMS", "SETTING", "ClientSide", "forbidden", "is_refused", "parse_rules"]

SETTING = "configurable_clientside_auth_params"

# Parameters the SDK honours per call that would send the request (or credentials) somewhere other than the
# configured deployment, or change how it is billed. ``aws_*`` is matched by prefix.
REFUSED_PARAMS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "extra_headers",
        "headers",
        "vertex_credentials",
        "vertex_project",
        "vertex_location",
        "azure_ad_token",
        "azure_ad_token_provider",
        "azure_reasoning_model",
        "custom_llm_provider",
        "organization",
        # extra_body is merged verbatim over the upstream body: it could swap the model (and so the bill) or add
        # fields the operator never allowed.
        "extra_body",
        # Per-call prices and price aliases: a client must not set what it is charged.
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "cache_creation_input_token_cost_above_1hr",
        "output_cost_per_reasoning_token",
        "input_cost_per_million_tokens",
        "output_cost_per_million_tokens",
        "base_model",
        "model_info",
        "prices",
        "client",
        "transport",
    }
)

# The refused parameters an operator may allow: where the call goes and with which credentials (``aws_*`` too).
# The others set the price, the provider adapter or arbitrary upstream fields, which no client should choose.
ALLOWABLE_PARAMS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "extra_headers",
        "headers",
        "organization",
        "azure_ad_token",
        "vertex_credentials",
        "vertex_project",
        "vertex_location",
    }
)
_ALIASES = {"base_url": "api_base", "headers": "extra_headers"}

# Per deployment: parameter (canonical name) → None (any value) or the patterns one of which must match in full.
Rules = Mapping[str, tuple[re.Pattern[str], ...] | None]

# Router settings the isolated router drops: fallbacks to other groups, the shared cache and the shared state.
_ISOLATED_DROPS = frozenset(
    {
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "default_fallbacks",
        "cache",
        "cache_responses",
        "cache_params",
        "redis_url",
        "redis_host",
        "redis_port",
        "redis_password",
    }
)


def is_refused(name: str) -> bool:
    """Whether a client may not set ``name`` unless the configuration allows it."""
    return name in REFUSED_PARAMS or name.startswith("aws_")


def parse_rules(path: str, items: Sequence[Any]) -> dict[str, tuple[re.Pattern[str], ...] | None]:
    """One deployment's ``configurable_clientside_auth_params`` (ConfigurationError naming ``path[i]``)."""
    rules: dict[str, list[re.Pattern[str]] | None] = {}
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if isinstance(item, str):
            entries: list[tuple[Any, Any]] = [(item, None)]
        elif isinstance(item, Mapping) and item:
            entries = list(item.items())
        else:
            raise ConfigurationError(f"{where}: expected a parameter name or {{name: pattern}}, got {_kind(item)}")
        for name, pattern in entries:
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"{where}: parameter names must be non-empty strings")
            canonical = _ALIASES.get(name, name)
            if is_refused(canonical) and not (canonical in ALLOWABLE_PARAMS or canonical.startswith("aws_")):
                raise ConfigurationError(
                    f"{where}: {name!r} cannot be allowed client-side (it sets the price, the provider or raw upstream "
                    f"fields); allowable: {', '.join(sorted(ALLOWABLE_PARAMS))}, aws_*"
                )
            if pattern is None:
                rules[canonical] = None  # a plain name allows any value, whatever patterns say
                continue
            if not isinstance(pattern, str):
                raise ConfigurationError(f"{where}.{name}: expected a regular expression string, got {_kind(pattern)}")
            try:
                compiled = re.compile(pattern)
            except re.error as error:
                raise ConfigurationError(f"{where}.{name}: invalid regular expression ({error})") from None
            known = rules.setdefault(canonical, [])
            if known is not None:
                known.append(compiled)
    return {name: None if patterns is None else tuple(patterns) for name, patterns in rules.items()}


def _kind(value: object) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


class ClientSide:
    """Decides, per request, whether its client-set parameters pass and which router serves it.

    ``router_for(body, model)`` is on every model call's path: a scan of the body's keys when nothing is refused.
    """

    __slots__ = ("_groups", "_isolated", "_router")

    def __init__(self, router: Router, groups: Mapping[str, Sequence[Rules]], isolated: Router | None) -> None:
        self._router = router
        self._groups = groups
        self._isolated = isolated

    @classmethod
    def build(
        cls,
        router: Router,
        *,
        model_list: Sequence[Mapping[str, Any]] | None = None,
        router_settings: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientSide:
        """The policy of ``router``'s deployments. Without ``model_list`` (a router built elsewhere, which cannot be
        duplicated) every refused parameter stays refused."""
        groups: dict[str, list[Rules]] = {}
        for deployment in router.deployments:
            path = f"model_list entry {deployment.id!r} ({deployment.model_name}): litellm_params.{SETTING}"
            groups.setdefault(deployment.model_name, []).append(parse_rules(path, deployment.clientside_auth_params))
        if model_list is None or not any(rules for group in groups.values() for rules in group):
            return cls.strict(router)
        settings = {k: v for k, v in (router_settings or {}).items() if k not in _ISOLATED_DROPS}
        settings["disable_cooldowns"] = True
        from tollway.router.state_memory import MemoryState

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the main router has already reported settings it ignores
            isolated = Router(list(model_list), environ=environ, state=MemoryState(), **settings)
        return cls(router, groups, isolated)

    @classmethod
    def strict(cls, router: Router) -> ClientSide:
        """Every refused parameter refused, whatever the deployments say."""
        return cls(router, {}, None)

    @property
    def isolated(self) -> Router | None:
        """The router serving requests with allowed client-side parameters (None when nothing can be allowed)."""
        return self._isolated

    def router_for(self, body: Mapping[str, Any], model: str | None) -> Router:
        """The router for a request to ``model`` with ``body``; BadRequestError (400, naming the parameter) for a
        client-set parameter the configuration does not allow for every deployment the request can reach."""
        for name in body:
            if name in REFUSED_PARAMS or name.startswith("aws_"):
                return self._checked(body, model)
        return self._router

    def split(self, body: dict[str, Any], model: str | None) -> tuple[Router, dict[str, Any]]:
        """``router_for``, with the allowed client-set parameters taken out of ``body`` (for a body translated from
        another API's format before it reaches the router)."""
        router = self.router_for(body, model)
        if router is self._router:
            return router, {}
        return router, {name: body.pop(name) for name in [name for name in body if is_refused(name)]}

    async def aclose(self) -> None:
        """Close the isolated router (the main one belongs to the app)."""
        if self._isolated is not None:
            await self._isolated.aclose()

    def _checked(self, body: Mapping[str, Any], model: str | None) -> Router:
        names = [name for name in body if is_refused(name)]
        if self._isolated is None or model is None:
            raise forbidden(names[0])
        targets = [model]
        fallbacks = body.get("fallbacks")
        if isinstance(fallbacks, list):  # the router checks the shape; each group it names must allow the params
            targets += [group for group in fallbacks if isinstance(group, str)]
        for index, target in enumerate(targets):
            rules = self._rules(target)
            for name in names:
                _check(name, body[name], target, rules, fallback=index > 0)
        return self._isolated

    def _rules(self, model: str) -> Sequence[Rules]:
        """The rules of each deployment of the group serving ``model`` (the router's lookup: exact, then wildcard)."""
        exact = self._groups.get(model)
        if exact:
            return exact
        for pattern, rules in self._groups.items():
            if "*" in pattern and fnmatch.fnmatchcase(model, pattern):
                return rules
        return ()


def _check(name: str, value: Any, target: str, deployments: Sequence[Rules], *, fallback: bool) -> None:
    canonical = _ALIASES.get(name, name)
    if not deployments or any(canonical not in rules for rules in deployments):
        raise forbidden(name, fallback=target) if fallback else forbidden(name, target)
    for rules in deployments:
        patterns = rules[canonical]
        if patterns is not None and not (isinstance(value, str) and any(p.fullmatch(value) for p in patterns)):
            # The value is not echoed: it may be a key.
            raise BadRequestError(
                f"the value of {name!r} is not one the gateway's configuration allows for model {target!r}",
                param=name,
                code="forbidden_parameter",
            )


def forbidden(name: str, model: str | None = None, *, fallback: str | None = None) -> BadRequestError:
    """The 400 for a client-set parameter that is not allowed, saying how an operator can allow it."""
    if fallback is not None:
        reason = f"the fallback model {fallback!r} named in this request does not allow it"
    else:
        reason = "the gateway's configuration decides where requests go and which credentials they use"
    hint = (
        f"an operator can allow it per model with litellm_params.{SETTING}"
        if name in ALLOWABLE_PARAMS or name.startswith("aws_")
        else "it cannot be allowed"
    )
    where = f" for model {model!r}" if model else ""
    return BadRequestError(
        f"{name!r} cannot be set in a request to the gateway{where}: {reason} ({hint})",
        param=name,
        code="forbidden_parameter",
    )
