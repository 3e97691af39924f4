"""Token counting without the network: exact with a locally cached tiktoken encoding, else a documented estimate.

tiktoken is optional (not a dependency) and downloads its encoding files on first use, which fails offline and
must not happen inside a call. So tollway uses tiktoken only when it is installed AND the encoding file is already
in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, else ``$DATA_GYM_CACHE_DIR``, else ``<tmp>/data-gym-cache``, file
named by the SHA-1 of the blob URL, as ``tiktoken.load.read_file_cached`` does). tiktoken counts are exact for
OpenAI models (``o200k_base`` for gpt-4o/4.1/5/o-series, ``cl100k_base`` for older ones) and an approximation for
other providers' tokenizers.

The estimate otherwise (used for context-window pre-checks, budget reservations and streams without usage):

- text: ``ceil(len(text) / 4)`` — OpenAI's rule of thumb of ~4 characters per token for English
  (https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them);
- per message: 3 tokens of framing, plus 1 for a ``name``; plus 3 for the reply's priming, as OpenAI's cookbook
  counts chat messages (https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken);
- per image part: 765 tokens, OpenAI's count for one 1024x1024 high-detail image
  (https://platform.openai.com/docs/guides/images-vision#calculating-costs) — an over- rather than under-estimate
  for reservations (LiteLLM uses 250);
- tools: the estimate of their JSON text.

Counts are monotonic: more text never counts fewer tokens.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tollway.usage import TokenUsage

__all__ = ["IMAGE_TOKENS", "estimate_tokens", "estimate_usage", "token_counter"]

CHARS_PER_TOKEN = 4
MESSAGE_TOKENS = 3
NAME_TOKENS = 1
REPLY_TOKENS = 3
IMAGE_TOKENS = 765

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def estimate_tokens(text: str) -> int:
    """``ceil(len(text) / 4)``: the documented estimate for text without a tokenizer."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _encoding_name(model: str) -> str:
    bare = model.rpartition("/")[2]
    return "o200k_base" if bare.startswith(_O200K_PREFIXES) else "cl100k_base"


def _cached_encoding_file(name: str) -> Path | None:
    """The local tiktoken cache file for an encoding, if it is there (never downloads)."""
    base = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    directory = Path(base) if base else Path(tempfile.gettempdir()) / "data-gym-cache"
    path = directory / hashlib.sha1(_BLOB.format(name).encode(), usedforsecurity=False).hexdigest()
    return path if path.is_file() else None


@functools.cache
def _tiktoken_counter(name: str) -> Callable[[str], int] | None:
    """A tiktoken counter for a locally cached encoding, else None (cached per encoding name)."""
    if _cached_encoding_file(name) is None:
        return None
    try:
        tiktoken = importlib.import_module("tiktoken")  # optional, untyped here: not a dependency
    except ImportError:
        return None
    try:
        encoding = tiktoken.get_encoding(name)
    except Exception:  # any failure of an optional tokenizer means "estimate instead"
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def _content_tokens(content: Any, count: Callable[[str], int]) -> int:
    if isinstance(content, str):
        return count(content)
    total = 0
    if isinstance(content, Iterable) and not isinstance(content, bytes | Mapping):
        for part in content:
            if not isinstance(part, Mapping):
                continue
            if part.get("type") in ("image_url", "image", "input_image"):
                total += IMAGE_TOKENS
            elif isinstance(part.get("text"), str):
                total += count(part["text"])
    return total


def _message_tokens(message: Mapping[str, Any], count: Callable[[str], int]) -> int:
    total = MESSAGE_TOKENS + count(str(message.get("role", "")))
    total += _content_tokens(message.get("content"), count)
    if message.get("name"):
        total += NAME_TOKENS + count(str(message["name"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            total += count(str(function.get("name", ""))) + count(str(function.get("arguments", "")))
    return total


def token_counter(
    model: str = "",
    messages: Sequence[Mapping[str, Any]] | None = None,
    text: str | Sequence[str] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Tokens of chat ``messages`` and/or ``text`` (and ``tools``) for ``model``, LiteLLM's ``token_counter``.

    Exact (tiktoken) when available offline, else the estimate in this module's docstring. Never uses the network.
    """
    count = _tiktoken_counter(_encoding_name(model)) or estimate_tokens
    total = 0
    if messages:
        total += sum(_message_tokens(m, count) for m in messages) + REPLY_TOKENS
    if text is not None:
        total += sum(count(t) for t in ([text] if isinstance(text, str) else text))
    if tools:
        total += count(json.dumps(list(tools), separators=(",", ":"), sort_keys=True))
    return total


def estimate_usage(
    model: str, messages: Sequence[Mapping[str, Any]] | None, output_text: str = "", *, reasoning_text: str = ""
) -> TokenUsage:
    """Usage counted by tollway for a call whose provider reported none (``estimated=True``).

    ``reasoning_text`` (streamed thinking) counts as output, as providers bill it.
    """
    reasoning = token_counter(model, text=reasoning_text) if reasoning_text else 0
    return TokenUsage(
        input_tokens=token_counter(model, messages=messages or ()),
        output_tokens=token_counter(model, text=output_text) + reasoning,
        reasoning_tokens=reasoning,
        estimated=True,
    )
