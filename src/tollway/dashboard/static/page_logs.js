// Request log: spend rows newest first (GET /spend/logs), filtered and paged by the gateway, with a detail view of
// one row. Prompt and response are shown only when the row carries them (prompt logging on); rows land about a
// second after their request (they are written in batches).

import { customerLink, navigate } from "./common.js";
import { h, note, pageHeading, replace } from "./dom.js";
import { errorRegion, field, showError, values } from "./forms.js";
import { count, isDay, millis, money, when } from "./format.js";
import { pager, plainTable } from "./table.js";

const FILTERS = [
  { name: "api_key", label: "Key or key hash" },
  { name: "customer_id", label: "Customer id" },
  { name: "team_id", label: "Team id" },
  { name: "user_id", label: "User id" },
  { name: "model", label: "Model" },
  { name: "start_date", label: "From (UTC)", type: "date" },
  { name: "end_date", label: "To (UTC, inclusive)", type: "date" },
];
const SIZES = ["25", "50", "100"];
// Fields a row may carry when prompt logging is on (spend rows have none of them otherwise).
const PAYLOAD_FIELDS = ["messages", "prompt", "response", "completion", "input", "output"];

function detailValue(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") {
    if (!Object.keys(value).length) return "—";
    return h("pre", { class: "payload" }, JSON.stringify(value, null, 2));
  }
  return String(value);
}

/** The parts of a row (or of its metadata) that hold the prompt or the response. */
export function payloads(row) {
  const found = [];
  for (const source of [row, row.metadata || {}]) {
    for (const name of PAYLOAD_FIELDS) {
      if (source[name] !== undefined && source[name] !== null && source[name] !== "") found.push([name, source[name]]);
    }
  }
  return found;
}

function detail(row, onClose) {
  const title = h("h2", { tabindex: "-1" }, `Request ${row.request_id || row.id}`);
  const skip = new Set([
    "api_key",
    "startTime",
    "end_user",
    "prompt_tokens",
    "completion_tokens",
    "spend",
    ...PAYLOAD_FIELDS,
  ]);
  const pairs = Object.entries(row).filter(([name]) => !skip.has(name));
  const shown = payloads(row);
  const panel = h(
    "section",
    { class: "panel", "aria-label": "Request details" },
    title,
    h(
      "dl",
      { class: "details" },
      pairs.map(([name, value]) => [h("dt", {}, name), h("dd", {}, detailValue(value))]),
    ),
    shown.length
      ? shown.map(([name, value]) => [
          h("h3", {}, name),
          h("pre", { class: "payload" }, typeof value === "string" ? value : JSON.stringify(value, null, 2)),
        ])
      : note("Prompt and response are not stored for this request (prompt logging is off)."),
    h("div", { class: "actions" }, h("button", { type: "button", onclick: onClose }, "Close details")),
  );
  return { panel, title };
}

/** The filter form: its values become the page's query (so a filtered view can be bookmarked and shared). */
function filterForm(given, size) {
  const errors = errorRegion();
  const clear = h("button", { type: "button", onclick: () => navigate("logs", {}) }, "Clear filters");
  const form = h(
    "form",
    { class: "toolbar", "aria-label": "Filter requests" },
    FILTERS.map((spec) => field({ ...spec, value: given[spec.name] }).node),
    field({ name: "page_size", label: "Rows per page", type: "select", options: SIZES, value: size }).node,
    h("div", { class: "field field-button" }, h("button", { type: "submit", class: "primary" }, "Filter")),
    h("div", { class: "field field-button" }, clear),
    errors,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = values(form);
    const bad = ["start_date", "end_date"].find((name) => chosen[name] && !isDay(chosen[name]));
    if (bad) return showError(form, errors, "Dates are YYYY-MM-DD.", bad);
    navigate("logs", { ...chosen, page: 1 });
  });
  return form;
}

function detailsButton(row, open) {
  const button = h(
    "button",
    { type: "button", "aria-label": `Details of request ${row.request_id || row.id}` },
    "Details",
  );
  button.addEventListener("click", () => open(row, button));
  return button;
}

/** The columns of the log; `open(row, button)` shows a row's details. */
function columns(open) {
  const key = (row) => row.key_name || (row.key_hash ? `${row.key_hash.slice(0, 8)}…` : "master key");
  const cost = (row) => (row.cost === null ? "Unpriced" : money(row.cost, { places: 6 }));
  const status = (row) => (row.status >= 400 ? `${row.status} error` : String(row.status ?? "—"));
  return [
    { key: "ts", label: "Time", cell: (row) => when(row.ts) },
    { key: "key_name", label: "Key", cell: key },
    { key: "model_group", label: "Model", cell: (row) => row.model_group || row.model },
    { key: "customer_id", label: "Customer", cell: (row) => (row.customer_id ? customerLink(row.customer_id) : "—") },
    { key: "input_tokens", label: "Input tokens", type: "number", cell: (row) => count(row.input_tokens) },
    { key: "output_tokens", label: "Output tokens", type: "number", cell: (row) => count(row.output_tokens) },
    { key: "cost", label: "Cost", type: "money", cell: cost },
    { key: "latency_ms", label: "Latency", type: "number", cell: (row) => millis(row.latency_ms) },
    { key: "status", label: "Status", cell: status },
    { key: "details", label: "Details", cell: (row) => detailsButton(row, open) },
  ];
}

/** The request log page. */
export async function render(ctx) {
  const page = Math.max(1, Number.parseInt(ctx.query.get("page") || "1", 10) || 1);
  const size = SIZES.includes(ctx.query.get("page_size")) ? ctx.query.get("page_size") : "50";
  const given = Object.fromEntries(FILTERS.map((spec) => [spec.name, ctx.query.get(spec.name) || ""]));
  const detailSlot = h("div", {});
  const listing = h("div", {}, note("Loading requests…"));
  const lead = "Every request through the gateway, newest first. Rows arrive about a second after their request.";
  replace(
    ctx.main,
    pageHeading("Request log"),
    h("p", { class: "lead" }, lead),
    filterForm(given, size),
    detailSlot,
    listing,
  );
  ctx.status("Loading requests…");
  const answer = await ctx.api.get("/spend/logs", { ...given, page, page_size: size });
  if (!ctx.alive()) return;
  const open = (row, button) => {
    const { panel, title } = detail(row, () => {
      replace(detailSlot);
      button.focus();
    });
    replace(detailSlot, panel);
    title.focus();
  };
  const total = answer.total || 0;
  replace(
    listing,
    plainTable({
      caption: `Requests, page ${page}`,
      columns: columns(open),
      rows: answer.data || [],
      empty: "No requests match these filters.",
    }),
    pager({
      page,
      totalPages: answer.total_pages || 1,
      total,
      label: "Request log pages",
      onPage: (next) => navigate("logs", { ...given, page_size: size, page: next }),
    }),
  );
  ctx.status(`${count(total)} ${total === 1 ? "request" : "requests"}.`);
}
