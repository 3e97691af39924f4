// Overview: who lost money in the period (the question the dashboard must answer first), then spend per day
// stacked by model or provider, the traffic figures and the top spenders, from GET /global/spend/summary (built on
// the daily rollups: fast on millions of spend rows) and GET /margin.

import { describe } from "./api.js";
import { stackedBars } from "./charts.js";
import { customerLink, daysOf, loading, navigate, periodFrom, simulateLink } from "./common.js";
import { h, note, pageHeading, replace, route } from "./dom.js";
import { field, periodPicker } from "./forms.js";
import { count, isNegative, millis, money, ratio } from "./format.js";
import { plainTable } from "./table.js";

const MAX_SERIES = 8; // more colours than this are unreadable: the rest is "Other"
const LOSSES_SHOWN = 5;

/** The daily rows as chart series: the `MAX_SERIES` - 1 costliest groups and "Other". */
export function seriesOf(daily, days) {
  const totals = new Map();
  for (const row of daily) totals.set(row.group, (totals.get(row.group) || 0) + Number(row.cost || 0));
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([group]) => group);
  const kept = ranked.length > MAX_SERIES ? ranked.slice(0, MAX_SERIES - 1) : ranked;
  const index = new Map(days.map((day, position) => [day, position]));
  const series = kept.map((group) => ({ name: group ?? "(none)", key: group, values: days.map(() => 0) }));
  const other = { name: "Other", values: days.map(() => 0) };
  for (const row of daily) {
    const position = index.get(row.day);
    if (position === undefined) continue;
    const target = series.find((one) => one.key === row.group) || other;
    target.values[position] += Number(row.cost || 0);
  }
  return ranked.length > kept.length ? [...series, other] : series;
}

function kpis(totals) {
  const items = [
    ["Spend", money(totals.cost)],
    ["Requests", count(totals.requests)],
    ["Input tokens", count(totals.input_tokens)],
    ["Output tokens", count(totals.output_tokens)],
    ["Error rate", ratio(totals.error_rate, 2)],
    ["Latency p50", millis(totals.latency_p50_ms)],
    ["Latency p95", millis(totals.latency_p95_ms)],
    ["Gateway overhead p50", millis(totals.overhead_p50_ms)],
    ["Cache hit rate", ratio(totals.cache_hit_rate)],
  ];
  return h(
    "dl",
    { class: "kpis" },
    items.map(([label, value]) => h("div", { class: "kpi" }, h("dt", {}, label), h("dd", {}, value))),
  );
}

function topTable(title, rows, nameCell) {
  return plainTable({
    caption: title,
    columns: [
      { key: "name", label: "Name", cell: nameCell },
      { key: "cost", label: "Spend", type: "money", cell: (row) => money(row.cost) },
      { key: "requests", label: "Requests", type: "number", cell: (row) => count(row.requests) },
    ],
    rows: rows || [],
    empty: "No traffic in this period.",
  });
}

function tops(top, period) {
  const named = (row) => row.name || row.id || "(none)";
  return h(
    "div",
    { class: "grid-2" },
    topTable("Top customers", top.customers, (row) => customerLink(row.id ?? null, period)),
    topTable("Top models", top.models, named),
    topTable("Top keys", top.keys, (row) =>
      row.id ? h("a", { href: route("logs", { api_key: row.id }) }, named(row)) : named(row),
    ),
    topTable("Top teams", top.teams, named),
  );
}

async function losses(ctx, period, into) {
  try {
    const report = await ctx.api.get("/margin", { start: period.start, end: period.end });
    if (!ctx.alive()) return;
    const lost = (report.rows || []).filter((row) => isNegative(row.margin)).slice(0, LOSSES_SHOWN);
    const body = lost.length
      ? plainTable({
          caption: "Least profitable customers first",
          columns: [
            { key: "customer_id", label: "Customer", cell: (row) => customerLink(row.customer_id, period) },
            {
              key: "margin",
              label: "Margin",
              type: "money",
              cell: (row) => h("span", {}, money(row.margin), " ", h("span", { class: "badge badge-loss" }, "Loss")),
            },
            { key: "cost", label: "Spend", type: "money", cell: (row) => money(row.cost) },
            { key: "revenue", label: "Revenue", type: "money", cell: (row) => money(row.revenue) },
            {
              key: "action",
              label: "Action",
              cell: (row) => (row.customer_id === null ? "—" : simulateLink(row.customer_id, period)),
            },
          ],
          rows: lost,
        })
      : note("No customer lost money in this period.");
    replace(
      into,
      h("h2", {}, `Customers who lost money (${period.start} to ${period.end})`),
      body,
      h(
        "p",
        {},
        h("a", { href: `#/customers?start=${period.start}&end=${period.end}` }, "See every customer's margin"),
      ),
    );
  } catch (error) {
    if (ctx.alive())
      replace(into, h("h2", {}, "Customers who lost money"), note(`Margin is not available: ${describe(error)}`));
  }
}

/** The overview page. */
export async function render(ctx) {
  const period = periodFrom(ctx.query, 7);
  const group = ctx.query.get("group") === "provider" ? "provider" : "model";
  const groupField = field({
    name: "group",
    label: "Stack spend by",
    type: "select",
    options: [
      ["model", "Model"],
      ["provider", "Provider"],
    ],
    value: group,
  });
  const picker = periodPicker({
    ...period,
    extra: [groupField.node],
    onApply: (chosen) => navigate("overview", { ...chosen, group: groupField.control.value }),
  });
  const lossPanel = h("section", { class: "panel", "aria-label": "Customers who lost money" }, loading("margins"));
  const body = h("div", {}, loading("spend"));
  replace(
    ctx.main,
    pageHeading("Overview"),
    h("p", { class: "lead" }, "Spend and traffic through this gateway, per UTC day. Amounts are in USD."),
    picker,
    lossPanel,
    body,
  );
  ctx.status("Loading the overview…");
  const pending = losses(ctx, period, lossPanel);
  const summary = await ctx.api.get("/global/spend/summary", { start: period.start, end: period.end, group });
  if (!ctx.alive()) return;
  const days = daysOf(period.start, period.end);
  const series = seriesOf(summary.daily || [], days);
  const totals = summary.totals || {};
  const chart = series.length
    ? stackedBars({
        title: `Spend per day by ${group}`,
        description:
          `Spend from ${period.start} to ${period.end}: ${money(totals.cost)} ` +
          `over ${count(totals.requests)} requests, ` +
          `stacked by ${group} (${series.map((one) => one.name).join(", ")}).`,
        categories: days,
        series,
        format: (value) => money(value),
        caption: `Spend per day, stacked by ${group} (USD)`,
      })
    : note("No spend in this period yet.");
  replace(
    body,
    kpis(totals),
    h("h2", {}, "Spend per day"),
    chart,
    h("h2", {}, "Top spenders"),
    tops(summary.top || {}, period),
  );
  await pending;
  ctx.status(`Overview for ${period.start} to ${period.end} loaded.`);
}
