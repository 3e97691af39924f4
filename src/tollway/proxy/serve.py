"""Running the gateway: uvicorn with uvloop and httptools, one process or ``workers`` processes on one port.

The HTTP protocol is uvicorn's with deadlines on each request's headers and body (``tollway.proxy.protocol``,
``general_settings.request_header_timeout`` and ``request_body_timeout``).

Workers are separate processes started by uvicorn from an import string, so they cannot receive the loaded
config as an object: the parent writes it to a private temporary file (mode 0600, removed on exit) and passes its
path in ``TOLLWAY_GATEWAY_STATE``; ``worker_app`` reads it back in each worker.

The store is migrated once, before the app is built or any worker starts, and only when it is behind (then by a
child process, ``tollway.storage.migrate.prepare``): each worker's own start-up check then finds it current with
one query and never imports Alembic, which would stay in the worker's memory (9-11 MB) for its whole life.

Two environment defaults, each kept when the environment sets it, are inherited by the workers:

- ``TOLLWAY_PRICE_LOOKUP=subprocess``: a worker looks prices up in a short-lived child process, so genai-prices
  (with pydantic, ~13 MB) never stays in its memory; the configured models' prices are looked up in one child at
  start (``tollway.pricing.prices``). ``TOLLWAY_PRICE_LOOKUP=process`` keeps the lookup in the worker.
- ``MIMALLOC_ARENA_EAGER_COMMIT=0``: pyreqwest's Rust side (``TOLLWAY_HTTP_CLIENT=reqwest``) allocates with
  mimalloc, which by default commits its arenas eagerly in 2 MiB huge pages: 6-7 MB less per worker without.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import tempfile
from typing import Any, Literal

import orjson
from starlette.applications import Starlette

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.gc_tuning import tuned_after_start
from tollway.proxy.settings import GatewaySettings, StartupError

__all__ = [
    "SERVE_ENV_DEFAULTS",
    "STATE_ENV",
    "banner",
    "load_state",
    "prepare_database",
    "serve",
    "upstream_client",
    "worker_app",
    "write_state",
]

STATE_ENV = "TOLLWAY_GATEWAY_STATE"
MIMALLOC_EAGER_COMMIT_ENV = "MIMALLOC_ARENA_EAGER_COMMIT"
# Environment defaults of ``tollway serve`` (see the module docstring).
SERVE_ENV_DEFAULTS = {"TOLLWAY_PRICE_LOOKUP": "subprocess", MIMALLOC_EAGER_COMMIT_ENV: "0"}


def serve(
    config: GatewayConfig, host: str = "127.0.0.1", port: int = 4000, workers: int = 1, *, dev: bool = False
) -> None:
    """Serve until interrupted. Raises ``StartupError`` before binding when the master key is missing or weak."""
    for name, value in SERVE_ENV_DEFAULTS.items():  # before anything loads; inherited by workers
        os.environ.setdefault(name, value)
    import uvicorn

    from tollway.proxy.protocol import protocol_class

    settings = GatewaySettings.from_config(config, dev=dev)  # fail fast, before any worker starts
    prepare_database(config, dev=dev)
    print(banner(host, port, settings, upstream_client(config)), file=sys.stderr, flush=True)
    kind: Literal["httptools", "h11"] = "httptools" if importlib.util.find_spec("httptools") else "h11"
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        # uvicorn's protocol plus deadlines on request headers and bodies (slow clients): tollway.proxy.protocol.
        "http": protocol_class(kind, header_timeout=settings.header_timeout, body_timeout=settings.body_timeout),
        "ws": "none",  # the gateway has no WebSocket route; an upgrade request is answered as plain HTTP
        # Per-request access lines cost CPU on every call and would log client addresses; errors still log.
        "access_log": False,
        "log_level": "warning",
        "lifespan": "on",
    }
    if workers <= 1:
        uvicorn.run(_served_app(config, dev=dev, tune_gc=settings.gc_tuning), **options)
        return
    path = write_state(config, dev=dev)
    os.environ[STATE_ENV] = path  # inherited by the worker processes uvicorn spawns
    try:
        uvicorn.run("tollway.proxy.serve:worker_app", factory=True, workers=workers, **options)
    finally:
        os.environ.pop(STATE_ENV, None)
        os.unlink(path)


def prepare_database(config: GatewayConfig, *, dev: bool = False) -> None:
    """Migrate the configured store when it is behind (in a child process; nothing to do when it is current).

    Raises ``StartupError`` (naming the database without its password) when it cannot be reached or migrated.
    """
    url = GatewaySettings.from_config(config, dev=dev, environ=config.environ()).database_url
    if url is None:
        return
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.storage.database import StoreError, error_reason, normalize_url
    from tollway.storage.migrate import MigrationError, prepare

    try:
        url = normalize_url(url)
        report = prepare(url)
    except (StoreError, MigrationError) as error:
        raise StartupError(str(error)) from None
    except (SQLAlchemyError, OSError) as error:
        raise StartupError(f"cannot open the database {_safe_url(url)}: {error_reason(error)}") from None
    if report:
        print(f"tollway: {report}", file=sys.stderr, flush=True)


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn's factory), built from the parent's state file."""
    path = os.environ.get(STATE_ENV)
    if not path:
        raise RuntimeError(f"{STATE_ENV} is not set: worker_app runs under 'tollway serve --workers N' only")
    config, dev = load_state(path)
    settings = GatewaySettings.from_config(config, dev=dev)
    return _served_app(config, dev=dev, tune_gc=settings.gc_tuning)


def _served_app(config: GatewayConfig, *, dev: bool, tune_gc: bool) -> Starlette:
    """The app a serving process runs: with the garbage collector tuned after start unless ``gc_tuning`` is off
    (``tollway.proxy.gc_tuning``)."""
    app = create_app(config, dev=dev)
    return tuned_after_start(app) if tune_gc else app


def write_state(config: GatewayConfig, *, dev: bool) -> str:
    """Write ``config`` to a new private file and return its path (it holds secrets: owner-only)."""
    fields = dataclasses.asdict(config)
    data = orjson.dumps({"config": fields, "dev": dev}, default=str)
    handle, path = tempfile.mkstemp(prefix="tollway-gateway-", suffix=".json")
    with os.fdopen(handle, "wb") as file:  # mkstemp creates the file 0600
        file.write(data)
    return path


def load_state(path: str) -> tuple[GatewayConfig, bool]:
    """The config and dev flag ``write_state`` wrote."""
    with open(path, "rb") as file:
        state = orjson.loads(file.read())
    fields = state["config"]
    fields["model_list"] = tuple(fields.get("model_list") or ())
    fields["unknown"] = tuple(fields.get("unknown") or ())
    return GatewayConfig(**fields), bool(state.get("dev"))


def upstream_client(config: GatewayConfig) -> str:
    """The HTTP client the gateway's upstream calls go through, as the app will choose it (see
    ``tollway.transport.chosen_client``): the first thing to know when upstream calls misbehave."""
    from tollway.transport import HTTP_CLIENT_ENV, HTTP_CLIENTS, chosen_client

    chosen = chosen_client(config.environ())
    return f"{'pyreqwest' if chosen == 'reqwest' else chosen} ({HTTP_CLIENT_ENV}={'|'.join(HTTP_CLIENTS)} chooses)"


def banner(host: str, port: int, settings: GatewaySettings, client: str | None = None) -> str:
    """What ``tollway serve`` prints on start: where it listens and how to call it (never the key itself), and
    ``client``, the upstream HTTP client, when given."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104  # display only
    url = f"http://{shown}:{port}"
    key = "$TOLLWAY_MASTER_KEY" if settings.auth_enabled else "anything"
    lines = [f"tollway gateway listening on {url}  (OpenAI base URL: {url}/v1)", f"docs: {url}/docs"]
    if settings.database_url is not None:
        lines.append(f"store: {_safe_url(settings.database_url)}  (keys, teams, customers, spend)")
        lines.append(f"dashboard: {url}/ui  (sign in with the master key)")
    if client is not None:
        lines.append(f"upstream HTTP client: {client}")
    if not settings.auth_enabled:
        lines.append("dev mode: authentication is OFF; do not expose this port")
    lines += [
        f"try:  curl {url}/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        '-d \'{"model": "mock/demo", "messages": [{"role": "user", "content": "hi"}]}\'',
        f"or:   python -c \"import openai; c = openai.OpenAI(base_url='{url}/v1', api_key='{key}'); "
        "print(c.chat.completions.create(model='mock/demo', messages=[{'role': 'user', 'content': 'hi'}]))\"",
    ]
    return "\n".join(lines)


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL fails at start with its own message; never print it raw here
        return "(configured)"
