// Customers: spend, revenue and margin per customer for a period (GET /margin), least profitable first, the last
// 7 days by default. A customer that lost money is highlighted and marked "Loss" in text, with a "Simulate cheaper
// model" action prefilled for that customer and period.

import { customerLink, customerName, loading, marginBadge, navigate, periodFrom, simulateLink } from "./common.js";
import { h, note, pageHeading, replace } from "./dom.js";
import { periodPicker } from "./forms.js";
import { count, isNegative, money, percent } from "./format.js";
import { sortableTable } from "./table.js";

function columns(period) {
  return [
    {
      key: "customer_id",
      label: "Customer",
      sortable: true,
      value: (row) => customerName(row.customer_id),
      cell: (row) => customerLink(row.customer_id, period),
    },
    { key: "cost", label: "Spend", type: "money", sortable: true, cell: (row) => money(row.cost) },
    { key: "revenue", label: "Revenue", type: "money", sortable: true, cell: (row) => money(row.revenue) },
    {
      key: "margin",
      label: "Margin",
      type: "money",
      sortable: true,
      cell: (row) => h("span", { class: "margin" }, money(row.margin), marginBadge(row.margin)),
    },
    { key: "margin_pct", label: "Margin %", type: "number", sortable: true, cell: (row) => percent(row.margin_pct, 2) },
    { key: "requests", label: "Requests", type: "number", sortable: true, cell: (row) => count(row.requests) },
    {
      key: "unpriced_requests",
      label: "Unpriced requests",
      type: "number",
      sortable: true,
      cell: (row) => count(row.unpriced_requests),
    },
    {
      key: "action",
      label: "Action",
      cell: (row) => (row.customer_id !== null && isNegative(row.margin) ? simulateLink(row.customer_id, period) : "—"),
    },
  ];
}

function totalsOf(totals, rows) {
  const losing = rows.filter((row) => isNegative(row.margin)).length;
  const items = [
    ["Customers", count(rows.length)],
    ["Losing money", count(losing)],
    ["Spend", money(totals.cost)],
    ["Revenue", money(totals.revenue)],
    ["Margin", money(totals.margin)],
    ["Margin %", percent(totals.margin_pct, 2)],
  ];
  return h(
    "dl",
    { class: "kpis" },
    items.map(([label, value]) => h("div", { class: "kpi" }, h("dt", {}, label), h("dd", {}, value))),
  );
}

function otherCurrencies(others) {
  if (!others || !others.length) return null;
  return h(
    "section",
    { class: "panel", "aria-label": "Revenue in other currencies" },
    h("h2", {}, "Revenue in other currencies"),
    note("Spend is priced in USD; revenue in other currencies is listed here, never converted or added to the margin."),
    h(
      "ul",
      {},
      others.map((row) =>
        h("li", {}, `${customerName(row.customer_id)}: ${money(row.revenue, { currency: row.currency })}`),
      ),
    ),
  );
}

/** The customers page. */
export async function render(ctx) {
  const period = periodFrom(ctx.query, 7);
  const results = h("div", {}, loading("customers"));
  const csv = `/margin?${new URLSearchParams({ start: period.start, end: period.end, format: "csv" })}`;
  replace(
    ctx.main,
    pageHeading("Customers"),
    h(
      "p",
      { class: "lead" },
      "What each customer cost and paid in the period, least profitable first. Rows of customers who lost money are ",
      "marked “Loss”; “Simulate cheaper model” shows what switching them to another model would save.",
    ),
    periodPicker({ ...period, onApply: (chosen) => navigate("customers", chosen) }),
    results,
  );
  ctx.status("Loading customers…");
  const report = await ctx.api.get("/margin", { start: period.start, end: period.end, group_by: "customer" });
  if (!ctx.alive()) return;
  const rows = report.rows || [];
  replace(
    results,
    totalsOf(report.totals || {}, rows),
    sortableTable({
      caption: `Customers from ${period.start} to ${period.end} (USD)`,
      columns: columns(period),
      rows,
      sort: { key: "margin", dir: "asc" },
      rowClass: (row) => (isNegative(row.margin) ? "loss" : null),
      empty: "No customer traffic or revenue in this period.",
    }),
    h("p", {}, h("a", { href: csv, download: "" }, "Download as CSV")),
    otherCurrencies(report.other_currencies),
  );
  ctx.status(`${count(rows.length)} customers loaded.`);
}
