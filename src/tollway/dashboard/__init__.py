"""The gateway's web dashboard at ``/ui``: static pages (``static/``, plain ES modules, no build step) that call the
documented management API with a session cookie.

- ``serve``: the page and its assets, with a strict Content-Security-Policy.
- ``session``: session ids, the CSRF token, the cookie (pure).
- ``sessions_store``: the ``ui_sessions`` table.
- ``signin``: signing in and out, and ``SessionAuth``, the Checker of every route the dashboard calls (a key when one
  is presented, else the session cookie) with ``csrf_checked`` in front of their unsafe methods.
- ``oidc`` / ``oidc_client``: OpenID Connect single sign-on (authorization code + PKCE, ID tokens checked against the
  provider's JWKS, roles mapped from claims).
- ``routes``: the ``/ui`` route table.
"""

from __future__ import annotations

__all__: list[str] = []
