"""Schemathesis against the gateway's own ``/openapi.json``, in-process (ASGI): every documented operation, with
the master key, gets schema-driven requests (valid and invalid bodies, wrong methods, a missing key) and must answer
without a 5xx, with a documented content type, and with a body matching the documented schema (the error envelope
for errors, Anthropic's on the ``/v1/messages`` routes).

The schema is loaded from the app itself, so a route added to the table is fuzzed without editing this file. Bodies
and path parameters of the fuzzing phase name a mock model group most of the time, so valid requests go through the
router to the built-in mock provider and back (streams included); the coverage phase adds boundary values, unknown
models, wrong methods and a missing key. The gateway has its SQLite database, so the management API is fuzzed too.
Bounded and derandomized: the same cases on every run.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from starlette.applications import Starlette

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.router import Router

KEY = "sk-test-master-key-0123456789"
# Named groups (so /models/{id} and /health have something to find) and the wildcard group.
MOCK_MODELS = ("fuzz-chat", "fuzz-embed", "mock/fuzz")
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def gateway(store: Path, router: Router | None = None) -> Starlette:
    """A gateway serving only mock models (no provider keys: nothing can reach the network), with its database (so
    the management API is served, not refused) and its spend spool in ``store``."""
    model_list = (
        {"model_name": "fuzz-chat", "litellm_params": {"model": "mock/chat"}},
        {"model_name": "fuzz-embed", "litellm_params": {"model": "mock/embed"}, "model_info": {"mode": "embedding"}},
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
    )
    config = GatewayConfig(
        model_list=model_list,
        master_key=KEY,
        database_url=f"sqlite+aiosqlite:///{store / 'tollway.db'}",
        settings={"spend_spool_dir": str(store / "spool")},
    )
    return create_app(config, router=router, environ={})


def scratch() -> Path:
    """A directory of this process's own, removed at exit (after schemathesis has stopped the app's lifespan:
    exit handlers run last-registered first, and schemathesis registers its own when the schema is loaded)."""
    path = Path(tempfile.mkdtemp(prefix="tollway-schemathesis-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def load(app: Starlette) -> Any:
    """``app``'s schema, configured: the key on every request, a fixed seed, a few examples per operation."""
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {KEY}"},
            "seed": 6,
            "generation": {"mode": "all", "max-examples": 10, "deterministic": True, "database": "none"},
            # Boundary values of the coverage phase: the invalid ones only (the fuzzing phase sends valid requests),
            # and one method each route refuses. Together under 30 s for the whole file.
            "phases": {"coverage": {"unexpected-methods": ["PUT"], "generation": {"mode": "negative"}}},
        }
    )
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    loaded.hook(flatmap_body)
    loaded.hook(flatmap_path_parameters)
    return loaded


def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Most object bodies name a mock model group, so they reach the router and the mock provider (the coverage
    phase, which this hook does not touch, sends plenty of unknown models)."""
    if not isinstance(body, dict):
        return st.just(body)
    return st.sampled_from((*MOCK_MODELS, None)).map(lambda model: body if model is None else {**body, "model": model})


def flatmap_path_parameters(context: schemathesis.HookContext, parameters: Any) -> st.SearchStrategy[Any]:
    """The Azure deployment name and ``/models/{model_id}`` name a mock model group most of the time."""
    if not isinstance(parameters, dict) or not parameters:
        return st.just(parameters)
    keep = st.just(parameters)
    return st.sampled_from(MOCK_MODELS).map(lambda model: dict.fromkeys(parameters, model)) | keep


schema = load(gateway(scratch()))


@schema.parametrize()
def test_every_operation_answers_without_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


class _BrokenRouter(Router):
    """A router whose chat call fails with an unexpected error: the gateway must answer 500."""

    async def acompletion(self, model: str, messages: list[Any], **params: Any) -> Any:
        raise RuntimeError("broken on purpose")


def test_the_checks_catch_a_server_error() -> None:
    """The property can fail: the same checks reject the 500 of a gateway whose chat handler breaks."""
    router = _BrokenRouter([{"model_name": "fuzz-chat", "litellm_params": {"model": "mock/chat"}}])
    broken = load(gateway(scratch(), router))
    operation = broken["/v1/chat/completions"]["POST"]
    body = {"model": "fuzz-chat", "messages": [{"role": "user", "content": "hi"}]}
    case = operation.Case(body=body, headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(FailureGroup, match="Server error"):
        case.call_and_validate(checks=CHECKS)
