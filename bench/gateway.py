"""Gateway benchmark: ``tollway serve`` (one worker, master key) against the floor pass-through, and LiteLLM's proxy
when it is installed, in one run.

Usage: python bench/gateway.py [--seconds 15] [--conns 32] [--litellm-python PATH | --no-litellm] [--rounds 1]
       [--scenarios chat,stream]

Starts ``fake_upstream.py`` pinned to core 1, then the gateway, ``floor_proxy.py`` and (when ``litellm[proxy]`` is
importable by ``--litellm-python``, default: this Python) LiteLLM's proxy configured by ``litellm_config.yaml``, all
pinned to core 0 (one at a time measured, all alive), and drives each with ``wrk`` through ``measure.sh`` (chat.lua,
then stream.lua). Prints CPU µs per request, requests/s, p50/p99 and RSS for each, and the ratios. Needs ``wrk`` and
``taskset``; nothing here asserts a target: read the ratios.

``--rounds N`` measures every system N times, in turn within each round (tollway, floor, tollway, floor...), and
prints each round's ratio and the median of those: on a machine whose speed drifts (a shared host), the ratio of two
measurements taken seconds apart holds much better than either figure, and the median of several rounds better than
any one round. The table then shows the medians of CPU, requests/s and RSS (its ratio line is their ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-master-key-0123456789"
CHAT = b'{"model": "fake", "messages": [{"role": "user", "content": "hi"}]}'
STREAM = b'{"model": "fake", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
LITELLM_INSTALL = (
    "python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]', "
    "then pass --litellm-python /tmp/litellm-venv/bin/python"
)
# Modules of litellm and of its `proxy` extra; find_spec looks them up without importing litellm (~3 s).
LITELLM_PROBE = (
    "import importlib.util as u, sys; "
    "sys.exit(0 if all(u.find_spec(m) for m in ('litellm', 'fastapi', 'uvicorn', 'backoff', 'apscheduler')) else 1)"
)
# Without these LiteLLM fetches its cost map and other data from GitHub at start (and retries: no internet here).
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "LITELLM_LOG": "ERROR",
}

GATEWAY = """
import sys
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.serve import serve
upstream = sys.argv[2]
model = {"model_name": "fake", "litellm_params": {"model": "openai/gpt-4o-mini",
         "api_base": f"http://127.0.0.1:{upstream}/v1", "api_key": "upstream-key"}}
config = GatewayConfig(model_list=(model,), master_key=sys.argv[3], database_url=sys.argv[4] or None,
                       redis_url=sys.argv[5] or None,
                       settings={"spend_spool_dir": sys.argv[6], "redis_prefix": sys.argv[7]})
serve(config, "127.0.0.1", int(sys.argv[1]), 1)
"""
BENCH_DB = f"tollway_bench_{os.getpid()}"
PREFIX = f"tollway-bench:{os.getpid()}:"
# The virtual key of --store runs: limits and a budget that are checked on every request but never reached.
VIRTUAL_KEY = b'{"key_alias": "bench", "rpm_limit": 100000000, "tpm_limit": 100000000000, "max_budget": 1000000}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    core: int, *command: str, env: dict[str, str] | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    out = log if log is not None else subprocess.DEVNULL
    return subprocess.Popen([*pin, *command], stdout=out, stderr=subprocess.STDOUT, env=env)


def post(url: str, body: bytes, timeout: float, key: str = KEY) -> bytes:
    """POST ``body`` with ``key`` (the master key); the answer's body when the status is 200, else an OSError."""
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json", "authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
        if response.status != 200:
            raise OSError(f"status {response.status}")
        answer: bytes = response.read()
        return answer


def wait_ready(url: str, proc: subprocess.Popen[bytes], limit: float = 20) -> float:
    """Seconds until ``url`` answers a chat request with 200; exits if ``proc`` dies or ``limit`` passes."""
    began = time.monotonic()
    while True:
        try:
            post(url, CHAT, 5)
            return time.monotonic() - began
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() - began > limit:
            raise SystemExit(f"{url} did not answer (process exit code {proc.poll()})")
        time.sleep(0.1)


def check_answers(name: str, url: str) -> None:
    """One chat and one streamed call must carry the fake upstream's text, so a broken path cannot pass as fast."""
    chat, stream = post(url, CHAT, 10), post(url, STREAM, 10)
    if b"How can I help you today?" not in chat or stream.count(b"data: {") < 11 or b"data: [DONE]" not in stream:
        raise SystemExit(f"{name} at {url} gave an unexpected answer:\n{chat[:300]!r}\n{stream[:300]!r}")


def measure(pid: int, url: str, conns: int, seconds: int, lua: str, *, key: str = KEY) -> dict[str, str]:
    env = {**os.environ, "BENCH_KEY": key, "BENCH_MODEL": "fake"}
    command = [str(HERE / "measure.sh"), str(pid), url, str(conns), str(seconds), str(HERE / lua)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    result = dict(re.findall(r"(\w+)=(\S+)", out))
    errors = re.search(r"errors='\s*([^']*)'", out)
    result["errors"] = errors.group(1) if errors else ""
    return result


def litellm_version(python: str) -> str | None:
    """litellm's version when ``python`` can import litellm and its proxy extra, else None."""
    if not (shutil.which(python) or Path(python).is_file()):
        return None
    if subprocess.run([python, "-c", LITELLM_PROBE], check=False).returncode != 0:
        return None
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def start_litellm(python: str, port: int, upstream: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """LiteLLM's proxy through its own CLI, one uvicorn worker, no database, no network beyond loopback."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("REDIS_")}
    env |= LITELLM_ENV | {"BENCH_UPSTREAM_BASE": f"http://127.0.0.1:{upstream}/v1", "BENCH_MASTER_KEY": KEY}
    config = str(HERE / "litellm_config.yaml")
    command = [python, "-m", "litellm.proxy.proxy_cli", "--config", config, "--host", "127.0.0.1", "--port", str(port)]
    return start(0, *command, env=env, log=log)


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--litellm-python", default=sys.executable, help="a Python that can import litellm[proxy]")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out even when it is installed")
    parser.add_argument(
        "--store",
        choices=("none", "sqlite", "postgres"),
        default="none",
        help="none: no database (master key only); sqlite: the default store, spend rows for every request; "
        "postgres: PostgreSQL (--database-url) and Redis (--redis-url) as a multi-instance deployment runs",
    )
    parser.add_argument("--virtual-key", action="store_true", help="call with a virtual key (limits, a budget)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=1, help="measure every system this many times, in turn")
    parser.add_argument("--scenarios", default="chat,stream", help="which of chat,stream to measure")
    args = parser.parse_args()
    args.luas = [f"{name}.lua" for name in args.scenarios.split(",") if name]
    if args.rounds < 1 or not args.luas or not set(args.luas) <= {"chat.lua", "stream.lua"}:
        parser.error("--rounds must be at least 1 and --scenarios a list of chat, stream")
    if args.virtual_key and args.store == "none":
        parser.error("--virtual-key needs a store (--store sqlite or postgres)")
    return args


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    version = None if args.no_litellm else litellm_version(args.litellm_python)
    if not args.no_litellm and version is None:
        print(f"litellm: skipped, litellm[proxy] is not importable by {args.litellm_python} ({LITELLM_INSTALL})")
    upstream, gw_port, floor_port, ll_port = free_port(), free_port(), free_port(), free_port()
    procs = [start(1, sys.executable, str(HERE / "fake_upstream.py"), str(upstream))]
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as scratch:
        database, redis = store_urls(args, scratch)
        caller = "virtual" if args.virtual_key else "master"
        print(f"store: {args.store}{' (with Redis)' if redis else ''}; key: {caller}")
        try:
            gateway = (str(gw_port), str(upstream), KEY, database, redis, f"{scratch}/spool", PREFIX)
            procs.append(start(0, sys.executable, "-c", GATEWAY, *gateway))
            procs.append(start(0, sys.executable, str(HERE / "floor_proxy.py"), str(floor_port), str(upstream)))
            targets = {
                "tollway": (procs[1], f"http://127.0.0.1:{gw_port}/v1/chat/completions"),
                "floor": (procs[2], f"http://127.0.0.1:{floor_port}/v1/chat/completions"),
            }
            for proc, url in targets.values():
                wait_ready(url, proc)
            args.key = virtual_key(gw_port) if args.virtual_key else KEY
            if version is not None:
                # Started once the others are up, so its start-up time is measured on an otherwise idle core 0.
                procs.append(start_litellm(args.litellm_python, ll_port, upstream, log))
                targets["litellm"] = (procs[3], f"http://127.0.0.1:{ll_port}/v1/chat/completions")
                ready = wait_ready(targets["litellm"][1], procs[3], limit=180)
                print(f"litellm {version}: first chat completion answered {ready:.1f} s after start")
            load = os.getloadavg()[0]
            results = run(targets, args)
            report(results, args)
            # Every CPU figure is inflated when other jobs share the two cores; the ratios in one run hold better.
            print(f"load average (1 min): {load:.2f} before measuring, {os.getloadavg()[0]:.2f} after")
        except SystemExit:
            log.seek(0)
            if tail := log.read()[-3000:]:
                print(f"litellm's output ends with:\n{tail.decode(errors='replace')}", file=sys.stderr)
            raise
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            drop_store(args)
    return 0


def run(
    targets: dict[str, tuple[subprocess.Popen[bytes], str]], args: argparse.Namespace
) -> dict[tuple[str, str], dict[str, str]]:
    """Check every system's answers, then measure each in turn, chat then stream."""
    for name, (_, url) in targets.items():
        check_answers(name, url)
    rounds: list[dict[tuple[str, str], dict[str, str]]] = []
    for _ in range(args.rounds):
        results: dict[tuple[str, str], dict[str, str]] = {}
        for lua in args.luas:
            for name, (proc, url) in targets.items():
                key = args.key if name == "tollway" else KEY
                results[(lua, name)] = measure(proc.pid, url, args.conns, args.seconds, lua, key=key)
        rounds.append(results)
    if args.rounds > 1:
        for lua in args.luas:
            each = [
                float(r[(lua, "tollway")]["cpu_us_per_req"]) / float(r[(lua, "floor")]["cpu_us_per_req"])
                for r in rounds
            ]
            listed, middle = ", ".join(f"{x:.2f}" for x in each), statistics.median(each)
            print(f"{lua}: CPU/request ratio tollway/floor by round: {listed}; median {middle:.2f}")
    return medians(rounds)


def medians(rounds: list[dict[tuple[str, str], dict[str, str]]]) -> dict[tuple[str, str], dict[str, str]]:
    """CPU, requests/s and RSS: their medians over the rounds; non-2xx answers and wrk's errors: every round's;
    p50 and p99: the first round's."""
    merged: dict[tuple[str, str], dict[str, str]] = {}
    for key, first in rounds[0].items():
        row = dict(first)
        for field in ("cpu_us_per_req", "rps", "rss_mb"):
            row[field] = f"{statistics.median(float(r[key][field]) for r in rounds):.1f}"
        row["non2xx"] = str(sum(int(r[key].get("non2xx", "0")) for r in rounds))
        row["errors"] = "; ".join(r[key]["errors"] for r in rounds if r[key]["errors"])
        merged[key] = row
    return merged


def store_urls(args: argparse.Namespace, scratch: str) -> tuple[str, str]:
    """The gateway's DATABASE_URL and REDIS_URL for ``--store`` (empty strings: none). PostgreSQL gets a database
    of its own (``tollway_bench_<pid>``, dropped at exit by ``drop_store``)."""
    if args.store == "sqlite":
        return f"sqlite:///{scratch}/tollway.db", ""
    if args.store == "postgres":
        admin(args.database_url, f"CREATE DATABASE {BENCH_DB}")
        return args.database_url.rsplit("/", 1)[0] + f"/{BENCH_DB}", args.redis_url
    return "", ""


def admin(url: str, statement: str) -> None:
    """Run one statement on the PostgreSQL server of ``url`` (asyncpg: a dependency of tollway)."""
    import asyncio

    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def drop_store(args: argparse.Namespace) -> None:
    """Drop the benchmark's PostgreSQL database and Redis keys."""
    if args.store != "postgres":
        return
    admin(args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    import redis

    client = redis.Redis.from_url(args.redis_url)
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def virtual_key(port: int) -> str:
    """A new virtual key with limits and a budget, from the gateway's own management API."""
    answer = post(f"http://127.0.0.1:{port}/key/generate", VIRTUAL_KEY, 10)
    key: str = json.loads(answer)["key"]
    return key


def ratio(a: dict[str, str], b: dict[str, str], field: str) -> str:
    return f"{float(a[field]) / max(float(b[field]), 1e-9):.2f}x"


def report(results: dict[tuple[str, str], dict[str, str]], args: argparse.Namespace) -> None:
    """The table, tollway ÷ floor for CPU per request and requests/s, and LiteLLM against both when it ran."""
    systems = sorted({name for _, name in results}, key=("tollway", "floor", "litellm").index)
    where = f"{', '.join(systems[:-1])} and {systems[-1]} on core 0, upstream on core 1"
    rounds = f", medians of {args.rounds} rounds (p50 and p99 of the first)" if args.rounds > 1 else ""
    print(f"{args.conns} connections, {args.seconds} s per run, {where}{rounds}")
    columns = ("cpu µs/req", "req/s", "p50", "p99")
    print(f"{'scenario':<12}{'system':<9}" + "".join(f"{c:>11}" for c in columns) + f"{'rss MB':>8}{'non2xx':>8}")
    for (lua, name), r in results.items():
        print(
            f"{lua:<12}{name:<9}{r.get('cpu_us_per_req', '?'):>11}{r.get('rps', '?'):>11}{r.get('p50', '?'):>11}"
            f"{r.get('p99', '?'):>11}{r.get('rss_mb', '?'):>8}{r.get('non2xx', '?'):>8}"
        )
    for lua in args.luas:
        ours, floor = results[(lua, "tollway")], results[(lua, "floor")]
        cpu, rps = ratio(ours, floor, "cpu_us_per_req"), ratio(ours, floor, "rps")
        print(f"{lua}: CPU/request ratio tollway/floor = {cpu}; requests/s ratio = {rps}")
        if (lua, "litellm") in results:
            theirs = results[(lua, "litellm")]
            print(
                f"{lua}: CPU/request ratio litellm/tollway = {ratio(theirs, ours, 'cpu_us_per_req')}, "
                f"litellm/floor = {ratio(theirs, floor, 'cpu_us_per_req')}; "
                f"requests/s ratio tollway/litellm = {ratio(ours, theirs, 'rps')}"
            )
    for (lua, name), r in results.items():
        if r["errors"]:
            # wrk counts a request slower than its 2 s timeout as done (req/s and CPU include it) but leaves it out
            # of the latency histogram, so p50/p99 are then lower bounds.
            print(f"{lua} {name}: wrk {r['errors']} (p50/p99 leave out requests slower than 2 s)")


if __name__ == "__main__":
    sys.exit(main())
