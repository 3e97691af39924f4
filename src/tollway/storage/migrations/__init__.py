"""Alembic migrations of the store (``env.py``, ``versions/``); run through ``tollway.storage.migrate``."""
