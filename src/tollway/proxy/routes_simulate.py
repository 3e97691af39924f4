"""``POST /simulate``: the model-swap simulator (admin only: the master key or an admin key; any other key gets 403;
503 when the gateway runs without a database).

``POST /simulate {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD", "replace": {"gpt-4o": "gpt-4o-mini"},
"customer_ids"?: [...], "features"?: [...], "tags"?: [...]}`` → ``{"start", "end", "currency", "baseline_cost",
"simulated_cost", "savings", "savings_pct", "revenue", "margin_before", "margin_after", "margin_pct_before",
"margin_pct_after", "requests", "substituted_requests", "unpriced": {...}, "substitutions": [{"from", "to",
"priced_as", "target_family", "requests", "input_tokens", "output_tokens", "simulated_input_tokens",
"simulated_output_tokens", "baseline_cost", "simulated_cost", "savings", "savings_pct", "unpriced_requests",
"simulated_cost_of_baseline_unpriced", "tokenizer": [{"model", "family", "ratio", "requests"}]}], "customers":
[{"customer_id", "baseline_cost", "simulated_cost", "savings", "savings_pct", "revenue", "margin_before",
"margin_after", "margin_pct_before", "margin_pct_after", "requests", "substituted_requests", "unpriced_requests"}],
"other_currencies": [...]}`` (ARCHITECTURE.md's Economics contract, extended). Amounts are decimal strings.

Bad input is a 400 naming the field (``error.param``): an unknown field (``unknown_field``), a bad or missing date,
an end before the start, a period over 366 days, an empty ``replace``, a model replaced by itself, a value that is
not a string (``invalid_field``), a model that is neither a model group of the configuration nor a priced model
(``unknown_model``), a target without prices (``model_not_priced``). A body over the gateway's limit is a 413,
invalid JSON a 400. The rules: ``tollway.economics.simulate``; the query: ``tollway.storage.simulate_queries``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError
from tollway.proxy.auth import require_admin
from tollway.proxy.management import Management, ok, translated
from tollway.proxy.responses import Checker, Observer, Work, guard

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.router.deployment import Deployment

__all__ = ["SimulateRoutes", "simulate_routes"]


class SimulateRoutes:
    """The simulate handler over a ``Management`` context (the running Governance) and the configuration's
    deployments (which name the model groups)."""

    def __init__(self, context: Management, deployments: Iterable[Deployment] = ()) -> None:
        self.m = context
        self.deployments = tuple(deployments)

    def routes(self) -> list[tuple[str, Work, str]]:
        """(path, handler, method) of every simulate route."""
        return [("/simulate", self.simulate, "POST")]

    async def simulate(self, request: Request, request_id: str) -> Response:
        """``POST /simulate``: the simulation (see the module docstring)."""
        from tollway.economics.simulate_request import FIELDS, SimulationError
        from tollway.storage.simulate_queries import simulate_of

        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, FIELDS)
        try:
            report = await simulate_of(governance.stores.database, body, deployments=self.deployments)
        except SimulationError as error:
            raise BadRequestError(error.message, param=error.param, code=error.code) from None
        return ok(report.to_api(), request_id)


def simulate_routes(
    governance_getter: Callable[[], Governance],
    auth: Checker | None,
    *,
    max_body_bytes: int,
    body_timeout: float | None = None,
    observer: Callable[[str], Observer] | None = None,
    deployments: Iterable[Deployment] = (),
) -> list[BaseRoute]:
    """The simulate route behind ``guard`` and the management API's error translation; arguments as
    ``tollway.proxy.routes_revenue.revenue_routes``'s, plus the configuration's ``deployments``
    (``Router.deployments``: the model groups a simulation may name). Metrics route name ``management``."""
    context = Management(governance_getter, max_body_bytes, body_timeout)
    watch = observer("management") if observer is not None else None
    handler = SimulateRoutes(context, deployments).simulate
    return [Route("/simulate", guard(translated(handler), auth, observer=watch), methods=["POST"])]
