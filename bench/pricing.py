"""Per-call pricing cost: tollway's ``price_usage`` (warm cache) beside genai-prices' ``calc_price``, same usage.

Run: ``python bench/pricing.py [N]``. Prints µs per call (best of 5 rounds of N calls) and checks both agree.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import genai_prices

from tollway.pricing import price_usage
from tollway.usage import TokenUsage

CASES = [
    ("openai", "gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ("deepseek", "deepseek-chat", "deepseek", "deepseek-chat"),  # time-of-day prices
    ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
]
USAGE = TokenUsage(input_tokens=12_000, cache_read_tokens=8_000, cache_write_tokens=1_000, output_tokens=700)
GENAI_USAGE = genai_prices.Usage(
    input_tokens=12_000, cache_read_tokens=8_000, cache_write_tokens=1_000, output_tokens=700
)


def per_call_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main(n: int) -> None:
    at = datetime.now(UTC)
    print(f"{'model':<52} {'tollway µs':>10} {'calc_price µs':>14} {'ratio':>6}")
    for provider, model, genai_provider, genai_model in CASES:
        ours = price_usage(provider, model, USAGE, at=at)
        theirs = genai_prices.calc_price(
            GENAI_USAGE, genai_model, provider_id=genai_provider, genai_request_timestamp=at
        )
        if ours is None or ours.total != theirs.total_price:
            raise SystemExit(f"{model}: tollway {ours} != genai-prices {theirs.total_price}")
        t_ours = per_call_us(lambda p=provider, m=model: price_usage(p, m, USAGE, at=at), n)
        t_theirs = per_call_us(
            lambda gp=genai_provider, gm=genai_model: genai_prices.calc_price(
                GENAI_USAGE, gm, provider_id=gp, genai_request_timestamp=at
            ),
            n,
        )
        print(f"{provider + '/' + model:<52} {t_ours:>10.2f} {t_theirs:>14.2f} {t_theirs / t_ours:>5.1f}x")
    t_now = per_call_us(lambda: price_usage("openai", "gpt-4o-mini", USAGE), n)
    print(f"{'openai/gpt-4o-mini (at=None: now)':<52} {t_now:>10.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
