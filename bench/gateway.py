"""Gateway benchmark: ``tollway serve`` (one worker, master key) against the floor pass-through, in one run.

Usage: python bench/gateway.py [--seconds 15] [--conns 32]

Starts ``fake_upstream.py`` pinned to core 1, then the gateway and ``floor_proxy.py`` pinned to core 0 (one at a
time measured, both alive), and drives each with ``wrk`` through ``measure.sh`` (chat.lua, then stream.lua).
Prints CPU µs per request, requests/s, p50/p99 and RSS for both, and the gateway/floor ratio. Needs ``wrk`` and
``taskset``; nothing here asserts a target: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-master-key-0123456789"

GATEWAY = """
import sys
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.serve import serve
upstream = sys.argv[2]
model = {"model_name": "fake", "litellm_params": {"model": "openai/gpt-4o-mini",
         "api_base": f"http://127.0.0.1:{upstream}/v1", "api_key": "upstream-key"}}
serve(GatewayConfig(model_list=(model,), master_key=sys.argv[3]), "127.0.0.1", int(sys.argv[1]), 1)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(core: int, *command: str) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    return subprocess.Popen([*pin, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(url: str, body: bytes) -> None:
    deadline = time.monotonic() + 20
    while True:
        request = urllib.request.Request(
            url, data=body, headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # loopback only
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer")
        time.sleep(0.1)


def measure(pid: int, url: str, conns: int, seconds: int, lua: str) -> dict[str, str]:
    env = {**os.environ, "BENCH_KEY": KEY, "BENCH_MODEL": "fake"}
    command = [str(HERE / "measure.sh"), str(pid), url, str(conns), str(seconds), str(HERE / lua)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S+)", out))


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--conns", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    upstream, gw_port, floor_port = free_port(), free_port(), free_port()
    procs = [start(1, sys.executable, str(HERE / "fake_upstream.py"), str(upstream))]
    try:
        procs.append(start(0, sys.executable, "-c", GATEWAY, str(gw_port), str(upstream), KEY))
        procs.append(start(0, sys.executable, str(HERE / "floor_proxy.py"), str(floor_port), str(upstream)))
        chat = b'{"model": "fake", "messages": [{"role": "user", "content": "hi"}]}'
        targets = {
            "tollway": (procs[1].pid, f"http://127.0.0.1:{gw_port}/v1/chat/completions"),
            "floor": (procs[2].pid, f"http://127.0.0.1:{floor_port}/v1/chat/completions"),
        }
        for _, url in targets.values():
            wait_ready(url, chat)
        results: dict[tuple[str, str], dict[str, str]] = {}
        for lua in ("chat.lua", "stream.lua"):
            for name, (pid, url) in targets.items():
                results[(lua, name)] = measure(pid, url, args.conns, args.seconds, lua)
        report(results, args)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    return 0


def report(results: dict[tuple[str, str], dict[str, str]], args: argparse.Namespace) -> None:
    """The table, and tollway ÷ floor for CPU per request and requests/s."""
    print(f"{args.conns} connections, {args.seconds} s per run, gateway and floor on core 0, upstream on core 1")
    columns = ("cpu µs/req", "req/s", "p50", "p99")
    print(f"{'scenario':<12}{'system':<9}" + "".join(f"{c:>11}" for c in columns) + f"{'rss MB':>8}{'non2xx':>8}")
    for (lua, name), r in results.items():
        print(
            f"{lua:<12}{name:<9}{r.get('cpu_us_per_req', '?'):>11}{r.get('rps', '?'):>11}{r.get('p50', '?'):>11}"
            f"{r.get('p99', '?'):>11}{r.get('rss_mb', '?'):>8}{r.get('non2xx', '?'):>8}"
        )
    for lua in ("chat.lua", "stream.lua"):
        ours, floor = results[(lua, "tollway")], results[(lua, "floor")]
        cpu = float(ours["cpu_us_per_req"]) / max(float(floor["cpu_us_per_req"]), 1e-9)
        rps = float(ours["rps"]) / max(float(floor["rps"]), 1e-9)
        print(f"{lua}: CPU/request ratio tollway/floor = {cpu:.2f}x; requests/s ratio = {rps:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
