"""The dashboard end to end in headless Chromium against a real gateway (``tollway serve``, SQLite): sign in with the
master key, create a key in the UI, call the gateway with it through the OpenAI SDK, find the call in the request
log and in the overview's spend chart, run a simulation, check the models' health, block the key (the next SDK call
gets 403), sign out.

One test: the steps depend on each other, and one gateway and one browser serve them all (a few seconds).
"""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from uie2e_support import UI, Gateway, artifacts_dir, browser_page, kpi, money_value, require_browser, serving


def _create_key(ui: UI) -> str:
    page = ui.page
    ui.go("keys")
    page.get_by_text("Create a key", exact=True).click()
    form = page.get_by_role("form", name="Create a key")
    form.get_by_label("Alias").fill("e2e-key")
    form.get_by_label("Customer id").fill("acme")
    form.get_by_label("Max budget (USD)").fill("5")
    form.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name=re.compile("Key e2e-key created"))
    dialog.wait_for()
    assert "only time the key is shown" in dialog.inner_text()
    key = dialog.get_by_label("Key").input_value()
    assert key.startswith("sk-")
    dialog.get_by_role("button", name="Copy key").click()
    page.get_by_text(re.compile("Copied to the clipboard|Copying was refused")).wait_for()
    ui.shot("keys-created")
    dialog.get_by_role("button", name="I have saved the key").click()
    row = page.get_by_role("row").filter(has_text="e2e-key")
    row.get_by_text("Active").wait_for()
    assert "$5.00" in row.inner_text()
    return key


def _call(gateway: Gateway, key: str) -> str:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="premium", messages=[{"role": "user", "content": "hello from the browser test " * 20}]
    )
    assert raw.parse().choices[0].message.content
    request_id = raw.headers["x-request-id"]
    gateway.wait_for_spend_rows(1)
    return request_id


def _see_in_request_log(ui: UI, request_id: str) -> None:
    page = ui.page
    ui.go("logs")
    rows = page.get_by_role("row").filter(has_text="premium")
    assert rows.count() == 1
    assert "acme" in rows.first.inner_text()
    rows.first.get_by_role("button", name=re.compile("^Details of request")).click()
    details = page.get_by_role("region", name="Request details")
    details.wait_for()
    assert request_id in details.inner_text()
    assert "prompt logging is off" in details.inner_text()
    ui.shot("request-log-detail")
    details.get_by_role("button", name="Close details").click()
    assert page.get_by_role("region", name="Request details").count() == 0


def _see_in_overview(ui: UI) -> None:
    page = ui.page
    ui.go("overview")
    chart = page.get_by_role("img", name=re.compile("Spend per day by model"))
    chart.wait_for()
    assert page.locator("ul.legend li").filter(has_text="premium").count() == 1
    page.get_by_text("Show the data as a table").first.click()
    table = page.get_by_role("table", name=re.compile("Spend per day, stacked by model"))
    totals = [money_value(text) for text in table.locator("tbody tr td:last-child").all_inner_texts()]
    assert len(totals) == 7  # a row per day of the last 7
    assert sum(1 for total in totals if total > 0) == 1  # the day of the call (today, unless midnight passed)
    assert kpi(page.locator("main"), "Requests") == "1"
    assert page.get_by_role("table", name="Top models").get_by_role("row").filter(has_text="premium").count() == 1
    ui.shot("overview")


def _simulate(ui: UI) -> None:
    page = ui.page
    ui.go("simulator")
    form = page.get_by_role("form", name="Simulation")
    form.get_by_label("Replace model").fill("premium")
    form.get_by_label("with model").fill("budget")
    form.get_by_label("Customers").fill("acme")
    form.get_by_role("button", name="Add substitution").click()
    assert form.get_by_label("Replace model").count() == 2
    form.get_by_role("button", name="Remove substitution").last.click()
    assert form.get_by_label("Replace model").count() == 1
    form.get_by_role("button", name="Run simulation").click()
    result = page.get_by_role("region", name="Simulation result")
    result.get_by_role("heading", name="Result").wait_for()
    assert "Switching would have saved" in result.inner_text()
    assert money_value(kpi(result, "Savings")) > 0
    assert result.get_by_role("row").filter(has_text="acme").count() == 1
    assert result.get_by_role("img", name=re.compile("Baseline vs simulated")).count() == 1
    ui.shot("simulator")


def _models(ui: UI) -> None:
    page = ui.page
    ui.go("models")
    deployments = page.get_by_role("table", name=re.compile("^Deployments"))
    assert deployments.locator("tbody tr").count() == 2
    assert "mock/premium" in deployments.inner_text()
    page.get_by_role("button", name="Run health check").click()
    page.get_by_role("table", name="Health check: 2 healthy, 0 unhealthy").wait_for()
    ui.shot("models-health")


def _block(ui: UI, gateway: Gateway, key: str) -> None:
    page = ui.page
    ui.go("keys")
    page.get_by_role("button", name="Block e2e-key").click()
    row = page.get_by_role("row").filter(has_text="e2e-key")
    row.get_by_text("Blocked").wait_for()
    ui.shot("keys-blocked")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="premium", messages=[{"role": "user", "content": "blocked?"}])


def _sign_out(ui: UI) -> None:
    page = ui.page
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to Tollway").wait_for()
    assert page.get_by_role("navigation", name="Main").is_hidden()
    # The session is revoked server-side: the cookie the browser may still hold opens nothing.
    assert page.request.get(ui.gateway.url + "/ui/session").status == 401
    assert page.request.get(ui.gateway.url + "/key/list").status == 401
    ui.shot("signed-out")


def test_sign_in_create_a_key_call_it_see_it_simulate_block_it_sign_out(tmp_path: Path) -> None:
    require_browser()
    with serving(tmp_path, process=True) as gateway, browser_page(gateway, artifacts_dir("flow")) as ui:
        ui.open()
        ui.page.get_by_role("heading", name="Sign in to Tollway").wait_for()
        ui.shot("sign-in")
        ui.sign_in()
        key = _create_key(ui)
        request_id = _call(gateway, key)
        _see_in_request_log(ui, request_id)
        _see_in_overview(ui)
        _simulate(ui)
        _models(ui)
        _block(ui, gateway, key)
        _sign_out(ui)
        assert ui.errors == []
