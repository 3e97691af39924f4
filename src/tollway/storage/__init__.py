"""The gateway's SQL store: SQLAlchemy 2 Core (async) over SQLite (the embedded default) or PostgreSQL.

Nothing here is imported by ``import tollway``: the SDK never needs a database.
"""
