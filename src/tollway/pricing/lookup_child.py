"""``python -m tollway.pricing.lookup_child``: look models up in genai-prices' data for another process.

Reads a JSON list of ``[provider, model]`` pairs (tollway names) on stdin and writes a JSON list of the same length:
each model's ``ModelEntry.to_json()`` or null when it is unpriced. The data is the parent's, found the same way
(``TOLLWAY_CACHE_DIR`` and the rest of the environment are inherited): see ``prices.lookup``.
"""

from __future__ import annotations

import sys

import orjson

from tollway.pricing.prices import find_entry


def main() -> None:
    """Answer one request on stdin/stdout."""
    models = orjson.loads(sys.stdin.buffer.read())
    entries = [find_entry(str(provider), str(model)) for provider, model in models]
    sys.stdout.buffer.write(orjson.dumps([None if e is None else e.to_json() for e in entries]))


if __name__ == "__main__":
    main()
