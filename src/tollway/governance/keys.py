"""Virtual keys: generated once, shown once, stored only as a SHA-256 hash with a short visible name.

A key is ``"sk-"`` + 43 URL-safe characters (256 random bits). The store keeps ``hash_key(key)`` (hex) and
``key_name(key)`` (``"sk-...abcd"``, LiteLLM's display form), never the key.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["KEY_PREFIX", "generate_key", "hash_key", "is_token_hash", "key_name", "token_hash_of"]

KEY_PREFIX = "sk-"
_HEX = frozenset("0123456789abcdef")


def generate_key() -> str:
    """A new virtual key: ``"sk-"`` + ``secrets.token_urlsafe(32)``."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The key's SHA-256 as 64 lowercase hex characters: what the store keeps and looks keys up by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_name(key: str) -> str:
    """The displayable form ``"sk-...<last 4>"`` (what listings, logs and the audit log show)."""
    return f"{KEY_PREFIX}...{key[-4:]}"


def is_token_hash(value: str) -> bool:
    """Whether ``value`` has the shape of a stored hash (64 lowercase hex characters)."""
    return len(value) == 64 and _HEX.issuperset(value)


def token_hash_of(key_or_hash: str) -> str:
    """The hash of a key, or the value itself when it is already a hash (LiteLLM's routes accept either)."""
    return key_or_hash if is_token_hash(key_or_hash) else hash_key(key_or_hash)
