// Alerts: the rules (GET/POST /alerts/rules, DELETE /alerts/rules/{id}) and the delivery history
// (GET /alerts/history, paged with limit/offset). A webhook secret the gateway generates is shown once.

import { describe } from "./api.js";
import { navigate } from "./common.js";
import { h, note, pageHeading, replace } from "./dom.js";
import { confirmAction, errorRegion, field, showError, showSecret, values } from "./forms.js";
import { when } from "./format.js";
import { pager, plainTable } from "./table.js";

const HISTORY_PAGE = 25;
const RULES_SHOWN = 100; // rules are few; more than this is a configuration to page through with the API
const ENTITIES = {
  budget: ["key", "user", "team", "customer"],
  margin: ["customer"],
  anomaly: ["key", "user", "team", "customer", "feature", "model", "tag", "all"],
};
const PARAMS = {
  budget: ["thresholds"],
  margin: ["margin_pct", "period_days", "min_amount"],
  anomaly: ["factor", "period_days", "min_amount"],
};

function listOf(text) {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** The rule payload of the create form (only the chosen kind's parameters). */
export function rulePayload(raw) {
  const body = {
    name: raw.name,
    kind: raw.kind,
    enabled: raw.enabled,
    scope: { entity: raw.entity, ids: raw.ids ? listOf(raw.ids) : null },
  };
  for (const name of PARAMS[raw.kind] || []) {
    if (raw[name] === "") continue;
    body[name] = name === "thresholds" ? listOf(raw[name]) : name === "period_days" ? Number(raw[name]) : raw[name];
  }
  const channel = { type: raw.channel_type };
  if (raw.channel_type === "email") channel.to = listOf(raw.channel_target);
  else channel.url = raw.channel_target;
  if (raw.channel_type === "webhook" && raw.channel_secret) channel.secret = raw.channel_secret;
  body.channels = [channel];
  return body;
}

function summaryOf(rule) {
  const params = PARAMS[rule.kind] || [];
  return params
    .map((name) => [name, rule[name]])
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([name, value]) => `${name.replace("_", " ")}: ${Array.isArray(value) ? value.join(", ") : value}`)
    .join("; ");
}

function channelsOf(rule) {
  return (rule.channels || [])
    .map((channel) => `${channel.type} → ${channel.type === "email" ? (channel.to || []).join(", ") : channel.url}`)
    .join("; ");
}

const KIND_OPTIONS = [
  ["budget", "Budget"],
  ["margin", "Margin"],
  ["anomaly", "Spend anomaly"],
];
const CHANNEL_OPTIONS = [
  ["webhook", "Signed webhook"],
  ["slack", "Slack"],
  ["email", "Email"],
];

/** The rule fields: which entity, and each kind's own parameters (shown only for that kind). */
function ruleFields() {
  const kind = field({ name: "kind", label: "Kind", type: "select", options: KIND_OPTIONS });
  const entity = field({ name: "entity", label: "Watches", type: "select", options: ENTITIES.budget });
  const specific = {
    thresholds: field({ name: "thresholds", label: "Thresholds (% of budget)", value: "50, 80, 100" }),
    margin_pct: field({ name: "margin_pct", label: "Margin below (%)", type: "money", value: "0" }),
    period_days: field({ name: "period_days", label: "Period (days)", type: "number", value: "30" }),
    factor: field({ name: "factor", label: "Factor over the average", type: "money", value: "3" }),
    min_amount: field({ name: "min_amount", label: "Minimum amount (USD)", type: "money", value: "1" }),
  };
  const sync = () => {
    const chosen = kind.control.value;
    for (const [name, one] of Object.entries(specific)) one.node.hidden = !PARAMS[chosen].includes(name);
    const previous = entity.control.value;
    const options = ENTITIES[chosen].map((name) => h("option", { value: name, selected: name === previous }, name));
    entity.control.replaceChildren(...options);
  };
  kind.control.addEventListener("change", sync);
  sync();
  const nodes = [
    field({ name: "name", label: "Name", required: true }).node,
    kind.node,
    entity.node,
    field({ name: "ids", label: "Ids", hint: "Comma-separated; empty for every one." }).node,
    Object.values(specific).map((one) => one.node),
  ];
  return { nodes, sync };
}

function channelFields() {
  return [
    field({ name: "channel_type", label: "Deliver by", type: "select", options: CHANNEL_OPTIONS }).node,
    field({ name: "channel_target", label: "URL or email addresses", required: true }).node,
    field({
      name: "channel_secret",
      label: "Webhook secret",
      type: "password",
      hint: "Empty: the gateway generates one and shows it once.",
    }).node,
    field({ name: "enabled", label: "Enabled", type: "checkbox", value: true }).node,
  ];
}

/** The form control a field the gateway refused is entered in ("channels[0].url" is the URL field). */
function controlOf(param) {
  if (!param) return null;
  return String(param)
    .replace(/^channels\[\d+\]\.(url|to)$/, "channel_target")
    .replace(/^scope\.ids.*/, "ids")
    .replace(/^scope\.entity$/, "entity");
}

async function showGenerated(answer) {
  for (const one of answer.generated_secrets || []) {
    await showSecret({
      title: "Webhook secret",
      label: "Secret",
      secret: one.secret,
      warning: "This is the only time this secret is shown: the receiver needs it to verify the signatures.",
    });
  }
}

function createForm(ctx, reload) {
  const rule = ruleFields();
  const errors = errorRegion();
  const form = h(
    "form",
    { "aria-label": "Create an alert rule" },
    h("div", { class: "form-grid" }, rule.nodes),
    h("div", { class: "form-grid" }, channelFields()),
    errors,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create rule")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, errors, "");
    try {
      const answer = await ctx.api.post("/alerts/rules", rulePayload(values(form)));
      form.reset();
      rule.sync();
      ctx.status(`Rule ${answer.name || ""} created.`);
      await showGenerated(answer);
      await reload();
    } catch (error) {
      showError(form, errors, describe(error), controlOf(error.param));
    }
  });
  return form;
}

/** The actions of one rule: send a test alert, delete (after a confirmation). */
function ruleActions(ctx, rule, reload) {
  const path = `/alerts/rules/${encodeURIComponent(rule.id)}`;
  const test = async () => {
    ctx.status(`Sending a test alert for ${rule.name}…`);
    try {
      ctx.status(`Test alert for ${rule.name}: ${(await ctx.api.post(`${path}/test`, {})).status}.`);
    } catch (error) {
      ctx.status(`Test alert failed: ${describe(error)}`);
    }
  };
  const remove = async () => {
    const message = `Delete the alert rule ${rule.name}? Its history is kept.`;
    if (!(await confirmAction(message, { title: "Delete alert rule" }))) return;
    try {
      await ctx.api.del(path);
      ctx.status(`Rule ${rule.name} deleted.`);
      await reload();
    } catch (error) {
      ctx.status(`Failed: ${describe(error)}`);
    }
  };
  const label = (verb) => `${verb} rule ${rule.name}`;
  return h(
    "div",
    { class: "actions" },
    h("button", { type: "button", "aria-label": label("Send a test alert for"), onclick: test }, "Send test"),
    h("button", { type: "button", class: "danger", "aria-label": label("Delete"), onclick: remove }, "Delete"),
  );
}

function scopeOf(rule) {
  const scope = rule.scope || {};
  return `${scope.entity || "—"}${scope.ids ? `: ${scope.ids.join(", ")}` : " (all)"}`;
}

async function rules(ctx, into) {
  const answer = await ctx.api.get("/alerts/rules", { page: 1, page_size: RULES_SHOWN });
  if (!ctx.alive()) return;
  const reload = () => rules(ctx, into);
  const total = Number(answer.total || (answer.data || []).length);
  replace(
    into,
    total > RULES_SHOWN ? note(`Showing the newest ${RULES_SHOWN} of ${total} rules.`) : null,
    plainTable({
      caption: "Alert rules, newest first",
      columns: [
        { key: "name", label: "Name" },
        { key: "kind", label: "Kind" },
        { key: "scope", label: "Watches", cell: scopeOf },
        { key: "params", label: "Parameters", cell: summaryOf },
        { key: "channels", label: "Delivered by", cell: channelsOf },
        { key: "enabled", label: "Enabled", cell: (rule) => (rule.enabled ? "Yes" : "No") },
        { key: "actions", label: "Actions", cell: (rule) => ruleActions(ctx, rule, reload) },
      ],
      rows: answer.data || [],
      empty: "No alert rules yet.",
    }),
    h("details", { class: "panel" }, h("summary", {}, "Create an alert rule"), createForm(ctx, reload)),
  );
}

function subjectOf(event) {
  const subject = event.subject || {};
  const who = subject.name || subject.id;
  return who ? `${subject.kind || ""} ${who}`.trim() : subject.kind || "—";
}

function deliveriesOf(event) {
  const items = event.deliveries || [];
  if (!items.length) return "—";
  return h(
    "ul",
    { class: "plain" },
    items.map((one) =>
      h(
        "li",
        {},
        `${one.channel} → ${one.target}: ${one.status}`,
        one.http_status ? ` (HTTP ${one.http_status})` : "",
        one.last_error ? ` — ${one.last_error}` : "",
      ),
    ),
  );
}

async function history(ctx, into, page) {
  const answer = await ctx.api.get("/alerts/history", { limit: HISTORY_PAGE, offset: (page - 1) * HISTORY_PAGE });
  if (!ctx.alive()) return;
  const rows = answer.data || [];
  const total = Number(answer.total || 0);
  replace(
    into,
    plainTable({
      caption: "Alerts fired and their deliveries, newest first",
      columns: [
        { key: "created_at", label: "Time", cell: (row) => when(row.created_at) },
        { key: "rule_name", label: "Rule", cell: (row) => row.rule_name || row.rule_id || "—" },
        { key: "subject", label: "Subject", cell: subjectOf },
        { key: "title", label: "Alert", cell: (row) => row.title || row.kind || "—" },
        { key: "status", label: "Status" },
        { key: "attempts", label: "Attempts", type: "number" },
        { key: "deliveries", label: "Deliveries", cell: deliveriesOf },
      ],
      rows,
      empty: "No alert has fired yet.",
    }),
    total > HISTORY_PAGE
      ? pager({
          page,
          totalPages: Math.ceil(total / HISTORY_PAGE),
          total,
          label: "History pages",
          onPage: (next) => navigate("alerts", { history_page: next }),
        })
      : null,
  );
}

/** The alerts page. */
export async function render(ctx) {
  const page = Math.max(1, Number.parseInt(ctx.query.get("history_page") || "1", 10) || 1);
  const rulesPanel = h("div", {}, note("Loading rules…"));
  const historyPanel = h("div", {}, note("Loading history…"));
  replace(
    ctx.main,
    pageHeading("Alerts"),
    h("p", { class: "lead" }, "Rules on budgets, customer margin and spend anomalies, and every delivery attempt."),
    h("h2", {}, "Rules"),
    rulesPanel,
    h("h2", {}, "History"),
    historyPanel,
  );
  ctx.status("Loading alerts…");
  try {
    await Promise.all([rules(ctx, rulesPanel), history(ctx, historyPanel, page)]);
    ctx.status("Alerts loaded.");
  } catch (error) {
    if (error.status === 404) {
      replace(rulesPanel, note("Alerts are not available on this gateway version."));
      replace(historyPanel);
      ctx.status("");
      return;
    }
    throw error;
  }
}
