"""The admin pages in a browser against a real gateway: a customer created with a budget, its budget edited from
its own page, blocked and unblocked, then deleted behind a confirmation; a team created and deleted; a key's limits
edited; an alert rule created (its generated webhook secret shown once) and deleted; and what bad input does (the
gateway's 400 shown next to the field it names, marked invalid).
"""

from __future__ import annotations

import re
from pathlib import Path

from uie2e_support import UI, Gateway, artifacts_dir, browser_page, require_browser, serving


def _customer(ui: UI, gateway: Gateway) -> None:
    page = ui.page
    ui.go("customer-admin")
    page.get_by_text("Create a customer", exact=True).click()
    form = page.get_by_role("form", name="Create a customer")
    form.get_by_label("Customer id").fill("initech")
    form.get_by_label("Max budget (USD)").fill("lots")
    form.get_by_role("button", name="Create customer").click()
    error = form.get_by_role("alert")
    error.filter(has_text="max_budget").wait_for()
    assert form.get_by_label("Max budget (USD)").get_attribute("aria-invalid") == "true"
    ui.shot("customer-bad-budget")
    form.get_by_label("Max budget (USD)").fill("20")
    form.get_by_label("Budget period").fill("1mo")
    form.get_by_role("button", name="Create customer").click()
    row = page.get_by_role("row").filter(has_text="initech")
    row.get_by_text("$20.00 / 1mo").wait_for()
    assert gateway.ok("GET", "/customer/info", params={"customer_id": "initech"})["max_budget"] == "20"

    ui.go("customers/initech")
    page.get_by_role("link", name="Edit limits and budget").click()
    ui.settle()
    edit = page.get_by_role("form", name="Edit customer initech")
    assert edit.get_by_label("Max budget (USD)").input_value() == "20"
    edit.get_by_label("Max budget (USD)").fill("35.5")
    edit.get_by_label("Requests per minute").fill("60")
    edit.get_by_role("button", name="Save changes").click()
    row = page.get_by_role("row").filter(has_text="initech")
    row.get_by_text("$35.50 / 1mo").wait_for()
    info = gateway.ok("GET", "/customer/info", params={"customer_id": "initech"})
    assert (info["max_budget"], info["rpm_limit"], info["budget_duration"]) == ("35.5", 60, "1mo")

    row.get_by_role("button", name="Block initech").click()
    row.get_by_text("Blocked").wait_for()
    assert gateway.ok("GET", "/customer/info", params={"customer_id": "initech"})["blocked"] is True
    row.get_by_role("button", name="Unblock initech").click()
    row.get_by_text("Active").wait_for()
    row.get_by_role("button", name="Delete initech").click()
    dialog = page.get_by_role("dialog", name="Delete customer")
    dialog.get_by_role("button", name="Delete").click()
    page.get_by_role("row").filter(has_text="initech").wait_for(state="detached")
    assert gateway.api("GET", "/customer/info", params={"customer_id": "initech"}).status_code == 404
    ui.shot("customers-after-delete")


def _team(ui: UI, gateway: Gateway) -> None:
    page = ui.page
    ui.go("teams")
    page.get_by_text("Create a team", exact=True).click()
    form = page.get_by_role("form", name="Create a team")
    form.get_by_label("Team id").fill("research")
    form.get_by_label("Name").fill("Research")
    form.get_by_label("Tokens per minute").fill("100000")
    form.get_by_role("button", name="Create team").click()
    row = page.get_by_role("row").filter(has_text="Research")
    row.get_by_text("Active").wait_for()
    assert gateway.ok("GET", "/team/info", params={"team_id": "research"})["team_info"]["tpm_limit"] == 100000
    row.get_by_role("button", name="Delete Research").click()
    dialog = page.get_by_role("dialog", name="Delete team")
    assert "Its keys are deleted with it" in dialog.inner_text()
    dialog.get_by_role("button", name="Delete").click()
    page.get_by_role("row").filter(has_text="Research").wait_for(state="detached")
    assert gateway.api("GET", "/team/info", params={"team_id": "research"}).status_code == 404


def _key_limits(ui: UI, gateway: Gateway) -> None:
    page = ui.page
    made = gateway.ok("POST", "/key/generate", json={"key_alias": "batch-jobs", "rpm_limit": 10})
    ui.go("keys")
    row = page.get_by_role("row").filter(has_text="batch-jobs")
    row.get_by_role("button", name="Edit batch-jobs").click()
    edit = page.get_by_role("form", name="Edit key batch-jobs")
    assert edit.get_by_label("Requests per minute").input_value() == "10"
    edit.get_by_label("Requests per minute").fill("")  # cleared: no limit
    edit.get_by_label("Max budget (USD)").fill("2.25")
    edit.get_by_role("button", name="Save changes").click()
    page.get_by_role("row").filter(has_text="batch-jobs").get_by_text("$2.25").wait_for()
    info = gateway.ok("GET", "/key/info", params={"key": made["key"]})["info"]
    assert (info["rpm_limit"], info["max_budget"]) == (None, "2.25")
    ui.shot("keys-edited")


def _alert_rule(ui: UI, gateway: Gateway) -> None:
    page = ui.page
    ui.go("alerts")
    page.get_by_text("Create an alert rule", exact=True).click()
    form = page.get_by_role("form", name="Create an alert rule")
    form.get_by_label("Name").fill("margin watch")
    form.get_by_label("Kind").select_option("margin")
    assert form.get_by_label("Thresholds (% of budget)").is_hidden()  # a budget rule's field
    form.get_by_label("Margin below (%)").fill("10")
    form.get_by_label("URL or email addresses").fill("http://127.0.0.1:9/hooks/tollway")
    form.get_by_role("button", name="Create rule").click()
    dialog = page.get_by_role("dialog", name="Webhook secret")
    secret = dialog.get_by_label("Secret").input_value()
    assert len(secret) >= 16
    dialog.get_by_role("button", name="I have saved the secret").click()
    row = page.get_by_role("row").filter(has_text="margin watch")
    assert "margin pct: 10" in row.inner_text()
    rules = gateway.ok("GET", "/alerts/rules")["data"]
    assert [(rule["name"], rule["kind"], rule["margin_pct"]) for rule in rules] == [("margin watch", "margin", "10")]
    assert secret not in str(rules)  # shown once, never answered again
    row.get_by_role("button", name="Delete rule margin watch").click()
    page.get_by_role("dialog", name="Delete alert rule").get_by_role("button", name="Delete").click()
    page.get_by_role("row").filter(has_text="margin watch").wait_for(state="detached")
    assert gateway.ok("GET", "/alerts/rules")["data"] == []


def _bad_periods(ui: UI) -> None:
    page = ui.page
    ui.go("customers")
    page.get_by_label("From (UTC)").fill("2030-01-10")
    page.get_by_label("To (UTC, inclusive)").fill("2030-01-01")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("alert").filter(has_text="end date is before the start date").wait_for()
    ui.go("simulator")
    form = page.get_by_role("form", name="Simulation")
    form.get_by_label("Replace model").fill("premium")
    form.get_by_label("with model").fill("premium")
    form.get_by_role("button", name="Run simulation").click()
    form.get_by_role("alert").filter(has_text=re.compile("replaced by itself")).wait_for()
    form.get_by_label("with model").fill("no-such-model")
    form.get_by_role("button", name="Run simulation").click()
    # The gateway's own refusal, shown as it words it.
    form.get_by_role("alert").filter(has_text="The simulation failed").wait_for()
    ui.shot("simulator-refused")


def test_admin_pages_create_edit_block_delete_and_refuse_bad_input(tmp_path: Path) -> None:
    require_browser()
    with serving(tmp_path) as gateway, browser_page(gateway, artifacts_dir("admin")) as ui:
        ui.open()
        ui.sign_in()
        _customer(ui, gateway)
        _team(ui, gateway)
        _key_limits(ui, gateway)
        _alert_rule(ui, gateway)
        _bad_periods(ui)
        assert ui.errors == []
