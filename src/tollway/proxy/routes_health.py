"""Health routes: liveliness (the process answers), readiness (its dependencies answer), and ``/health``, which
probes each model group once with a one-token request, only when called (never on the request path)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import TollwayError
from tollway.proxy.responses import json_response
from tollway.router import Router

if TYPE_CHECKING:
    from tollway.governance.service import Governance

__all__ = ["HealthRoutes"]

PROBE_TIMEOUT = 30.0
_PROBE_MESSAGES = [{"role": "user", "content": "ping"}]


class HealthRoutes:
    """``/health/liveliness``, ``/health/readiness`` (both without auth) and ``/health`` (with auth)."""

    def __init__(
        self, router: Router, *, redis_url: str | None, governance: Callable[[], Governance | None] = lambda: None
    ) -> None:
        self._router = router
        self._redis_url = redis_url
        self._governance = governance

    async def liveliness(self, request: Request) -> Response:
        """The process is up and its event loop is answering."""
        return json_response({"status": "healthy"})

    async def readiness(self, request: Request) -> Response:
        """Ready to serve: 200, or 503 when a configured dependency (Redis) does not answer."""
        redis = await self._redis_status()
        healthy = redis in ("connected", "not configured")
        body: dict[str, Any] = {"redis": redis}
        governance = self._governance()
        if governance is not None:
            database = await _database_status(governance)
            body["database"] = database
            body["spend_logs"] = {
                "pending": governance.writer.pending(),
                "spooled": governance.writer.spooled(),
                "outage": governance.writer.outage,
            }
            # Without its database the gateway still serves cached keys and spools spend rows; whether that counts
            # as ready is the operator's call (LiteLLM's allow_requests_on_db_unavailable).
            if database != "connected" and not governance.settings.allow_on_db_unavailable:
                healthy = False
        else:
            body["database"] = "not configured"
        body = {"status": "healthy" if healthy else "unhealthy", **body}
        return json_response(body, 200 if healthy else 503)

    async def _redis_status(self) -> str:
        if not self._redis_url:
            return "not configured"
        try:
            import redis.asyncio as aioredis
        except ImportError:
            return "error: the redis package is not installed"
        client = aioredis.from_url(self._redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        except Exception as exc:  # any failure means "not ready"; the URL holds a password
            return f"error: {type(exc).__name__}"
        finally:
            await client.aclose()
        return "connected"

    async def health(self, request: Request, request_id: str) -> Response:
        """Probe every model group once (wildcard groups cannot be probed without a model name: skipped)."""
        groups = self._router.model_names
        probed = [g for g in groups if "*" not in g]
        results = await asyncio.gather(*(self._probe(g) for g in probed))
        healthy = [{"model": g} for g, error in zip(probed, results, strict=True) if error is None]
        unhealthy = [{"model": g, "error": e} for g, e in zip(probed, results, strict=True) if e is not None]
        body: dict[str, Any] = {
            "healthy_endpoints": healthy,
            "unhealthy_endpoints": unhealthy,
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
            "skipped": [g for g in groups if "*" in g],
        }
        return json_response(body, 200, {"x-request-id": request_id})

    async def _probe(self, group: str) -> str | None:
        """None when the group answered; else a short reason (the error's own message, never a traceback)."""
        embedding = any(
            d.model_name == group and d.model_info.get("mode") == "embedding" for d in self._router.deployments
        )
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                if embedding:
                    await self._router.aembedding(group, "ping", num_retries=0)
                else:
                    await self._router.acompletion(group, list(_PROBE_MESSAGES), max_tokens=1, num_retries=0)
        except TollwayError as exc:
            return f"{type(exc).__name__}: {exc}"
        except TimeoutError:
            return f"no answer within {PROBE_TIMEOUT:g} s"
        except Exception as exc:  # a probe reports; it never fails the health route
            return type(exc).__name__
        return None


async def _database_status(governance: Governance) -> str:
    try:
        async with asyncio.timeout(2.0):
            await governance.stores.database.ping()
    except Exception as exc:  # any failure means "not ready"; never the URL (it may hold a password)
        return f"error: {type(exc).__name__}"
    return "connected"
