"""The master key of a gateway started with no key configured: generated once, kept in the working directory.

``pip install -e . && tollway serve`` must start a usable gateway on a fresh machine, and the gateway must never run
without a strong key outside ``--dev``. So when neither ``TOLLWAY_MASTER_KEY`` nor the config sets one, the first
start writes a random key to ``.tollway/master.key`` (owner-only permissions) and prints it once; later starts in
the same directory read it back (like the SQLite file that lives there too).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["KEY_FILE", "load_or_create_master_key"]

KEY_FILE = Path(".tollway") / "master.key"


def load_or_create_master_key(directory: Path) -> tuple[str, bool]:
    """The key stored under ``directory`` (and False), or a new one written there (and True)."""
    path = directory / KEY_FILE
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key, False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = "sk-tollway-" + secrets.token_urlsafe(32)
    # O_EXCL: two workers starting together must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip(), False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key, True
