"""Shared by the dashboard's browser tests (``test_uie2e_*.py``): a real gateway (``tollway serve`` in a subprocess,
SQLite in a temporary folder, priced mock models), headless Chromium driven by Playwright, and the checks every
page must pass (accessibility, no script errors, no duplicate ids).

The browser is the Debian ``chromium`` package at ``/usr/bin/chromium`` (never a downloaded build). Without it, or
without the ``playwright`` package, the tests fail under CI (``CI`` set) and are skipped elsewhere, naming the install.
Screenshots go to ``test-artifacts/ui/`` at the repository root (``TOLLWAY_TEST_ARTIFACTS`` overrides it).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

__all__ = [
    "CHROMIUM",
    "HOSTILE",
    "LAUNCH_ARGS",
    "MASTER",
    "UI",
    "Gateway",
    "artifacts_dir",
    "browser_page",
    "kpi",
    "money_value",
    "require_browser",
    "seed_customers",
    "serving",
]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MASTER = "sk-uie2e-master-key-0123456789"
# Two priced mock deployments: "premium" costs 100x "budget", so a swap has savings to show.
PREMIUM = {"input_cost_per_token": 0.00001, "output_cost_per_token": 0.00003}
BUDGET = {"input_cost_per_token": 0.0000001, "output_cost_per_token": 0.0000003}
CONFIG = f"""
model_list:
  - model_name: premium
    litellm_params: {{model: mock/premium, input_cost_per_token: {PREMIUM["input_cost_per_token"]},
                      output_cost_per_token: {PREMIUM["output_cost_per_token"]}}}
  - model_name: budget
    litellm_params: {{model: mock/budget, input_cost_per_token: {BUDGET["input_cost_per_token"]},
                      output_cost_per_token: {BUDGET["output_cost_per_token"]}}}
general_settings:
  proxy_batch_write_at: 0.05
"""
ROOT = Path(__file__).resolve().parents[2]
_SERVE = [sys.executable, "-m", "tollway.cli"]


def require_browser() -> None:
    """Fail (under CI) or skip (elsewhere) unless Chromium and Playwright are installed."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: install it with `apt-get install chromium chromium-driver`"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing: pip install -e '.[test]'"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {problem}")
        pytest.skip(f"browser tests need Chromium and Playwright: {problem}")


def artifacts_dir(name: str) -> Path:
    """Where a test module's screenshots go (created)."""
    base = Path(os.environ.get("TOLLWAY_TEST_ARTIFACTS") or ROOT / "test-artifacts" / "ui")
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Gateway:
    """A running gateway: its URL and calls to its API with the master key."""

    url: str
    master: str = MASTER

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call with the master key."""
        headers = {"authorization": f"Bearer {self.master}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """An API call that must succeed; its JSON."""
        answer = self.api(method, path, **kwargs)
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def chat(self, model: str, *, key: str | None = None, customer: str | None = None, words: int = 50) -> None:
        """One chat completion (as ``customer`` when given), which must succeed."""
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hello " * words}]}
        if customer is not None:
            body["user"] = customer
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        answer = self.api("POST", "/v1/chat/completions", json=body, headers=headers)
        assert answer.status_code == 200, answer.text

    def wait_for_spend_rows(self, count: int) -> None:
        """Until ``count`` spend rows have landed (they are written in batches, every 50 ms here)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ok("GET", "/spend/logs", params={"page_size": 1})["total"] >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} spend rows arrived")


@contextlib.contextmanager
def serving(workdir: Path, *, process: bool = False) -> Iterator[Gateway]:
    """A gateway on a free port with the test config and SQLite in ``workdir``, until the block ends: uvicorn in a
    thread over ``create_app`` (under a second to start), or with ``process`` the ``tollway serve`` command itself
    in a subprocess (the way users start it; a few seconds)."""
    config = workdir / "config.yaml"
    config.write_text(CONFIG)
    port = _free_port()
    gateway = Gateway(f"http://127.0.0.1:{port}")
    if process:
        with _subprocess(workdir, config, port, gateway):
            yield gateway
    else:
        with _thread(workdir, config, port, gateway):
            yield gateway


@contextlib.contextmanager
def _subprocess(workdir: Path, config: Path, port: int, gateway: Gateway) -> Iterator[None]:
    env = {**os.environ, "TOLLWAY_MASTER_KEY": MASTER}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    command = [*_SERVE, "serve", "--config", str(config), "--port", str(port)]
    log_path = workdir / "gateway.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT) as running,
    ):
        try:
            _wait_ready(gateway, lambda: running.poll() is None, log_path)
            yield
        finally:
            running.terminate()
            try:
                running.wait(timeout=15)
            except subprocess.TimeoutExpired:
                running.kill()


@contextlib.contextmanager
def _thread(workdir: Path, config: Path, port: int, gateway: Gateway) -> Iterator[None]:
    import dataclasses

    import uvicorn

    from tollway.proxy.app import create_app
    from tollway.proxy.config import load_config

    loaded = load_config(config, {"TOLLWAY_MASTER_KEY": MASTER})
    loaded = dataclasses.replace(loaded, database_url=f"sqlite+aiosqlite:///{workdir / 'tollway.db'}")
    options = uvicorn.Config(
        create_app(loaded), host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none"
    )
    server = uvicorn.Server(options)

    def run() -> None:
        with contextlib.suppress(SystemExit):  # a failed start exits; _wait_ready then reports it
            server.run()

    thread = threading.Thread(target=run, name="uie2e-gateway", daemon=True)
    thread.start()
    try:
        _wait_ready(gateway, thread.is_alive, None)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _wait_ready(gateway: Gateway, alive: Callable[[], bool], log: Path | None) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert alive(), f"the gateway stopped:\n{log.read_text() if log else '(its error is in the captured stderr)'}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(gateway.url + "/health/liveliness", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, f"the gateway did not become ready:\n{log.read_text() if log else ''}"
        time.sleep(0.05)


# Checked in the page after each render: every form control and image has an accessible name, ids are unique,
# tables have captions and header cells, and there is one <main> and a labelled <nav>.
_DOM_CHECKS = """
() => {
  const problems = [];
  const describe = (el) => el.outerHTML.slice(0, 120);
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!named) problems.push("form control without a label: " + describe(el));
  }
  for (const el of document.querySelectorAll("svg")) {
    if (el.closest("[aria-hidden=true]")) continue;
    const named = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
      || el.querySelector(":scope > title");
    if (!named) problems.push("svg without a title or aria-label: " + describe(el));
  }
  for (const el of document.querySelectorAll("img")) {
    if (!el.hasAttribute("alt")) problems.push("img without alt: " + describe(el));
  }
  const seen = new Map();
  for (const el of document.querySelectorAll("[id]")) seen.set(el.id, (seen.get(el.id) || 0) + 1);
  for (const [id, count] of seen) if (count > 1) problems.push(`duplicate id ${id} (${count} times)`);
  for (const table of document.querySelectorAll("main table")) {
    if (!table.querySelector("caption") && !table.getAttribute("aria-label")) {
      problems.push("table without caption: " + describe(table));
    }
    if (!table.querySelector("th")) problems.push("table without header cells: " + describe(table));
  }
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one <main>");
  const nav = document.querySelector("nav");
  if (!nav || !(nav.getAttribute("aria-label") || nav.getAttribute("aria-labelledby"))) {
    problems.push("no labelled <nav>");
  }
  return problems;
}
"""
# Roles whose elements must have a non-empty accessible name (as Chromium computes it).
_NAMED_ROLES = {
    "button",
    "link",
    "textbox",
    "searchbox",
    "combobox",
    "listbox",
    "checkbox",
    "radio",
    "spinbutton",
    "slider",
    "image",
    "img",
    "Date",
    "date",
    "DateTime",
    "InputTime",
}


@dataclass
class UI:
    """A page of the dashboard in the browser, with what went wrong in it (script errors) collected."""

    page: Page
    gateway: Gateway
    shots: Path
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A failed fetch logs "Failed to load resource" (a 401 before sign-in, a 404 asked for on purpose): the page
        # handles those; any other console error is a bug.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console error: {message.text}")

    def open(self, hash_route: str = "") -> None:
        """Load the dashboard afresh at ``#/<hash_route>`` (focus at the top) and wait for the page to be drawn."""
        self.page.goto("about:blank")  # else a change of hash alone would not reload the page
        self.page.goto(f"{self.gateway.url}/ui#/{hash_route}" if hash_route else f"{self.gateway.url}/ui")
        self.settle()

    def go(self, hash_route: str) -> None:
        """Navigate inside the page (a hash change, as a click on a link does) and wait for it to be drawn."""
        self.page.evaluate("(route) => { window.location.hash = route; }", f"#/{hash_route}")
        self.settle()

    def settle(self) -> None:
        """Wait until the page has rendered its data (``main`` drops ``aria-busy``)."""
        self.page.wait_for_selector("main#main:not([aria-busy])", state="attached", timeout=15000)
        self.page.wait_for_function("() => document.querySelector('main#main h1') !== null", timeout=15000)

    def sign_in(self, key: str = MASTER) -> None:
        """Sign in through the sign-in form."""
        self.page.get_by_label("Master key or admin key").fill(key)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.get_by_role("heading", name="Overview", level=1).wait_for()
        self.settle()

    def shot(self, name: str) -> Path:
        """A full-page screenshot under the artifacts folder."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def accessibility_problems(self) -> list[str]:
        """What the page gets wrong: the DOM checks, and controls Chromium computes no accessible name for."""
        problems: list[str] = list(self.page.evaluate(_DOM_CHECKS))
        session = self.page.context.new_cdp_session(self.page)
        try:
            nodes = session.send("Accessibility.getFullAXTree")["nodes"]
        finally:
            session.detach()
        for node in nodes:
            if node.get("ignored"):
                continue
            role = (node.get("role") or {}).get("value", "")
            name = str((node.get("name") or {}).get("value", "")).strip()
            if role in _NAMED_ROLES and not name:
                problems.append(f"{role} without an accessible name (backend node {node.get('backendDOMNodeId')})")
        return problems

    def tab_stops(self, wanted: set[str], *, key: str = "Tab", limit: int = 80) -> list[str]:
        """The elements focus visits pressing ``key`` (Tab, or Shift+Tab backwards) from where focus is, as
        "tag: name" strings, until every stop in ``wanted`` was visited (or ``limit`` presses); each must show a
        visible focus indicator."""
        stops: list[str] = []
        for _ in range(limit):
            if wanted <= set(stops):
                break
            self.page.keyboard.press(key)
            focused = self.page.evaluate(
                """() => {
                  const el = document.activeElement;
                  if (!el || el === document.body) return null;
                  const style = getComputedStyle(el);
                  // A date input's calendar button is a focusable part of the browser's own (shadow) controls:
                  // the input then does not match :focus, and the browser draws that button's focus ring.
                  const inner = !el.matches(":focus");
                  const visible = inner || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0);
                  const name = (el.getAttribute("aria-label") || el.innerText || el.value || el.name || "").trim();
                  return { stop: `${el.tagName.toLowerCase()}: ${name.split("\\n")[0]}`, visible };
                }"""
            )
            if focused is None:
                break
            assert focused["visible"], f"no visible focus indicator on {focused['stop']}"
            if stops and stops[-1] == focused["stop"]:
                continue  # a date input takes several presses (one per field)
            if stops and focused["stop"] == stops[0]:
                break  # wrapped around
            stops.append(focused["stop"])
        return stops


@contextlib.contextmanager
def browser_page(gateway: Gateway, shots: Path) -> Iterator[UI]:
    """One headless Chromium with one page on the dashboard's origin."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
            page = context.new_page()
            page.set_default_timeout(15000)
            yield UI(page, gateway, shots)
        finally:
            browser.close()


HOSTILE = '<img src=x onerror="window.__xss=1">'
"""A customer id that would run script if any page put API data into innerHTML."""


def seed_customers(gateway: Gateway) -> None:
    """Traffic and revenue today: "acme" loses money on the premium model, "globex" and the hostile-named customer
    are profitable on the budget model."""
    today = datetime.now(UTC).date().isoformat()
    for customer, model, calls in (("acme", "premium", 4), ("globex", "budget", 2), (HOSTILE, "budget", 1)):
        for _ in range(calls):
            gateway.chat(model, customer=customer, words=300)
    for customer, amount in (("acme", "0.001"), ("globex", "5"), (HOSTILE, "1")):
        body = {"customer_id": customer, "amount": amount, "currency": "USD", "date": today}
        gateway.ok("POST", "/revenue", json=body)
    gateway.wait_for_spend_rows(7)


def kpi(container: Locator, label: str) -> str:
    """The value shown for the figure labelled ``label`` (a ``<dt>``) in ``container``."""
    term = container.locator("dt").filter(has_text=re.compile(f"^{re.escape(label)}$"))
    return term.locator("xpath=following-sibling::dd[1]").inner_text()


def money_value(text: str) -> float:
    """The amount in a money text shown by the page ("$1,234.56", a minus sign before negative ones), for
    comparisons in tests."""
    match = re.search(r"(\u2212|-)?\$([\d,]+(?:\.\d+)?)", text)
    assert match is not None, f"no amount in {text!r}"
    value = float(match.group(2).replace(",", ""))
    return -value if match.group(1) else value
