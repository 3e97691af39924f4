"""Router test fixtures: ``redis_url`` and ``redis_prefix`` come from ``tests/redisfixtures.py`` (every suite shares
them)."""
