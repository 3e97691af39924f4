"""SDK benchmark: import time and CPU per ``acompletion``, beside a plain aiohttp call, in one run.

Usage: python bench/sdk.py [--calls 3000] [--repeat 3] [--json] [--loop auto|asyncio|uvloop]
       python bench/sdk.py --profile chat|stream [--calls N]   (cProfile of one sequential tollway loop)

What it does, in one process and one run (so the ratios hold even when absolute numbers drift):

* starts ``fake_upstream.py`` in a subprocess (pinned to core 1 with ``taskset`` when there are two cores; this
  process pins itself to core 0), so the upstream's own CPU is not counted;
* import time: ``python -X importtime -c "import X"`` in fresh interpreters, the cumulative µs of the top-level
  line(s), median of ``--import-runs`` runs (after one unrecorded run that writes the bytecode caches);
* CPU per call: ``time.process_time()`` over ``--calls`` sequential calls after a warm-up, for the aiohttp floor
  and tollway, non-streamed and streamed; the scenarios take turns, ``--repeat`` rounds, and the median is kept.

The floor is what any Python client must do at least: a pooled ``aiohttp.ClientSession`` POSTing the same OpenAI
JSON body (serialised with orjson on every call) and orjson-parsing the answer (or, streamed, every SSE data line).
``tollway - floor`` is the SDK's own overhead per call.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in one short sentence, please."},
]
EXPECTED_TEXT = "Hello! How can I help you today?"
EXPECTED_CHUNKS = 12  # role, 9 words, finish, usage (the fake upstream's SSE answer)
API_KEY = "sk-bench"

IMPORT_TARGET_MS = 100.0
OVERHEAD_TARGET_US = 200.0

# (label, statement, first top-level module counted): every top-level importtime line from that module on is
# summed, so a lazy attribute that imports more modules after ``import tollway`` is counted too.
IMPORTS = [
    ("import tollway", "import tollway", "tollway"),
    ("import tollway; tollway.Client", "import tollway; tollway.Client", "tollway"),
    ("import aiohttp", "import aiohttp", "aiohttp"),
    ("import litellm", "import litellm", "litellm"),
]

Call = Callable[[], Awaitable[object]]


# -- environment ---------------------------------------------------------------------------------------------


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def can_pin() -> bool:
    return (
        hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None
    )


def machine(loop_name: str, pinned: bool) -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "loop": loop_name,
        "pinned": pinned,
        "versions": {d: version(d) for d in ("tollway", "aiohttp", "orjson", "uvloop", "litellm")},
    }


# -- the fake upstream ---------------------------------------------------------------------------------------


def start_upstream(pin: bool) -> tuple[subprocess.Popen[str], str]:
    """Start fake_upstream.py on a free port; return the process and its base URL."""
    cmd = [sys.executable, str(HERE / "fake_upstream.py"), "0"]
    if pin:
        cmd = ["taskset", "-c", "1", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"fake upstream did not start (said {line!r})")
    return proc, match.group(0)


# -- import time ---------------------------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)")


def import_us(statement: str, first: str) -> int:
    """Cumulative µs of the top-level importtime lines from module ``first`` on, in a fresh interpreter."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no network fetch at `import litellm`
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, env=env, check=True
    )
    total, counting = 0, False
    for line in out.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match is None or match.group(2):  # not an importtime line, or a nested import
            continue
        counting = counting or match.group(3) == first
        if counting:
            total += int(match.group(1))
    if not counting:
        raise RuntimeError(f"no importtime line for {first!r} in: {out.stderr[-2000:]}")
    return total


def measure_imports(runs: int) -> list[dict[str, Any]]:
    rows = []
    for label, statement, first in IMPORTS:
        if not installed(first):
            rows.append({"name": label, "installed": False})
            continue
        import_us(statement, first)  # writes .pyc files; not recorded
        samples = [import_us(statement, first) / 1000 for _ in range(runs)]
        rows.append(
            {
                "name": label,
                "installed": True,
                "median_ms": statistics.median(samples),
                "min_ms": min(samples),
                "max_ms": max(samples),
                "runs": runs,
            }
        )
    return rows


# -- CPU per call --------------------------------------------------------------------------------------------


async def sample_round(calls: dict[str, Call], n: int, warmup: int, block: int) -> dict[str, dict[str, float]]:
    """CPU µs per call and wall calls/s of each scenario over ``n`` sequential calls, after ``warmup`` unmeasured
    ones. The scenarios take turns every ``block`` calls (0: each runs its ``n`` calls in one go), so a burst of
    load from another process on a shared machine hits all of them alike instead of one."""
    for call in calls.values():
        for _ in range(warmup):
            await call()
    cpu = dict.fromkeys(calls, 0.0)
    wall = dict.fromkeys(calls, 0.0)
    block = block if 0 < block < n else n
    done = 0
    while done < n:
        size = min(block, n - done)
        for key, call in calls.items():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(size):
                await call()
            cpu[key] += time.process_time() - cpu0
            wall[key] += time.perf_counter() - wall0
        done += size
    return {key: {"cpu_us": cpu[key] / n * 1e6, "calls_per_s": n / wall[key]} for key in calls}


class Scenarios:
    """The calls being compared, all against the same fake upstream, created inside the running loop."""

    def __init__(self, base_url: str) -> None:
        import aiohttp
        import orjson

        import tollway

        self.orjson = orjson
        self.tollway = tollway
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.chat_url = base_url + "/v1/chat/completions"
        self.api_base = base_url + "/v1"
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
        self.client = tollway.Client()
        self.litellm: Any = None
        if installed("litellm"):
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            self.litellm = litellm

    # (key, label, key of the floor it is compared with or None, the call or None when not installed)
    def table(self) -> list[tuple[str, str, str | None, Call | None]]:
        rows: list[tuple[str, str, str | None, Call | None]] = [
            ("floor_chat", "aiohttp floor (JSON)", None, self.floor_chat),
            ("tollway_client", "tollway Client().acompletion", "floor_chat", self.tollway_client),
            ("tollway_module", "tollway.acompletion (module)", "floor_chat", self.tollway_module),
            ("floor_stream", "aiohttp floor (SSE, 12 chunks)", None, self.floor_stream),
            ("tollway_stream", "tollway acompletion stream=True", "floor_stream", self.tollway_stream),
            ("litellm", "litellm.acompletion", "floor_chat", self.litellm_chat if self.litellm else None),
        ]
        return rows

    async def floor_chat(self) -> str:
        body = self.orjson.dumps({"model": MODEL, "messages": MESSAGES})
        async with self.session.post(self.chat_url, data=body, headers=self.headers) as response:
            data = self.orjson.loads(await response.read())
        return str(data["choices"][0]["message"]["content"])

    async def floor_stream(self) -> int:
        body = self.orjson.dumps(
            {"model": MODEL, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
        )
        n = 0
        async with self.session.post(self.chat_url, data=body, headers=self.headers) as response:
            async for line in response.content:
                if line.startswith(b"data: {"):
                    self.orjson.loads(line[6:])
                    n += 1
        return n

    async def tollway_client(self) -> str:
        response = await self.client.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=self.api_base, api_key=API_KEY
        )
        return str(response.choices[0].message.content)

    async def tollway_module(self) -> str:
        response = await self.tollway.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=self.api_base, api_key=API_KEY
        )
        return str(response.choices[0].message.content)

    async def tollway_stream(self) -> int:
        stream = await self.client.acompletion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            api_base=self.api_base,
            api_key=API_KEY,
            stream=True,
            stream_options={"include_usage": True},
        )
        n = 0
        async for _chunk in stream:
            n += 1
        return n

    async def litellm_chat(self) -> str:
        response = await self.litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=self.api_base, api_key=API_KEY
        )
        return str(response.choices[0].message.content)

    async def check(self) -> None:
        """One call of each, checking the answers, so a broken scenario cannot pass as a fast one."""
        for key, label, _floor, call in self.table():
            if call is None:
                continue
            got = await call()
            want: object = EXPECTED_CHUNKS if "stream" in key else EXPECTED_TEXT
            if got != want:
                raise RuntimeError(f"{label}: expected {want!r}, got {got!r}")

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.session.close()


async def measure_calls(base_url: str, calls: int, repeat: int, warmup: int, block: int) -> list[dict[str, Any]]:
    scenarios = Scenarios(base_url)
    try:
        await scenarios.check()
        table = scenarios.table()
        present = {key: call for key, _label, _floor, call in table if call is not None}
        samples: dict[str, list[dict[str, float]]] = {key: [] for key in present}
        for _ in range(repeat):
            for key, result in (await sample_round(present, calls, warmup, block)).items():
                samples[key].append(result)
    finally:
        await scenarios.aclose()
    rows: list[dict[str, Any]] = []
    medians: dict[str, float] = {}
    for key, label, floor, call in table:
        row: dict[str, Any] = {"key": key, "name": label, "installed": call is not None, "floor": floor}
        if call is not None:
            cpu = [s["cpu_us"] for s in samples[key]]
            medians[key] = statistics.median(cpu)
            row |= {
                "cpu_us": medians[key],
                "cpu_us_min": min(cpu),
                "cpu_us_max": max(cpu),
                "cpu_us_samples": cpu,
                "calls_per_s": statistics.median(s["calls_per_s"] for s in samples[key]),
            }
            if floor is not None:
                row["overhead_us"] = medians[key] - medians[floor]
                row["ratio"] = medians[key] / medians[floor]
                # Same-round differences: each pairs two samples taken seconds apart, so slow drift cancels.
                paired = [s["cpu_us"] - f["cpu_us"] for s, f in zip(samples[key], samples[floor], strict=True)]
                row["overhead_us_paired_median"] = statistics.median(paired)
                row["overhead_us_min_minus_min"] = min(cpu) - min(x["cpu_us"] for x in samples[floor])
        rows.append(row)
    return rows


# -- loops -----------------------------------------------------------------------------------------------------


def loop_factory(choice: str) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    if choice in ("auto", "uvloop") and installed("uvloop"):
        import uvloop

        return uvloop.new_event_loop, f"uvloop {version('uvloop')}"
    if choice == "uvloop":
        raise SystemExit("--loop uvloop: uvloop is not installed")
    return None, "asyncio (default loop)"


# -- output ----------------------------------------------------------------------------------------------------


def verdict(value: float, target: float, unit: str) -> str:
    if value <= target:
        return f"met, {target - value:,.1f} {unit} under the target"
    return f"MISSED by {value - target:,.1f} {unit} ({value / target:.2f}x the target)"


def print_report(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"tollway SDK benchmark  {m['date']}")
    print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['implementation']} {m['python']}")
    v = m["versions"]
    print(f"versions: tollway {v['tollway']}, aiohttp {v['aiohttp']}, orjson {v['orjson']}; loop: {m['loop']}")
    print(
        "pinning: "
        + ("this process on core 0, fake upstream on core 1" if m["pinned"] else "none (fewer than 2 cores/taskset)")
    )
    load = result["load_average"]
    print(
        f"load average (1/5/15 min): {load['start'][0]:.2f}/{load['start'][1]:.2f}/{load['start'][2]:.2f} at start, "
        f"{load['end'][0]:.2f}/{load['end'][1]:.2f}/{load['end'][2]:.2f} at end"
    )
    print()
    if result["imports"]:
        runs = next((r["runs"] for r in result["imports"] if r["installed"]), 0)
        print(f"Import time (python -X importtime, cumulative, fresh interpreter; median of {runs}, min-max)")
        for row in result["imports"]:
            if row["installed"]:
                print(f"  {row['name']:<32} {row['median_ms']:9.1f} ms   ({row['min_ms']:.1f}-{row['max_ms']:.1f})")
            else:
                print(f"  {row['name']:<32} {'not installed':>12}")
        print()
    p = result["params"]
    print(
        f"CPU per call (time.process_time of this process; {p['calls']} sequential calls per round after "
        f"{p['warmup']} warm-up, scenarios alternating every {p['block'] or p['calls']} calls; median of "
        f"{p['repeat']} rounds)"
    )
    header = f"  {'scenario':<34}{'CPU µs/call':>12}{'min-max':>17}{'minus floor':>13}{'ratio':>8}{'calls/s':>10}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in result["calls"]:
        if not row["installed"]:
            print(f"  {row['name']:<34}{'not installed':>12}")
            continue
        spread = f"{row['cpu_us_min']:.0f}-{row['cpu_us_max']:.0f}"
        extra = f"{row['overhead_us']:+13.1f}{row['ratio']:7.2f}x" if row["floor"] else f"{'(floor)':>13}{'':8}"
        print(f"  {row['name']:<34}{row['cpu_us']:12.1f}{spread:>17}{extra}{row['calls_per_s']:10,.0f}")
    print()
    print("Targets")
    for row in result["imports"]:
        if row["name"] == "import tollway" and row["installed"]:
            print(
                f"  import tollway <= {IMPORT_TARGET_MS:.0f} ms: {row['median_ms']:.1f} ms, "
                f"{verdict(row['median_ms'], IMPORT_TARGET_MS, 'ms')}"
            )
    for row in result["calls"]:
        if row["key"] in ("tollway_client", "tollway_stream") and row["installed"]:
            print(
                f"  {row['name']} overhead <= {OVERHEAD_TARGET_US:.0f} µs: {row['overhead_us']:.1f} µs, "
                f"{verdict(row['overhead_us'], OVERHEAD_TARGET_US, 'µs')}"
            )
            print(
                f"    (same-round differences, median: {row['overhead_us_paired_median']:.1f} µs; "
                f"fastest round minus fastest floor round: {row['overhead_us_min_minus_min']:.1f} µs)"
            )


# -- profiling -------------------------------------------------------------------------------------------------


async def profile(base_url: str, which: str, calls: int, top: int) -> None:
    import cProfile
    import pstats

    scenarios = Scenarios(base_url)
    call = scenarios.tollway_stream if which == "stream" else scenarios.tollway_client
    try:
        await scenarios.check()
        for _ in range(200):
            await call()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await call()
        profiler.disable()
    finally:
        await scenarios.aclose()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = sum(tt for _cc, _nc, tt, _ct, _callers in entries.values())
    src = str(Path(importlib.util.find_spec("tollway").origin).parent)  # type: ignore[arg-type,union-attr]

    def show(title: str, rows: list[tuple[tuple[str, int, str], tuple[Any, ...]]], col: int) -> None:
        print(title)
        print(f"  {'share':>6} {'µs/call':>8} {'calls/call':>10}  function")
        for (file, line, func), data in rows[:top]:
            where = f"{file.removeprefix(src + '/')}:{line}" if file.startswith(src) else file
            print(
                f"  {data[col] / total:6.1%} {data[col] / calls * 1e6:8.1f} {data[1] / calls:10.1f}  {func} ({where})"
            )
        print()

    items = list(entries.items())
    print(f"cProfile of {calls} sequential tollway {which} calls (profiler overhead inflates absolute figures;")
    print(f"shares are of all profiled time, {total / calls * 1e6:.0f} µs per call)\n")
    by_self = sorted(items, key=lambda kv: kv[1][2], reverse=True)
    show("Top functions by self time (all code)", by_self, 2)
    mine = [kv for kv in items if kv[0][0].startswith(src)]
    show("tollway functions by self time", sorted(mine, key=lambda kv: kv[1][2], reverse=True), 2)
    show(
        "tollway functions by cumulative time (includes callees)",
        sorted(mine, key=lambda kv: kv[1][3], reverse=True),
        3,
    )


# -- main ------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="measured calls per scenario and round (3000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported (3)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured calls before each round (calls/10)")
    parser.add_argument(
        "--block", type=int, default=100, help="scenarios take turns every BLOCK calls; 0 = one after another (100)"
    )
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import figure (7)")
    parser.add_argument("--no-imports", action="store_true", help="skip the import-time figures")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="uvloop if installed")
    parser.add_argument("--no-pin", action="store_true", help="do not pin this process and the upstream to cores")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.add_argument(
        "--profile", choices=("chat", "stream"), help="cProfile --calls tollway calls instead of measuring"
    )
    parser.add_argument("--top", type=int, default=25, help="rows per --profile listing (25)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warmup = args.warmup if args.warmup is not None else max(100, args.calls // 10)
    pin = not args.no_pin and can_pin()
    if pin:
        os.sched_setaffinity(0, {0})
    factory, loop_name = loop_factory(args.loop)
    load_start = os.getloadavg()
    upstream, base_url = start_upstream(pin)
    try:
        if args.profile:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(profile(base_url, args.profile, args.calls, args.top))
            return
        imports = [] if args.no_imports else measure_imports(args.import_runs)
        with asyncio.Runner(loop_factory=factory) as runner:
            calls = runner.run(measure_calls(base_url, args.calls, args.repeat, warmup, args.block))
    finally:
        upstream.terminate()
        upstream.wait(5)
    result = {
        "machine": machine(loop_name, pin),
        "command": " ".join(["python", "bench/sdk.py", *(sys.argv[1:] if argv is None else argv)]),
        "params": {"calls": args.calls, "repeat": args.repeat, "warmup": warmup, "block": args.block},
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "targets": {"import_ms": IMPORT_TARGET_MS, "overhead_us": OVERHEAD_TARGET_US},
        "imports": imports,
        "calls": calls,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
