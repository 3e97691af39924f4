"""Alembic migrations of the store (``env.py``, ``versions/``); run through ``tollway.storage.migrate``.

``HEAD`` is the latest revision, written out so a gateway can see its database is current with one plain query
and never import Alembic (with Mako and Pygments, 9-11 MB of each worker's memory, measured). A new revision must
update it: ``tests/storage/test_store_migrate_head.py`` fails while it differs from Alembic's own computed head.
"""

__all__ = ["HEAD"]

HEAD = "0008_entity_epoch"
