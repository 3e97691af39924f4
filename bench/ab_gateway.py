"""Interleaved A/B of two gateway trees: CPU per master-key chat request, both alive, measured in turns.

Usage: python bench/ab_gateway.py TREE_A TREE_B [--rounds 6] [--seconds 4] [--lua chat.lua] [--conns 32]
       [--store sqlite --virtual-key]

A tree is a directory holding ``src/tollway`` (a clone, or ``git archive REV | tar -x -C DIR``); ``TREE+aiohttp``
or ``TREE+reqwest`` also sets ``TOLLWAY_HTTP_CLIENT`` for that side. Starts ``fake_upstream.py`` on core 1 and one
gateway per tree on core 0 (the worker ``gateway.py`` runs, with ``PYTHONPATH=TREE/src``), then drives them in turns
with ``measure.sh`` (A, B, then B, A, ...) and prints each side's median CPU µs per request and B/A, and each
side's median p50 latency (wrk's; ``--conns 1`` shows what one client waits, load aside).
``--store sqlite`` gives each side a SQLite store of its own, ``--virtual-key`` calls each with a virtual key made
by its own management API (limits and a budget, as ``gateway.py --virtual-key``).

On a shared 2-core machine CPU seconds drift by a fifth between sittings and by several percent within one; taking
turns exposes both sides to the same drift, so B/A holds better than two separate ``gateway.py`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from gateway import GATEWAY, HERE, KEY, free_port, measure, start, virtual_key, wait_ready


def main() -> None:
    """Run the A/B and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs=2, metavar="TREE")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--lua", default="chat.lua")
    parser.add_argument("--conns", type=int, default=32, help="wrk's connections")
    parser.add_argument("--store", choices=("none", "sqlite"), default="none")
    parser.add_argument("--virtual-key", action="store_true", help="call with a virtual key (needs --store)")
    args = parser.parse_args()
    if args.virtual_key and args.store == "none":
        parser.error("--virtual-key needs --store sqlite")
    upstream = free_port()
    procs = [start(1, sys.executable, str(HERE / "fake_upstream.py"), str(upstream))]
    sides: list[tuple[str, int, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for index, tree in enumerate(args.trees):
                path, _, client = tree.partition("+")
                env = {**os.environ, "PYTHONPATH": f"{path}/src"} | ({"TOLLWAY_HTTP_CLIENT": client} if client else {})
                port = free_port()
                spool, prefix = f"{scratch}/spool{index}", f"tollway-ab:{os.getpid()}:{index}:"
                database = f"sqlite:///{scratch}/tollway{index}.db" if args.store == "sqlite" else ""
                gateway = (str(port), str(upstream), KEY, database, "", spool, prefix)
                proc = start(0, sys.executable, "-c", GATEWAY, *gateway, env=env)
                procs.append(proc)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                wait_ready(url, proc)
                sides.append((tree, proc.pid, url, virtual_key(port) if args.virtual_key else KEY))
            results: dict[str, list[float]] = {tree: [] for tree, *_ in sides}
            p50s: dict[str, list[float]] = {tree: [] for tree, *_ in sides}
            for round_ in range(args.rounds):
                for tree, pid, url, key in sides if round_ % 2 == 0 else sides[::-1]:
                    figures = measure(pid, url, args.conns, args.seconds, args.lua, key=key)
                    results[tree].append(float(figures["cpu_us_per_req"]))
                    p50s[tree].append(microseconds(figures["p50"]))
        finally:
            for proc in procs:
                proc.kill()
    medians = [statistics.median(results[tree]) for tree, *_ in sides]
    for (tree, *_), median in zip(sides, medians, strict=True):
        print(f"{tree}: median {median:.1f} CPU µs per request; runs {results[tree]}")
        p50 = statistics.median(p50s[tree])
        print(f"{tree}: median p50 {p50:.0f} µs at {args.conns} connections; runs {p50s[tree]}")
    print(f"B/A = {medians[1] / medians[0]:.3f}")


def microseconds(latency: str) -> float:
    """wrk's latency figure (``376.00us``, ``5.46ms``, ``1.02s``) in µs."""
    for unit, scale in (("us", 1.0), ("ms", 1e3), ("s", 1e6)):
        if latency.endswith(unit):
            return float(latency.removesuffix(unit)) * scale
    raise ValueError(f"not a wrk latency: {latency!r}")


if __name__ == "__main__":
    main()
