"""``/ui`` serving (``tollway.dashboard.serve``): the page for every extension-less path, assets by name, the
browser-facing security headers, caching, and paths that must never reach a file outside the static folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tollway.dashboard.serve import CSP, STATIC_DIR, StaticUI

OUTSIDE = b"export const OUTSIDE_THE_FOLDER = 7;"
HIDDEN = b"export const HIDDEN_FILE = 9;"
INDEX = b"<!doctype html><title>t</title><script type=module src=/ui/app.js></script>"


@pytest.fixture
def static(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "img").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "app.js").write_text("export const x = 1;\n")
    (root / "app.css").write_text("body{}\n")
    (root / "img" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / ".secret.js").write_text(HIDDEN.decode())
    (root / "notes.py").write_text("print('no')")
    (tmp_path / "outside.js").write_text(OUTSIDE.decode())
    (root / "link.js").symlink_to(tmp_path / "outside.js")
    return root


@pytest.fixture
async def http(static: Path) -> AsyncIterator[httpx.AsyncClient]:
    ui = StaticUI(static)
    app = Starlette(routes=[Route("/ui", ui.index), Route("/ui/{path:path}", ui.asset)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


def assert_browser_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    assert "'unsafe-inline'" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/overview", "/ui/customers/acme", "/ui/a/b/c"])
async def test_the_page_for_every_path_without_an_extension(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert_browser_headers(response)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        ("/ui/img/logo.svg", "image/svg+xml"),
    ],
)
async def test_assets_by_name_revalidated_by_etag(http: httpx.AsyncClient, path: str, content_type: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "no-cache"
    assert_browser_headers(response)
    etag = response.headers["etag"]
    again = await http.get(path, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    changed = await http.get(path, headers={"if-none-match": '"something-else"'})
    assert changed.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ui/missing.js",
        "/ui/.secret.js",
        "/ui/notes.py",  # not a kind of file the dashboard has
        "/ui/link.js",  # a symlink out of the folder
        "/ui/../outside.js",
        "/ui/%2e%2e/outside.js",
        "/ui/img/%2e%2e/%2e%2e/outside.js",
        "/ui/img/..%2f..%2foutside.js",
        "/ui/a%5c..%5coutside.js",
        "/ui/app.js%00.css",
        "/ui/" + "a" * 300 + ".js",
    ],
)
async def test_nothing_outside_the_folder_or_hidden_is_served(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert OUTSIDE not in response.content
    assert HIDDEN not in response.content
    if response.status_code != 200:  # httpx normalises "/ui/../x" to "/x": not ours, and not the file either
        assert response.status_code == 404
        if response.headers.get("content-type", "").startswith("application/json"):
            assert response.json()["error"]["type"] == "not_found_error"


async def test_a_missing_page_is_a_404_that_says_so(tmp_path: Path) -> None:
    ui = StaticUI(tmp_path / "nothing-here")
    app = Starlette(routes=[Route("/ui", ui.index)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.get("/ui")
    assert response.status_code == 404
    assert "not installed" in response.json()["error"]["message"]
    assert_browser_headers(response)


def test_the_packaged_page_loads_its_assets_from_ui_only() -> None:
    """The wheel ships ``static/`` (hatch packages every file under src/tollway); the page it ships refers to its
    scripts and styles under /ui and has no inline script (the CSP would block it)."""
    index = STATIC_DIR / "index.html"
    if not index.exists():
        pytest.skip("the dashboard's static files are not in this tree yet")
    page = index.read_text()
    assert "/ui/app.js" in page
    assert "<script>" not in page
    assert " style=" not in page
    assert "http://" not in page
    assert "https://" not in page
