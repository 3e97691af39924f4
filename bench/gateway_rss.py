"""Resident memory of one gateway worker with the SQLite store (issue #6: RSS per worker <= 80 MB under load).

Usage: python bench/gateway_rss.py [--seconds 8] [--conns 32]

Starts ``fake_upstream.py`` (core 1) and the worker ``bench/gateway.py`` runs (its ``GATEWAY`` script, core 0) with
a SQLite store in a temporary directory, then prints:

- cold start to ready: seconds until ``/health/liveliness`` answers (the store is migrated first, by a child);
- the first and second chat call with the master key (the first one loads what the request path needs, prices
  included), and VmRSS after them (idle);
- a new virtual key (limits, a budget), ``wrk -t1 -c<conns> -d<seconds>s bench/chat.lua`` with it (pinned to core 1),
  VmRSS (and the worker's threads) right after the load and 2 s later, requests/s and non-2xx answers.

Environment variables reach the worker (e.g. ``TOLLWAY_PRICE_LOOKUP=subprocess``). Keep runs short: the machine's
other jobs share its two cores. Nothing is asserted: read the figures beside a run of the code you compare with.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import gateway as bench


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB."""
    return int(_status(pid, "VmRSS").split()[0]) / 1024


def threads(pid: int) -> int:
    """Threads of ``pid``: each database connection of the SQLite store is one (aiosqlite), with its own page cache
    and malloc arena, so RSS moves with how many the pool has opened."""
    return int(_status(pid, "Threads"))


def _status(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == field:
                return value.strip()
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def wait_live(port: int, proc: subprocess.Popen[bytes], limit: float = 30) -> float:
    """Seconds until the gateway's liveness probe answers."""
    began = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=1):
                return time.monotonic() - began
        except OSError:
            if proc.poll() is not None or time.monotonic() - began > limit:
                raise SystemExit(f"the gateway did not start (exit code {proc.poll()})") from None
            time.sleep(0.01)


def timed_post(url: str, key: str) -> float:
    """Milliseconds of one chat call."""
    began = time.perf_counter()
    bench.post(url, bench.CHAT, 10, key=key)
    return (time.perf_counter() - began) * 1000


def load(url: str, key: str, conns: int, seconds: int) -> str:
    """wrk's requests/s and non-2xx line for a load with ``key``."""
    env = {**os.environ, "BENCH_KEY": key, "BENCH_MODEL": "fake"}
    command = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(bench.HERE / "chat.lua"), url]
    pin = ["taskset", "-c", "1"] if (os.cpu_count() or 1) > 1 else []
    out = subprocess.run([*pin, *command], capture_output=True, text=True, env=env, check=True).stdout
    return " ".join(line.strip() for line in out.splitlines() if "Requests/sec" in line or "Non-2xx" in line)


def main() -> int:
    """Run once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--conns", type=int, default=32)
    args = parser.parse_args()
    upstream, port = bench.free_port(), bench.free_port()
    procs = [bench.start(1, sys.executable, str(bench.HERE / "fake_upstream.py"), str(upstream))]
    with tempfile.TemporaryDirectory() as scratch:
        try:
            database = f"sqlite:///{scratch}/tollway.db"
            script = (str(port), str(upstream), bench.KEY, database, "", f"{scratch}/spool", bench.PREFIX)
            procs.append(bench.start(0, sys.executable, "-c", bench.GATEWAY, *script))
            ready = wait_live(port, procs[1])
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            first, second = timed_post(url, bench.KEY), timed_post(url, bench.KEY)
            pid = procs[1].pid
            print(f"cold start to ready {ready:.2f} s; first chat {first:.0f} ms, second {second:.1f} ms")
            print(f"RSS idle after the first calls: {rss_mb(pid):.1f} MB, {threads(pid)} threads")
            answer = load(url, bench.virtual_key(port), args.conns, args.seconds)
            measured = f"{rss_mb(pid):.1f} MB, {threads(pid)} threads"
            print(f"RSS after {args.seconds} s of wrk -c{args.conns} (virtual key): {measured}; {answer}")
            time.sleep(2)
            print(f"RSS 2 s later: {rss_mb(pid):.1f} MB")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
