"""A deployment: one concrete way to serve a model group (a provider model with its credentials and limits).

Built from one LiteLLM ``model_list`` entry (``model_name`` + ``litellm_params`` + ``model_info``) by
``tollway.router.config``. Values only; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["Deployment", "DeploymentStats"]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One entry of a model group.

    ``model`` is the tollway model string (``"openai/gpt-4o"``); ``call_params`` are the keyword arguments passed to
    ``Client.acompletion`` for it (``api_key``, ``api_base``, ``api_version``, provider options, custom prices...),
    with ``os.environ/NAME`` references already resolved. Routing facts (``rpm``, ``tpm``, ``weight``, ``order``,
    ``tags``, ``region``, timeouts, ``max_parallel_requests``) are lifted out of ``litellm_params``/``model_info``.
    ``clientside_auth_params`` is LiteLLM's ``configurable_clientside_auth_params`` as written (names, or
    ``{name: pattern}`` mappings): what a gateway client may set for this deployment; the router does not read it.
    """

    id: str
    model_name: str
    model: str
    call_params: Mapping[str, Any] = field(default_factory=dict)
    model_info: Mapping[str, Any] = field(default_factory=dict)
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None
    tags: frozenset[str] = frozenset()
    region: str | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    max_parallel_requests: int | None = None
    clientside_auth_params: tuple[Any, ...] = ()


class DeploymentStats(NamedTuple):
    """What the shared state knows about a deployment right now (all counts for the current minute window).

    ``latency`` is an exponentially weighted moving average of seconds per call (time to first token for streams;
    None until measured); ``cooldown_until`` is a UNIX time (None when not cooling down).

    A NamedTuple (immutable, like the frozen dataclass it was): the router reads one per request, and building a
    frozen dataclass from keywords cost 13k instructions, a NamedTuple from positions a fraction of that (callgrind).
    """

    rpm_used: int = 0
    tpm_used: int = 0
    in_flight: int = 0
    latency: float | None = None
    cooldown_until: float | None = None
    failures: int = 0
