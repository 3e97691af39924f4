"""The dashboard's pure logic, run in headless Chromium (its modules are browser ES modules): exact money arithmetic
on decimal strings, chart series and SVG structure, payloads built from forms, and hostile or malformed values from
the API. The static files are served to the browser straight from the package folder (no gateway needed).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from uie2e_support import CHROMIUM, LAUNCH_ARGS, require_browser

STATIC = Path(__file__).resolve().parents[2] / "src" / "tollway" / "dashboard" / "static"
ORIGIN = "http://dashboard.test"

MONEY = """async () => {
  const f = await import("/ui/format.js");
  return {
    small: f.money("0.00004"),
    rounded: f.money("12.34567"),
    big: f.money("1234567.891"),
    negative: f.money("-1.5"),
    zero: f.money("0"),
    missing: f.money(null),
    hostile: f.money("<b>1</b>"),
    euro: f.money("5", { currency: "EUR" }),
    perRequest: f.money("0.000075", { places: 6 }),
    exact: f.subtract("0.1", "0.3"),
    longFraction: f.subtract("1", "0.0000000000011"),
    order: [f.compareDecimal("10", "9.99"), f.compareDecimal("-1", "0"), f.compareDecimal(null, "0"),
            f.compareDecimal("2.50", "2.5")],
    notDecimal: [f.scaled("1e5"), f.scaled(""), f.scaled("1.2.3"), f.scaled(" 7 ") !== null],
    negativeFlags: [f.isNegative("-0.000001"), f.isNegative("0"), f.isNegative("abc")],
    days: [f.isDay("2025-02-28"), f.isDay("2025-02-30"), f.isDay("2025-2-1"), f.isDay(null)],
    shifted: [f.shiftDay("2025-03-01", 1), f.shiftDay("2024-12-31", -1)],
    percents: [f.percent("12.345", 2), f.percent(null), f.ratio(0.125), f.millis(null), f.count(1234567)],
  };
}"""

LOGIC = """async () => {
  const overview = await import("/ui/page_overview.js");
  const customer = await import("/ui/page_customer.js");
  const admin = await import("/ui/admin.js");
  const alerts = await import("/ui/page_alerts.js");
  const logs = await import("/ui/page_logs.js");
  const simulator = await import("/ui/page_simulator.js");
  const models = await import("/ui/page_models.js");
  const days = ["2025-06-01", "2025-06-02"];
  const daily = [];
  for (let i = 0; i < 10; i += 1) daily.push({ day: "2025-06-01", group: `m${i}`, cost: String(10 - i) });
  daily.push({ day: "2025-06-02", group: null, cost: "0.5" }, { day: "2024-01-01", group: "m0", cost: "99" });
  const series = overview.seriesOf(daily, days);
  const specs = [
    { name: "max_budget", type: "money" }, { name: "rpm_limit", type: "number" },
    { name: "models", type: "list" }, { name: "key_alias" },
  ];
  const record = { max_budget: "10", rpm_limit: 5, models: ["a", "b"], key_alias: "x" };
  return {
    series: series.map((one) => [one.name, one.values]),
    budget: [
      customer.budgetUse({ max_budget: "10", spend: "2.5" }),
      customer.budgetUse({ max_budget: "4", budget_duration: "1mo", budget_period_spend: "5", spend: "9" }),
      customer.budgetUse({ max_budget: null, spend: "1" }),
    ],
    created: admin.createPayload(specs, { max_budget: "", rpm_limit: "7", models: "a, ,b", key_alias: "" }),
    changed: admin.changePayload(specs, { max_budget: "", rpm_limit: "5", models: "a, b", key_alias: "y" }, record),
    rule: alerts.rulePayload({
      name: "n", kind: "margin", entity: "customer", ids: "", enabled: true, thresholds: "50", margin_pct: "-5",
      period_days: "14", factor: "3", min_amount: "", channel_type: "email", channel_target: "a@x.io, b@x.io",
      channel_secret: "ignored",
    }),
    payloads: logs.payloads({ response: "", metadata: { messages: [{ role: "user", content: "hi" }] } }),
    cheapest: [
      simulator.cheapestOther(new Map([["a", 3], ["b", 1], ["c", 2]]), "a"),
      simulator.cheapestOther(new Map([["a", 1], ["b", 2]]), "a"),
      simulator.cheapestOther(new Map(), "a"),
    ],
    prices: [models.prices({ input_cost_per_token: "0.0000025", output_cost_per_token: "0.00001" }), models.prices({})],
  };
}"""

CHART = """async () => {
  const charts = await import("/ui/charts.js");
  const figure = charts.stackedBars({
    title: "Spend <script>", description: "d", categories: ["2025-06-01", "2025-06-02"],
    series: [{ name: "<img src=x onerror=alert(1)>", values: ["1.5", "0"] }, { name: "b", values: ["0.5", "2"] }],
    format: (value) => value,
  });
  document.body.append(figure);
  const svg = figure.querySelector("svg");
  return {
    role: svg.getAttribute("role"),
    title: svg.querySelector("title").textContent,
    labelledBy: svg.getAttribute("aria-labelledby").split(" ").every((id) => document.getElementById(id)),
    bars: svg.querySelectorAll("rect").length,
    barTitles: [...svg.querySelectorAll("rect > title")].map((node) => node.textContent),
    legend: [...figure.querySelectorAll(".legend li")].map((node) => node.textContent.trim()),
    tableRows: [...figure.querySelectorAll("tbody tr")].map((row) => row.textContent),
    images: document.querySelectorAll("img").length,
  };
}"""


SIGN_IN = """async () => {
  const signin = await import("/ui/page_signin.js");
  const shown = {};
  for (const sso of [true, false]) {
    const main = document.createElement("main");
    document.body.append(main);
    await signin.render({ main, api: null, config: { sso }, notice: "Your session has ended.", onSignedIn: () => {} });
    const link = main.querySelector("a.button");
    shown[sso] = { link: link && [link.textContent, link.getAttribute("href")], text: main.textContent };
    main.remove();
  }
  return shown;
}"""


def _serve_static(route: Any) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?")[0]
    if path == "/":
        route.fulfill(
            body="<!doctype html><html lang='en'><title>units</title><body></body></html>", content_type="text/html"
        )
        return
    target = STATIC / path.removeprefix("/ui/")
    if path.startswith("/ui/") and target.is_file():
        kind = "text/javascript" if target.suffix == ".js" else mimetypes.guess_type(target.name)[0] or "text/plain"
        route.fulfill(body=target.read_bytes(), content_type=kind)
    else:
        route.fulfill(status=404, body="not found")


def test_money_charts_and_payloads_logic_in_the_browser() -> None:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route(f"{ORIGIN}/**", _serve_static)
            page.goto(ORIGIN + "/")
            money, logic, chart = page.evaluate(MONEY), page.evaluate(LOGIC), page.evaluate(CHART)
            signin = page.evaluate(SIGN_IN)
        finally:
            browser.close()
    assert errors == []
    assert money == {
        "small": "$0.00004",
        "rounded": "$12.3457",
        "big": "$1,234,567.891",
        "negative": "\u2212$1.50",
        "zero": "$0.00",
        "missing": "—",
        "hostile": "<b>1</b>",  # not a decimal: shown as the text it is
        "euro": "EUR 5.00",
        "perRequest": "$0.000075",
        "exact": "-0.2",  # not -0.19999999999999998
        "longFraction": "0.999999999999",  # 12 places, as stored (NUMERIC(28, 12)): the 13th is dropped
        "order": [1, -1, -1, 0],
        "notDecimal": [None, None, None, True],
        "negativeFlags": [True, False, False],
        "days": [True, False, False, False],
        "shifted": ["2025-02-28", "2025-01-01"],
        "percents": ["12.35 %", "—", "12.5 %", "—", "1,234,567"],
    }
    # Seven costliest groups and "Other" (m7..m9 and the group-less row); rows outside the period ignored.
    assert [name for name, _ in logic["series"]] == ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "Other"]
    assert logic["series"][0][1] == [10, 0]
    assert logic["series"][-1][1] == [6, 0.5]
    assert logic["budget"] == ["25.0 % of $10.00 (lifetime)", "125.0 % of $4.00 this 1mo period", "No budget set"]
    assert logic["created"] == {"rpm_limit": 7, "models": ["a", "b"]}
    assert logic["changed"] == {"max_budget": None, "key_alias": "y"}  # emptied = cleared; unchanged = not sent
    assert logic["rule"] == {
        "name": "n",
        "kind": "margin",
        "enabled": True,
        "scope": {"entity": "customer", "ids": None},
        "margin_pct": "-5",
        "period_days": 14,
        "channels": [{"type": "email", "to": ["a@x.io", "b@x.io"]}],
    }
    assert logic["payloads"] == [["messages", [{"role": "user", "content": "hi"}]]]
    assert logic["cheapest"] == ["b", None, None]
    assert logic["prices"] == ["$2.50 in / $10.00 out per 1M tokens", "—"]
    assert chart["role"] == "img"
    assert chart["title"] == "Spend <script>"
    assert chart["labelledBy"] is True
    assert chart["bars"] == 3  # the non-zero segments (a zero draws nothing)
    assert "2025-06-01 · <img src=x onerror=alert(1)>: 1.5" in chart["barTitles"]
    assert chart["legend"] == ["<img src=x onerror=alert(1)>", "b"]
    assert chart["tableRows"] == ["2025-06-01" + "1.5" + "0.5" + "2", "2025-06-02" + "0" + "2" + "2"]  # + totals
    assert chart["images"] == 0
    # The SSO button only when the gateway has a provider configured (GET /ui/config); the notice is shown.
    assert signin["true"]["link"] == ["Sign in with SSO", "/ui/sso/login"]
    assert signin["false"]["link"] is None
    assert "Your session has ended." in signin["false"]["text"]
