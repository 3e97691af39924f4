"""Alembic's environment: runs the migrations on the connection ``tollway.storage.migrate`` hands over.

There is no ``alembic.ini``: ``migrate.alembic_config()`` builds the configuration and puts an open synchronous
connection (inside its transaction and lock) in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from tollway.storage.schema import metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("tollway migrations run through tollway.storage.migrate (tollway db upgrade), not alembic")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations use batch mode (copy and move) there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
