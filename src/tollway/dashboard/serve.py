"""The dashboard's static files at ``/ui``: ``index.html`` for ``/ui`` and for every path without a file extension
(the page routes itself by hash: ``#/overview``...), the assets (``app.js``, ``app.css``, ...) by name.

What a browser gets with every answer: a strict Content-Security-Policy (scripts, styles, images and requests from
this origin only; no inline script or style; no framing), ``X-Frame-Options: DENY``, ``nosniff``, no referrer.
``index.html`` is never cached (``no-store``: a new gateway version shows at once); assets are revalidated with an
ETag (``no-cache``), since their names carry no hash.

Paths are refused (404) unless they name a regular file under the static folder with a known extension: no ``..``,
no hidden files, no backslashes or control characters, no symlinks out of the folder. Files are read on each request
(they are few and small), so a page edited on disk shows without a restart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import NotFoundError
from tollway.proxy.responses import RequestIds, error_response

__all__ = ["SECURITY_HEADERS", "STATIC_DIR", "StaticUI", "html_page"]

STATIC_DIR = Path(__file__).with_name("static")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
    ".map": "application/json",
}
_MAX_PATH = 256
_MAX_FILE = 8 * 1024 * 1024  # the folder holds a page's scripts and styles; anything bigger is not served


def html_page(title: str, message: str, status: int) -> Response:
    """A small self-contained HTML page (no script, no inline style: the CSP holds) linking back to ``/ui``."""
    import html

    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - Tollway</title><link rel='stylesheet' href='/ui/app.css'></head>"
        f"<body><main><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        "<p><a href='/ui'>Back to the dashboard sign-in</a></p></main></body></html>"
    )
    headers = {**SECURITY_HEADERS, "cache-control": "no-store"}
    return Response(body, status_code=status, headers=headers, media_type="text/html; charset=utf-8")


class StaticUI:
    """``GET /ui`` and ``GET /ui/{path}`` over ``directory`` (the packaged ``static`` folder by default)."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self._root = directory
        self._ids = RequestIds()

    async def index(self, request: Request) -> Response:
        """``/ui``: the page."""
        return self._file(request, "index.html")

    async def asset(self, request: Request) -> Response:
        """``/ui/{path}``: a file, or the page for a path without an extension (an unknown asset is a 404)."""
        path = str(request.path_params.get("path", ""))
        name = path.rsplit("/", 1)[-1]
        if "." not in name:
            return self._file(request, "index.html")
        return self._file(request, path)

    def _resolve(self, path: str) -> Path | None:
        """The file ``path`` names under the root, or None when it is not one this server may send."""
        if not path or len(path) > _MAX_PATH or "\\" in path or not path.isprintable():
            return None
        parts = path.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        if Path(parts[-1]).suffix.lower() not in _TYPES:
            return None
        try:
            root = self._root.resolve(strict=True)
            target = root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def _file(self, request: Request, path: str) -> Response:
        target = self._resolve(path)
        content = None
        if target is not None:
            try:
                if target.stat().st_size <= _MAX_FILE:
                    content = target.read_bytes()
            except OSError:
                content = None
        if target is None or content is None:
            missing = "the dashboard is not installed (no index.html)" if path == "index.html" else "no such file"
            response = error_response(NotFoundError(f"/ui/{path}: {missing}", code="not_found"), self._ids.of(request))
            response.headers.update(SECURITY_HEADERS)
            return response
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        page = target.suffix.lower() == ".html"
        headers = {
            **SECURITY_HEADERS,
            "cache-control": "no-store" if page else "no-cache",
            "etag": etag,
        }
        if not page and etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(content, headers=headers, media_type=_TYPES[target.suffix.lower()])
