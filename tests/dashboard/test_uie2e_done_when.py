"""Issue 9's "done when", in a browser: a new user opens /ui and answers "which customers lost us money last week,
and what would switching them to a cheaper model save?" without docs. The home page names the losing customer,
the Customers page (last 7 days, least profitable first) marks it in text, and its "Simulate cheaper model" action
opens the simulator prefilled (its costliest model, the cheapest other one) and runs it.

Also: entity names are hostile input; a customer named like an HTML tag is shown as text and runs nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from uie2e_support import (
    HOSTILE,
    UI,
    artifacts_dir,
    browser_page,
    money_value,
    require_browser,
    seed_customers,
    serving,
)


def _home_names_the_loser(ui: UI) -> None:
    panel = ui.page.get_by_role("region", name="Customers who lost money")
    losers = panel.get_by_role("row").filter(has_text="Loss")
    assert losers.count() == 1
    assert "acme" in losers.first.inner_text()
    assert panel.get_by_role("link", name="Simulate cheaper model for acme").count() == 1
    ui.shot("home")


def _customers_least_profitable_first(ui: UI) -> None:
    page = ui.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers", exact=True).click()
    ui.settle()
    start = date.fromisoformat(page.get_by_label("From (UTC)").input_value())
    end = date.fromisoformat(page.get_by_label("To (UTC, inclusive)").input_value())
    assert end - start == timedelta(days=6)  # the last 7 days...
    assert abs(end - datetime.now(UTC).date()) <= timedelta(days=1)  # ...up to today (UTC; midnight may pass)
    table = page.get_by_role("table", name=re.compile("^Customers from"))
    rows = table.locator("tbody tr")
    assert rows.count() == 3
    first = rows.first.inner_text()
    assert "acme" in first
    assert "Loss" in first  # marked in text, not by colour alone
    assert rows.first.get_attribute("class") == "loss"
    assert all("Profitable" in rows.nth(index).inner_text() for index in (1, 2))
    # Hostile names are text: shown as typed, no element made from them, no script run.
    assert table.get_by_text(HOSTILE, exact=True).count() == 1
    assert page.locator("main img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    margin = table.get_by_role("columnheader", name="Margin", exact=True)
    assert margin.get_attribute("aria-sort") == "ascending"
    table.get_by_role("button", name="Spend", exact=True).click()
    spend = table.get_by_role("columnheader", name="Spend", exact=True)
    assert spend.get_attribute("aria-sort") == "descending"
    assert margin.get_attribute("aria-sort") == "none"
    assert "acme" in rows.first.inner_text()  # the costliest, too
    ui.shot("customers")


def _simulate_the_loser(ui: UI) -> None:
    page = ui.page
    page.get_by_role("link", name="Simulate cheaper model for acme").first.click()
    ui.settle()
    form = page.get_by_role("form", name="Simulation")
    assert form.get_by_label("Replace model").input_value() == "premium"
    assert form.get_by_label("with model").input_value() == "budget"
    assert form.get_by_label("Customers").input_value() == "acme"
    result = page.get_by_role("region", name="Simulation result")
    result.get_by_role("heading", name="Result").wait_for()
    lead = result.locator(".result-lead").inner_text()
    assert lead.startswith("Switching would have saved $")
    row = result.get_by_role("table", name=re.compile("Margin per customer")).locator("tbody tr").first
    cells = row.locator("td")
    before, after = money_value(cells.nth(3).inner_text()), money_value(cells.nth(4).inner_text())
    assert before < 0 < after - before
    ui.shot("simulated")


def test_a_new_user_finds_who_lost_money_and_what_a_cheaper_model_saves(tmp_path: Path) -> None:
    require_browser()
    with serving(tmp_path) as gateway, browser_page(gateway, artifacts_dir("done-when")) as ui:
        seed_customers(gateway)
        ui.open()
        ui.sign_in()
        _home_names_the_loser(ui)
        _customers_least_profitable_first(ui)
        _simulate_the_loser(ui)
        assert ui.errors == []
