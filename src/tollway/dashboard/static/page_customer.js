// One customer: budget state (GET /customer/info), margin of the period, spend per day, and spend by model and by
// feature (GET /margin?customer_id=&group_by=day|model|feature; 30 days by default).

import { describe } from "./api.js";
import { groupedBars, stackedBars } from "./charts.js";
import { daysOf, loading, marginBadge, navigate, periodFrom, simulateLink } from "./common.js";
import { h, note, pageHeading, replace, route } from "./dom.js";
import { periodPicker } from "./forms.js";
import { count, isNegative, money, percent, scaled, when } from "./format.js";
import { sortableTable } from "./table.js";

function details(pairs) {
  return h(
    "dl",
    { class: "details" },
    pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value ?? "—")]),
  );
}

/** How much of its budget a customer has used, as text ("42.0 % of $10.00 this 1mo period"). */
export function budgetUse(info) {
  const limit = scaled(info.max_budget);
  if (limit === null || limit === 0n) return "No budget set";
  const spent = scaled(info.budget_duration ? info.budget_period_spend : info.spend) ?? 0n;
  const share = Number((spent * 10000n) / limit) / 100;
  const period = info.budget_duration ? ` this ${info.budget_duration} period` : " (lifetime)";
  return `${share.toFixed(1)} % of ${money(info.max_budget)}${period}`;
}

async function budget(ctx, id, into) {
  try {
    const info = await ctx.api.get("/customer/info", { customer_id: id });
    if (!ctx.alive()) return;
    replace(
      into,
      h("h2", {}, "Budget"),
      details([
        ["State", info.blocked ? h("span", { class: "badge badge-blocked" }, "Blocked") : "Active"],
        ["Plan", info.plan],
        ["Budget used", budgetUse(info)],
        ["Max budget", info.max_budget === null ? "None" : money(info.max_budget)],
        ["Soft budget", info.soft_budget === null ? "None" : money(info.soft_budget)],
        ["Budget period", info.budget_duration || "None (lifetime)"],
        ["Spend this period", info.budget_duration ? money(info.budget_period_spend) : "—"],
        ["Budget resets", when(info.budget_reset_at)],
        ["Lifetime spend", money(info.spend)],
        ["Requests per minute limit", info.rpm_limit ?? "None"],
        ["Tokens per minute limit", info.tpm_limit ?? "None"],
      ]),
      h("p", {}, h("a", { href: route("customer-admin", { focus: id }) }, "Edit limits and budget")),
    );
  } catch (error) {
    if (!ctx.alive()) return;
    const text =
      error.status === 404
        ? "This customer has no record: the gateway's default customer limits apply. " +
          "Create it under Customer admin to set a budget."
        : `Budget state is not available: ${describe(error)}`;
    replace(into, h("h2", {}, "Budget"), note(text));
  }
}

function breakdown(rows, key, label, period) {
  const names = rows.map((row) => row[key] ?? "(none)");
  const listing = rows.map((row, index) => `${names[index]} ${money(row.cost)}`).join(", ");
  return [
    rows.length
      ? groupedBars({
          title: `Spend by ${label}`,
          description: `Spend by ${label} from ${period.start} to ${period.end}: ${listing}.`,
          categories: names,
          series: [{ name: "Spend", values: rows.map((row) => row.cost) }],
          format: (value) => money(value),
          caption: `Spend by ${label} (USD)`,
          categoryLabel: label[0].toUpperCase() + label.slice(1),
        })
      : note(`No spend by ${label} in this period.`),
  ];
}

function daily(rows, period) {
  const days = daysOf(period.start, period.end);
  const byDay = new Map(rows.map((row) => [row.day, row]));
  const spend = days.map((day) => byDay.get(day)?.cost ?? "0");
  const chart = stackedBars({
    title: "Spend per day",
    description: `This customer's spend per day from ${period.start} to ${period.end}.`,
    categories: days,
    series: [{ name: "Spend", values: spend }],
    format: (value) => money(value),
    caption: "Spend per day (USD)",
  });
  const table = sortableTable({
    caption: "Spend, revenue and margin per day",
    columns: [
      { key: "day", label: "Day", sortable: true },
      { key: "cost", label: "Spend", type: "money", sortable: true, cell: (row) => money(row.cost) },
      { key: "revenue", label: "Revenue", type: "money", sortable: true, cell: (row) => money(row.revenue) },
      {
        key: "margin",
        label: "Margin",
        type: "money",
        sortable: true,
        cell: (row) => h("span", {}, money(row.margin), marginBadge(row.margin)),
      },
      { key: "requests", label: "Requests", type: "number", sortable: true, cell: (row) => count(row.requests) },
    ],
    rows,
    sort: { key: "day", dir: "desc" },
    rowClass: (row) => (isNegative(row.margin) ? "loss" : null),
    pageSize: 31,
  });
  return [chart, table];
}

/** The page of one customer (#/customers/<id>). */
export async function render(ctx) {
  const id = ctx.parts[0];
  const period = periodFrom(ctx.query, 30);
  const budgetPanel = h("section", { class: "panel", "aria-label": "Budget" }, loading("budget"));
  const body = h("div", {}, loading("margin"));
  replace(
    ctx.main,
    pageHeading(`Customer ${id}`),
    h(
      "div",
      { class: "actions" },
      simulateLink(id, period),
      h(
        "a",
        { class: "button", href: route("logs", { customer_id: id, start_date: period.start, end_date: period.end }) },
        "Requests of this customer",
      ),
      h("a", { class: "button", href: route("customers", period) }, "All customers"),
    ),
    periodPicker({ ...period, onApply: (chosen) => navigate("customers", chosen, id) }),
    budgetPanel,
    body,
  );
  ctx.status(`Loading customer ${id}…`);
  const query = { start: period.start, end: period.end, customer_id: id };
  const pendingBudget = budget(ctx, id, budgetPanel);
  const [total, days, models, features] = await Promise.all(
    ["customer", "day", "model", "feature"].map((group_by) => ctx.api.get("/margin", { ...query, group_by })),
  );
  if (!ctx.alive()) return;
  const totals = total.totals || {};
  replace(
    body,
    h("h2", {}, "Margin in the period"),
    details([
      ["Spend", money(totals.cost)],
      ["Revenue", money(totals.revenue)],
      ["Margin", h("span", {}, money(totals.margin), marginBadge(totals.margin))],
      ["Margin %", percent(totals.margin_pct, 2)],
      ["Requests", count(totals.requests)],
      ["Unpriced requests", count(totals.unpriced_requests)],
    ]),
    h("h2", {}, "Over time"),
    daily(days.rows || [], period),
    h("h2", {}, "By model"),
    breakdown(models.rows || [], "model", "model", period),
    h("h2", {}, "By feature"),
    breakdown(features.rows || [], "feature", "feature", period),
  );
  await pendingBudget;
  ctx.status(`Customer ${id} loaded.`);
}
