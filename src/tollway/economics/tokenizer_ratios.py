"""Tokenizer families and how many tokens each spends on the same text, relative to OpenAI's ``o200k_base`` (pure).

The model-swap simulator (``tollway.economics.simulate``) re-prices recorded token counts at another model's prices.
The same text is a different number of tokens for another tokenizer, so the counts are scaled by
``ratio(target family) / ratio(source family)`` (``applied_ratio``), rounded to four places; that rounded ratio is
what the simulation applies and shows, and every amount after it is exact.

The figures are **estimates** for English prose and code, where the table cites a measurement, and plain
assumptions where it says so. Real ratios depend on the text (languages other than English, code, JSON, numbers
move them by tens of percent); the simulation shows the ratio it used so that a reader can judge it. Families:

- ``openai-o200k`` 1.00: the reference. GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o1/o3/o4, gpt-oss (tiktoken's
  ``o200k_base``).
- ``openai-cl100k`` 1.10: GPT-4, GPT-3.5, embeddings (``cl100k_base``). OpenAI's GPT-4o launch post measured
  English at 1.1x fewer tokens with o200k (27 -> 24 on its sample).
- ``anthropic-claude`` 1.20: Claude 3 to 4.6. Measured at 16 % (English articles) to 30 % (Python code) more tokens
  than GPT-4o (VentureBeat, "Hidden costs in AI deployment: why Claude models may be 20-30 % more expensive than
  GPT", May 2025); 1.20 is the middle.
- ``anthropic-claude-opus-4-7`` 1.40: Claude Opus 4.7's new tokenizer, which Anthropic says spends 1.0-1.35x the
  tokens of earlier Claude models: 1.20 x ~1.17, an estimate.
- ``google-gemini`` 1.05: Gemini and Gemma (SentencePiece, 256k vocabulary). No published comparison: an estimate.
- ``meta-llama-3`` 1.10: Llama 3 and later. Meta built its 128k vocabulary on tiktoken's cl100k (Llama 3 release),
  so as ``openai-cl100k``.
- ``meta-llama-2`` 1.25: Llama 2 and Code Llama (32k SentencePiece). Meta reports Llama 3 needs up to 15 % fewer
  tokens: 1.10 x ~1.15.
- ``mistral-tekken`` 1.05: Mistral NeMo and later (Tekken, tiktoken-based, 131k vocabulary): an estimate.
- ``mistral-sentencepiece`` 1.30: Mistral 7B and Mixtral (32k SentencePiece). Mistral reports Tekken ~30 % more
  compact on source code and many languages.
- ``unknown`` 1.00: any other model (the mock provider included), assumed to tokenize like the reference.

A family is recognised from the model id (``claude``, ``gpt-4o``, ``llama3``, ...), whatever serves it (Bedrock's
``anthropic.claude-...``, Vertex's ``claude-...@...`` and Azure deployments named after their model included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["FAMILIES", "RATIO_PLACES", "UNKNOWN", "Family", "applied_ratio", "family_named", "family_of"]

RATIO_PLACES = 4
_QUANTUM = Decimal(1).scaleb(-RATIO_PLACES)


@dataclass(frozen=True, slots=True)
class Family:
    """A tokenizer family: its name, the tokens it spends on a text per ``o200k_base`` token, and where the
    figure comes from."""

    name: str
    ratio: Decimal
    basis: str


UNKNOWN = Family("unknown", Decimal("1.00"), "assumed equal to the reference (no family recognised)")

# (family, pattern searched in the lower-cased model id); the first match wins, so the specific ones come first.
_TABLE: tuple[tuple[Family, str], ...] = (
    (
        Family("anthropic-claude-opus-4-7", Decimal("1.40"), "Anthropic: 1.0-1.35x earlier Claude's tokens; estimate"),
        r"claude-opus-4[-.]7",
    ),
    (
        Family("anthropic-claude", Decimal("1.20"), "16-30 % more tokens than GPT-4o (VentureBeat, May 2025)"),
        r"claude",
    ),
    (
        Family("openai-o200k", Decimal("1.00"), "the reference (tiktoken o200k_base)"),
        r"gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|chatgpt|codex|(?:^|[/.])o[1-9](?:-|$)",
    ),
    (
        Family("openai-cl100k", Decimal("1.10"), "OpenAI: English 1.1x fewer tokens with o200k (GPT-4o launch)"),
        r"gpt-4|gpt-3\.5|gpt-35|text-embedding|davinci|babbage",
    ),
    (Family("google-gemini", Decimal("1.05"), "estimate (no published comparison)"), r"gemini|gemma"),
    (
        Family("meta-llama-2", Decimal("1.25"), "Meta: Llama 3 needs up to 15 % fewer tokens; estimate"),
        r"llama-?2|codellama",
    ),
    (Family("meta-llama-3", Decimal("1.10"), "Meta: a 128k vocabulary built on cl100k"), r"llama"),
    (
        Family("mistral-sentencepiece", Decimal("1.30"), "Mistral: Tekken ~30 % more compact; estimate"),
        r"mistral-7b|mixtral|mistral-tiny",
    ),
    (
        Family("mistral-tekken", Decimal("1.05"), "estimate (Tekken, tiktoken-based)"),
        r"mistral|ministral|codestral|pixtral|magistral|devstral|voxtral",
    ),
)
_PATTERNS = tuple((family, re.compile(pattern)) for family, pattern in _TABLE)

FAMILIES: tuple[Family, ...] = (*(family for family, _ in _TABLE), UNKNOWN)
"""Every family, ``UNKNOWN`` last."""


def family_of(model: str | None) -> Family:
    """The tokenizer family of a model id (``"gpt-4o"``, ``"anthropic/claude-sonnet-4-5"``,
    ``"anthropic.claude-3-5-sonnet-20240620-v1:0"``); ``UNKNOWN`` when none is recognised."""
    text = (model or "").lower()
    for family, pattern in _PATTERNS:
        if pattern.search(text):
            return family
    return UNKNOWN


def family_named(name: str) -> Family:
    """The family called ``name``; KeyError for any other name."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise KeyError(name)


def applied_ratio(source: Family, target: Family) -> Decimal:
    """Target tokens per source token: ``target.ratio / source.ratio`` rounded half-even to ``RATIO_PLACES``."""
    return (target.ratio / source.ratio).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
