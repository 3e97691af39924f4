// Models: the deployments behind each public model name with their health and cooldown (GET /model/info), and a
// health check run on demand (GET /health sends each model group a one-token request, so never automatically).

import { describe } from "./api.js";
import { h, note, pageHeading, replace } from "./dom.js";
import { count } from "./format.js";
import { plainTable } from "./table.js";

function health(row) {
  if (row.healthy === true) return "Healthy";
  if (row.healthy === false) return h("span", { class: "badge badge-loss" }, "Unhealthy");
  return "Unknown";
}

function cooldown(row) {
  const seconds = Number(row.cooldown_seconds || 0);
  return seconds > 0 ? `Cooling down: ${seconds.toFixed(1)} s left` : "None";
}

/** Per-token prices from model_info, per million tokens, as text. */
export function prices(info) {
  const per = (value) => (value === null || value === undefined ? null : `$${(Number(value) * 1e6).toFixed(2)}`);
  const input = per(info && info.input_cost_per_token);
  const output = per(info && info.output_cost_per_token);
  if (!input && !output) return "—";
  return `${input || "?"} in / ${output || "?"} out per 1M tokens`;
}

async function runHealth(ctx, into, button) {
  button.disabled = true;
  ctx.status("Probing every model group…");
  replace(into, note("Probing every model group…"));
  try {
    const answer = await ctx.api.get("/health");
    if (!ctx.alive()) return;
    const rows = [
      ...(answer.healthy_endpoints || []).map((row) => ({ ...row, state: "Healthy" })),
      ...(answer.unhealthy_endpoints || []).map((row) => ({ ...row, state: "Unhealthy" })),
    ];
    replace(
      into,
      plainTable({
        caption: `Health check: ${count(answer.healthy_count)} healthy, ${count(answer.unhealthy_count)} unhealthy`,
        columns: [
          { key: "model", label: "Model group" },
          { key: "state", label: "State" },
          { key: "error", label: "Error" },
        ],
        rows,
        empty: "No model group could be probed.",
      }),
      answer.skipped && answer.skipped.length ? note(`Not probed (wildcards): ${answer.skipped.join(", ")}`) : null,
    );
    ctx.status("Health check done.");
  } catch (error) {
    if (ctx.alive())
      replace(into, h("p", { class: "form-error", role: "alert" }, `Health check failed: ${describe(error)}`));
  } finally {
    button.disabled = false;
  }
}

/** The models page. */
export async function render(ctx) {
  const results = h("div", { "aria-live": "polite" });
  const check = h("button", { type: "button", class: "primary" }, "Run health check");
  check.addEventListener("click", () => runHealth(ctx, results, check));
  const listing = h("div", {}, note("Loading models…"));
  replace(
    ctx.main,
    pageHeading("Models"),
    h("p", { class: "lead" }, "The deployments behind each model name. Credentials are never shown."),
    listing,
    h("h2", {}, "Health"),
    h("p", {}, "A health check sends every model group a one-token request (it costs a little)."),
    check,
    results,
  );
  ctx.status("Loading models…");
  const info = await ctx.api.get("/model/info");
  if (!ctx.alive()) return;
  const rows = info.data || [];
  replace(
    listing,
    plainTable({
      caption: `Deployments (${rows.length})`,
      columns: [
        { key: "model_name", label: "Model name" },
        { key: "deployment", label: "Deployment", cell: (row) => row.deployment_id || row.model_id || "—" },
        { key: "provider", label: "Provider" },
        { key: "model", label: "Upstream model" },
        { key: "healthy", label: "Health", cell: health },
        { key: "cooldown", label: "Cooldown", cell: cooldown },
        {
          key: "prices",
          label: "Prices",
          cell: (row) => prices({ ...(row.litellm_params || {}), ...(row.model_info || {}) }),
        },
      ],
      rows,
      empty: "No deployments configured.",
    }),
  );
  ctx.status(`${rows.length} deployments.`);
}
