// Simulator: what a period would have cost with other models (POST /simulate): substitutions "from -> to" picked
// from the gateway's models, a scope of customers and features, then baseline vs simulated cost as a chart and
// each customer's margin before and after as a table. Opened from a losing customer's "Simulate cheaper model",
// it comes prefilled (that customer, the period, its costliest model, the cheapest other model) and runs at once.

import { describe } from "./api.js";
import { groupedBars } from "./charts.js";
import { customerLink, customerName, periodFrom } from "./common.js";
import { h, idFactory, note, pageHeading, replace } from "./dom.js";
import { errorRegion, field, showError } from "./forms.js";
import { compareDecimal, count, isDay, isNegative, money, percent, scaled, subtract } from "./format.js";
import { sortableTable } from "./table.js";

const ids = idFactory("sim");
const isPositive = (value) => scaled(value) !== null && scaled(value) > 0n;
const MAX_TRIALS = 6; // simulations tried to find the cheapest model when /model/info knows no prices

/** Model names the pickers offer (public model names and underlying models) and input prices, from /model/info. */
async function modelChoices(api) {
  const names = new Set();
  const groups = new Set();
  const prices = new Map();
  try {
    const info = await api.get("/model/info");
    for (const row of info.data || []) {
      for (const name of [row.model_name, row.model]) if (name && !name.includes("*")) names.add(name);
      if (row.model_name && !row.model_name.includes("*")) groups.add(row.model_name);
      // Catalog prices are in model_info; a deployment's own price override may be in its litellm_params.
      const price = row.model_info?.input_cost_per_token ?? row.litellm_params?.input_cost_per_token;
      if (row.model_name && price !== undefined && price !== null) prices.set(row.model_name, Number(price));
    }
  } catch (error) {
    if (error.status === 401) throw error;
    // without /model/info the pickers take free text
  }
  return { names: [...names].sort(), groups: [...groups].sort(), prices };
}

/** The cheapest model other than `from` by input price, when /model/info says prices. */
export function cheapestOther(prices, from) {
  let best = null;
  for (const [name, price] of prices) {
    if (name === from || !Number.isFinite(price)) continue;
    if (best === null || price < best[1]) best = [name, price];
  }
  const current = prices.get(from);
  return best && (current === undefined || best[1] < current) ? best[0] : null;
}

function substitutionRow(listId, from = "", to = "", onRemove) {
  const fromField = field({
    name: "replace",
    label: "Replace model",
    value: from,
    list: listId,
    placeholder: "e.g. gpt-4o",
  });
  const toField = field({
    name: "replace_to",
    label: "with model",
    value: to,
    list: listId,
    placeholder: "e.g. gpt-4o-mini",
  });
  const row = h("div", { class: "form-grid substitution" }, fromField.node, toField.node);
  const remove = h("button", { type: "button", onclick: () => onRemove(row) }, "Remove substitution");
  row.append(h("div", { class: "field field-button" }, remove));
  return row;
}

function listOf(text) {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

function payloadOf(form, rows) {
  const replaceMap = {};
  for (const row of rows.querySelectorAll(".substitution")) {
    const [from, to] = [...row.querySelectorAll("input")].map((input) => input.value.trim());
    if (!from && !to) continue;
    if (!from || !to)
      return { error: "Each substitution needs a model to replace and a model to use instead.", param: "replace" };
    if (from === to) return { error: `“${from}” is replaced by itself.`, param: "replace" };
    replaceMap[from] = to;
  }
  if (!Object.keys(replaceMap).length) return { error: "Add at least one substitution.", param: "replace" };
  const start = form.elements.start.value;
  const end = form.elements.end.value;
  if (!isDay(start) || !isDay(end)) return { error: "Enter both dates as YYYY-MM-DD.", param: "start" };
  if (end < start) return { error: "The end date is before the start date.", param: "end" };
  const body = { start, end, replace: replaceMap };
  const customers = listOf(form.elements.customer_ids.value);
  const features = listOf(form.elements.features.value);
  if (customers.length) body.customer_ids = customers;
  if (features.length) body.features = features;
  return { body };
}

function summary(result) {
  const unpriced = result.unpriced || {};
  const items = [
    ["Baseline cost", money(result.baseline_cost)],
    ["Simulated cost", money(result.simulated_cost)],
    ["Savings", money(result.savings)],
    ["Savings %", percent(result.savings_pct, 2)],
    ["Margin before", money(result.margin_before)],
    ["Margin after", money(result.margin_after)],
    ["Requests re-priced", `${count(result.substituted_requests)} of ${count(result.requests)}`],
  ];
  const notes = [];
  if (unpriced.baseline_requests) {
    notes.push(
      `${count(unpriced.baseline_requests)} requests had no recorded price: they count as $0 on both sides ` +
        `(at the target's prices they would cost ${money(unpriced.simulated_cost_of_baseline_unpriced)}).`,
    );
  }
  if (unpriced.simulated_requests) {
    notes.push(
      `${count(unpriced.simulated_requests)} requests could not be priced at the target model: ` +
        "they keep their recorded cost.",
    );
  }
  return [
    h(
      "dl",
      { class: "kpis" },
      items.map(([label, value]) => h("div", { class: "kpi" }, h("dt", {}, label), h("dd", {}, value))),
    ),
    notes.map((text) => note(text, "warn")),
  ];
}

function ratios(row) {
  const items = row.tokenizer || [];
  if (!items.length) return "—";
  return items.map((one) => `${one.model} (${one.family}) × ${one.ratio}`).join("; ");
}

function substitutions(result) {
  const rows = result.substitutions || [];
  if (!rows.length) return null;
  return [
    h("h2", {}, "Substitutions"),
    sortableTable({
      caption: "Each substitution: what its requests cost and would cost",
      columns: [
        { key: "from", label: "From", sortable: true },
        {
          key: "to",
          label: "To",
          sortable: true,
          cell: (row) =>
            row.priced_as && row.priced_as !== row.to ? `${row.to} (priced as ${row.priced_as})` : row.to,
        },
        { key: "requests", label: "Requests", type: "number", sortable: true, cell: (row) => count(row.requests) },
        {
          key: "baseline_cost",
          label: "Baseline",
          type: "money",
          sortable: true,
          cell: (row) => money(row.baseline_cost),
        },
        {
          key: "simulated_cost",
          label: "Simulated",
          type: "money",
          sortable: true,
          cell: (row) => money(row.simulated_cost),
        },
        { key: "savings", label: "Savings", type: "money", sortable: true, cell: (row) => money(row.savings) },
        { key: "tokenizer", label: "Token ratio applied", cell: ratios },
      ],
      rows,
    }),
  ];
}

function withLoss(amount) {
  return h("span", {}, money(amount), isNegative(amount) ? h("span", { class: "badge badge-loss" }, "Loss") : null);
}

const marginChange = (row) => subtract(row.margin_after, row.margin_before);

/** The per-customer columns: costs, revenue, margins before and after, and the change. */
function customerColumns() {
  const amount = (key, label, cell = (row) => money(row[key])) => ({ key, label, type: "money", sortable: true, cell });
  return [
    {
      key: "customer_id",
      label: "Customer",
      sortable: true,
      value: (row) => customerName(row.customer_id),
      cell: (row) => customerLink(row.customer_id),
    },
    amount("baseline_cost", "Baseline cost"),
    amount("simulated_cost", "Simulated cost"),
    amount("revenue", "Revenue"),
    amount("margin_before", "Margin before", (row) => withLoss(row.margin_before)),
    amount("margin_after", "Margin after", (row) => withLoss(row.margin_after)),
    {
      key: "margin_pct_after",
      label: "Margin % after",
      type: "number",
      sortable: true,
      cell: (row) => percent(row.margin_pct_after, 2),
    },
    { ...amount("change", "Margin change", (row) => money(marginChange(row))), value: marginChange },
  ];
}

function customersTable(rows) {
  return sortableTable({
    caption: "Margin per customer, before and after",
    columns: customerColumns(),
    rows,
    sort: { key: "change", dir: "desc" },
    rowClass: (row) => (isNegative(row.margin_after) ? "loss" : null),
    empty: "No customer traffic in the scope and period.",
  });
}

function results(result, into) {
  const rows = [...(result.customers || [])].sort((a, b) =>
    compareDecimal(subtract(b.baseline_cost, b.simulated_cost), subtract(a.baseline_cost, a.simulated_cost)),
  );
  const chart = rows.length
    ? groupedBars({
        title: "Baseline vs simulated cost per customer",
        description:
          `Baseline ${money(result.baseline_cost)}, simulated ${money(result.simulated_cost)}, ` +
          `savings ${money(result.savings)}; ` +
          `largest savings first (${rows.length} customers).`,
        categories: rows.map((row) => customerName(row.customer_id)),
        series: [
          { name: "Baseline", values: rows.map((row) => row.baseline_cost) },
          { name: "Simulated", values: rows.map((row) => row.simulated_cost) },
        ],
        format: (value) => money(value),
        caption: "Baseline vs simulated cost per customer (USD), largest savings first",
        categoryLabel: "Customer",
      })
    : note("No traffic to re-price in this scope and period.");
  const lead =
    scaled(result.savings) !== null && scaled(result.savings) > 0n
      ? `Switching would have saved ${money(result.savings)} (${percent(result.savings_pct, 2)}) ` +
        `from ${result.start} to ${result.end}.`
      : `No savings: the simulated cost is ${money(result.simulated_cost)} against ${money(result.baseline_cost)}.`;
  replace(
    into,
    h("h2", { tabindex: "-1" }, "Result"),
    h("p", { class: "lead result-lead" }, lead),
    summary(result),
    chart,
    substitutions(result),
    h("h2", {}, "Per customer"),
    customersTable(rows),
    others(result),
  );
}

function otherRevenue(row) {
  return `${customerName(row.customer_id)} ${money(row.revenue, { currency: row.currency })}`;
}

function others(result) {
  const rows = result.other_currencies || [];
  if (!rows.length) return null;
  return note(`Revenue in other currencies is not in these margins: ${rows.map(otherRevenue).join(", ")}.`);
}

/**
 * The model that would have served `customer` cheapest instead of `from`: when no candidate has a known price,
 * each candidate (at most `MAX_TRIALS`, the customer's traffic only) is simulated and the largest saving wins.
 */
async function cheapestByTrial(api, customer, period, from, names) {
  const candidates = names.filter((name) => name !== from).slice(0, MAX_TRIALS);
  const trials = await Promise.all(
    candidates.map(async (to) => {
      try {
        const body = { ...period, replace: { [from]: to }, customer_ids: [customer] };
        return { to, savings: (await api.post("/simulate", body)).savings };
      } catch {
        return null; // not a chat model, not priced...: not a candidate
      }
    }),
  );
  const best = trials
    .filter((trial) => trial && isPositive(trial.savings))
    .sort((a, b) => compareDecimal(b.savings, a.savings))[0];
  return best ? best.to : "";
}

async function prefill(ctx, customer, period, models) {
  if (!customer || ctx.query.get("from")) return { from: ctx.query.get("from") || "", to: ctx.query.get("to") || "" };
  try {
    const report = await ctx.api.get("/margin", { ...period, customer_id: customer, group_by: "model" });
    const top = [...(report.rows || [])].sort((a, b) => compareDecimal(b.cost, a.cost))[0];
    const from = top && top.model ? top.model : "";
    if (!from) return { from: "", to: "" };
    const priced = cheapestOther(models.prices, from);
    const to =
      priced || (models.prices.size ? "" : await cheapestByTrial(ctx.api, customer, period, from, models.groups));
    return { from, to };
  } catch (error) {
    if (error.status === 401) throw error;
    return { from: "", to: "" };
  }
}

/** The substitution rows, with their add and remove buttons, over a shared list of model names. */
function substitutionsField(names, from, to) {
  const listId = ids("models");
  const rows = h("div", { class: "substitutions" });
  const remove = (row) => {
    row.remove();
    if (!rows.children.length) rows.append(substitutionRow(listId, "", "", remove));
  };
  rows.append(substitutionRow(listId, from, to, remove));
  const add = h("button", { type: "button" }, "Add substitution");
  add.addEventListener("click", () => rows.append(substitutionRow(listId, "", "", remove)));
  const datalist = h(
    "datalist",
    { id: listId },
    names.map((name) => h("option", { value: name })),
  );
  return { rows, node: h("fieldset", {}, h("legend", {}, "Substitutions"), rows, add, datalist) };
}

/** The simulation form: period, substitutions and scope. */
function simulationForm(period, customer, chosen, names) {
  const start = field({ name: "start", label: "From (UTC)", type: "date", value: period.start, required: true });
  const end = field({ name: "end", label: "To (UTC, inclusive)", type: "date", value: period.end, required: true });
  const customers = field({
    name: "customer_ids",
    label: "Customers",
    value: customer,
    hint: "Comma-separated ids; empty for every customer.",
  });
  const features = field({ name: "features", label: "Features", hint: "Comma-separated; empty for every feature." });
  const substitutions = substitutionsField(names, chosen.from, chosen.to);
  const errors = errorRegion();
  const run = h("button", { type: "submit", class: "primary" }, "Run simulation");
  const form = h(
    "form",
    { "aria-label": "Simulation" },
    h("fieldset", {}, h("legend", {}, "Period"), h("div", { class: "form-grid" }, start.node, end.node)),
    substitutions.node,
    h("fieldset", {}, h("legend", {}, "Scope"), h("div", { class: "form-grid" }, customers.node, features.node)),
    errors,
    h("div", { class: "actions" }, run),
  );
  return { form, rows: substitutions.rows, errors, run };
}

/** Runs the simulation the form describes and shows its result in `output`. */
async function simulate(ctx, { form, rows, errors, run }, output) {
  const made = payloadOf(form, rows);
  if (made.error) return showError(form, errors, made.error, made.param);
  showError(form, errors, "");
  run.disabled = true;
  ctx.status("Running the simulation…");
  try {
    const result = await ctx.api.post("/simulate", made.body);
    if (!ctx.alive()) return;
    results({ start: made.body.start, end: made.body.end, ...result }, output);
    output.querySelector("h2")?.focus();
    ctx.status("Simulation done.");
  } catch (error) {
    if (!ctx.alive()) return;
    showError(form, errors, `The simulation failed: ${describe(error)}`, error.param);
    ctx.status("");
  } finally {
    run.disabled = false;
  }
}

/** The simulator page. */
export async function render(ctx) {
  const period = periodFrom(ctx.query, 7);
  const customer = ctx.query.get("customer") || "";
  ctx.status("Loading models…");
  const models = await modelChoices(ctx.api);
  const chosen = await prefill(ctx, customer, period, models);
  if (!ctx.alive()) return;
  const parts = simulationForm(period, customer, chosen, models.names);
  const output = h(
    "section",
    { class: "panel", "aria-label": "Simulation result", "aria-live": "polite" },
    note("Run a simulation to see its result."),
  );
  parts.form.addEventListener("submit", (event) => {
    event.preventDefault();
    simulate(ctx, parts, output);
  });
  replace(
    ctx.main,
    pageHeading("Simulator"),
    h(
      "p",
      { class: "lead" },
      "Re-price the recorded traffic of a period as if other models had served it: " +
        "what it would have cost, and each customer's margin after.",
    ),
    parts.form,
    output,
  );
  ctx.status(models.names.length ? `${models.names.length} models to choose from.` : "");
  if (customer && chosen.from && chosen.to) parts.form.requestSubmit();
  else if (customer && chosen.from) parts.rows.querySelector("input[name=replace_to]")?.focus();
}
