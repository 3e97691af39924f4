"""The accessibility pass over every page of the dashboard, in headless Chromium against a real gateway with data:
every form control, image and chart has an accessible name (as Chromium computes it), ids are unique, tables have
captions and header cells, there is one main landmark and a labelled nav, and pressing Tab from the top of the page
reaches the navigation links and the page's primary control with a visible focus indicator. A screenshot of each
page is kept. Also: the sign-in page, and the confirmation dialog of a delete.
"""

from __future__ import annotations

from pathlib import Path

from uie2e_support import UI, Gateway, artifacts_dir, browser_page, require_browser, seed_customers, serving

NAV = [
    "Overview",
    "Customers",
    "Simulator",
    "Request log",
    "Keys",
    "Teams",
    "Customer admin",
    "Models",
    "Alerts",
]
# (hash route, screenshot name, the page's primary control as "tag: accessible name")
PAGES = [
    ("overview", "overview", "button: Show"),
    ("customers", "customers", "button: Show"),
    ("customers/acme", "customer", "button: Show"),
    ("simulator", "simulator", "button: Run simulation"),
    ("logs", "request-log", "button: Filter"),
    ("keys", "keys", "summary: Create a key"),
    ("teams", "teams", "summary: Create a team"),
    ("customer-admin", "customer-admin", "summary: Create a customer"),
    ("models", "models", "button: Run health check"),
    ("alerts", "alerts", "summary: Create an alert rule"),
]


def _seed(gateway: Gateway) -> None:
    seed_customers(gateway)
    gateway.ok("POST", "/key/generate", json={"key_alias": "seeded", "customer_id": "acme", "max_budget": 10})
    gateway.ok("POST", "/team/new", json={"team_id": "t1", "team_alias": "Team one", "max_budget": "50"})
    gateway.ok("POST", "/customer/new", json={"customer_id": "acme", "alias": "Acme", "max_budget": "1"})
    rule = {
        "name": "acme budget",
        "kind": "budget",
        "scope": {"entity": "customer", "ids": ["acme"]},
        "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }
    gateway.ok("POST", "/alerts/rules", json=rule)


def _check(ui: UI, route: str, name: str, primary: str, *, fresh: bool) -> None:
    """The accessibility pass of one page: loaded afresh (Tab from the top of the document), or reached by a link
    (focus moves to the page's heading; Tab reaches its primary control, Shift+Tab the navigation)."""
    nav = {f"a: {label}" for label in NAV}
    if fresh:
        ui.open(route)
        stops = ui.tab_stops(nav | {primary})
        assert stops[0] == "a: Skip to content", stops
        missing = (nav | {primary}) - set(stops)
    else:
        ui.go(route)
        assert ui.page.evaluate("() => document.activeElement.tagName") == "H1"  # announced by screen readers
        forward = ui.tab_stops({primary})
        ui.page.focus("main h1")
        backward = ui.tab_stops(nav | {"a: Skip to content"}, key="Shift+Tab")
        stops = forward + backward
        missing = (nav | {primary, "a: Skip to content"}) - set(stops)
    assert not missing, f"#/{route}: the keyboard never reached {sorted(missing)} (stops: {stops})"
    problems = ui.accessibility_problems()
    assert problems == [], f"#/{route}: {problems}"
    assert ui.page.locator("nav a[aria-current=page]").count() == 1
    ui.shot(name)


def _confirm_dialog(ui: UI) -> None:
    page = ui.page
    ui.open("keys")
    page.get_by_role("button", name="Delete seeded").click()
    dialog = page.get_by_role("dialog", name="Delete key")
    dialog.wait_for()
    assert ui.accessibility_problems() == []
    focused = page.evaluate("() => document.activeElement.textContent")
    assert focused == "Cancel"  # the safe choice has the focus
    ui.shot("confirm-delete")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.get_by_role("row").filter(has_text="seeded").count() == 1


def test_every_page_passes_the_accessibility_pass(tmp_path: Path) -> None:
    require_browser()
    with serving(tmp_path) as gateway, browser_page(gateway, artifacts_dir("a11y")) as ui:
        _seed(gateway)
        ui.open()
        ui.page.get_by_role("heading", name="Sign in to Tollway").wait_for()
        assert ui.accessibility_problems() == []
        assert ui.page.evaluate("() => document.activeElement.name") == "key"  # ready to type
        stops = ui.tab_stops({"button: Sign in"})
        assert "button: Sign in" in stops, stops
        ui.shot("sign-in")
        ui.sign_in()
        for index, (route, name, primary) in enumerate(PAGES):
            _check(ui, route, name, primary, fresh=index in (0, 2))  # a deep link (#/customers/acme) loads too
        _confirm_dialog(ui)
        assert ui.errors == []
