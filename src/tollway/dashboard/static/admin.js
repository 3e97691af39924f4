// The admin pages of keys, teams and customers share one shape, built here from a description of the entity:
// a paged list (the gateway pages: 25 rows at a time), a create form, an edit panel for limits and budgets,
// block/unblock, and delete behind a confirmation.

import { describe } from "./api.js";
import { h, note, pageHeading, replace } from "./dom.js";
import { confirmAction, errorRegion, field, showError, values } from "./forms.js";
import { money } from "./format.js";
import { pager, plainTable } from "./table.js";

export const PAGE_SIZE = 25;

/** The budget and rate-limit fields every entity has (LiteLLM's names). */
export const LIMIT_FIELDS = [
  { name: "max_budget", label: "Max budget (USD)", type: "money", hint: "Empty for no budget." },
  { name: "soft_budget", label: "Soft budget (USD)", type: "money", hint: "Alerts only; never blocks." },
  { name: "budget_duration", label: "Budget period", hint: "e.g. 1d, 7d, 1mo; empty for a lifetime budget." },
  { name: "rpm_limit", label: "Requests per minute", type: "number" },
  { name: "tpm_limit", label: "Tokens per minute", type: "number" },
];

/** A form value as the API field: "" is null (not set / cleared), numbers are numbers, lists are lists. */
export function apiValue(spec, text) {
  if (spec.type === "checkbox") return Boolean(text);
  if (spec.type === "list")
    return text
      ? text
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean)
      : [];
  if (text === "" || text === null || text === undefined) return null;
  if (spec.type === "number") return Number(text);
  return text;
}

/** The form value of a record's field. */
function formValue(spec, record) {
  const value = record ? record[spec.name] : null;
  if (spec.type === "list") return (value || []).join(", ");
  if (spec.type === "checkbox") return Boolean(value);
  return value ?? "";
}

/** The payload of a create form: only the fields given. */
export function createPayload(specs, raw) {
  const body = {};
  for (const spec of specs) {
    const value = apiValue(spec, raw[spec.name]);
    if (value === null || (Array.isArray(value) && !value.length)) continue;
    body[spec.name] = value;
  }
  return body;
}

/** The payload of an edit form: only the fields that changed (an emptied field is null: cleared). */
export function changePayload(specs, raw, record) {
  const body = {};
  for (const spec of specs) {
    const before = formValue(spec, record);
    const now = spec.type === "checkbox" ? raw[spec.name] : (raw[spec.name] ?? "");
    if (String(before) === String(now)) continue;
    body[spec.name] = apiValue(spec, now);
  }
  return body;
}

function formOf({ label, specs, record = null, submitLabel, onSubmit, onCancel = null }) {
  const errors = errorRegion();
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h(
    "form",
    { "aria-label": label },
    h(
      "div",
      { class: "form-grid" },
      specs.map((spec) => field({ ...spec, value: formValue(spec, record) }).node),
    ),
    errors,
    h(
      "div",
      { class: "actions" },
      submit,
      onCancel ? h("button", { type: "button", onclick: onCancel }, "Cancel") : null,
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, errors, "");
    submit.disabled = true;
    try {
      await onSubmit(values(form), form);
    } catch (error) {
      showError(form, errors, describe(error), error.param);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** "Blocked" or "Active", in text. */
export function stateCell(record) {
  return record.blocked ? h("span", { class: "badge badge-blocked" }, "Blocked") : "Active";
}

/** A budget cell: "$10.00 / 1mo", or "None". */
export function budgetCell(record) {
  if (record.max_budget === null || record.max_budget === undefined) return "None";
  return record.budget_duration ? `${money(record.max_budget)} / ${record.budget_duration}` : money(record.max_budget);
}

function button(label, name, onClick, className = null) {
  return h("button", { type: "button", class: className, "aria-label": `${label} ${name}`, onclick: onClick }, label);
}

/**
 * An admin page for one entity. `entity`: {title, lead, singular, plural, idField, columns, createFields,
 * editFields, list(api, page) -> {rows, total}, create(api, body) -> answer, afterCreate?(answer), update(api,
 * record, body), block(api, record, blocked), remove(api, record), deleteWarning?(record), nameOf(record),
 * extraActions?(record), find?(api, id) -> the record to edit for ?focus=<id>}.
 */
class EntityPage {
  constructor(ctx, entity) {
    this.ctx = ctx;
    this.entity = entity;
    this.page = Math.max(1, Number.parseInt(ctx.query.get("page") || "1", 10) || 1);
    this.editor = h("div", {});
    this.listing = h("div", {});
    this.creator = this.createPanel();
  }

  createPanel() {
    const { entity, ctx } = this;
    return h(
      "details",
      { class: "panel" },
      h("summary", {}, `Create a ${entity.singular}`),
      formOf({
        label: `Create a ${entity.singular}`,
        specs: entity.createFields,
        submitLabel: `Create ${entity.singular}`,
        onSubmit: async (raw, form) => {
          const answer = await entity.create(ctx.api, createPayload(entity.createFields, raw));
          form.reset();
          ctx.status(`Created ${entity.singular} ${entity.nameOf(answer)}.`);
          if (entity.afterCreate) await entity.afterCreate(answer);
          await this.load();
        },
      }),
    );
  }

  edit(record) {
    const { entity, ctx } = this;
    const name = entity.nameOf(record);
    const title = h("h2", { tabindex: "-1" }, `Edit ${entity.singular} ${name}`);
    const close = () => replace(this.editor);
    const form = formOf({
      label: `Edit ${entity.singular} ${name}`,
      specs: entity.editFields,
      record,
      submitLabel: "Save changes",
      onCancel: close,
      onSubmit: async (raw) => {
        const body = changePayload(entity.editFields, raw, record);
        if (Object.keys(body).length) {
          await entity.update(ctx.api, record, body);
          await this.load();
        }
        ctx.status(Object.keys(body).length ? `${name} saved.` : "Nothing changed.");
        close();
      },
    });
    replace(this.editor, h("section", { class: "panel", "aria-label": `Edit ${entity.singular}` }, title, form));
    title.focus();
  }

  async act(work, done) {
    try {
      await work();
      this.ctx.status(done);
      await this.load();
    } catch (error) {
      this.ctx.status(`Failed: ${describe(error)}`);
    }
  }

  async confirmDelete(record) {
    const { entity, ctx } = this;
    const name = entity.nameOf(record);
    const warning = entity.deleteWarning ? entity.deleteWarning(record) : "";
    const message = `Delete ${entity.singular} ${name}? ${warning}This cannot be undone.`;
    if (await confirmAction(message, { title: `Delete ${entity.singular}` })) {
      await this.act(() => entity.remove(ctx.api, record), `${name} deleted.`);
    }
  }

  actions(record) {
    const { entity, ctx } = this;
    const name = entity.nameOf(record);
    const blocking = record.blocked ? "Unblock" : "Block";
    const blocked = () => entity.block(ctx.api, record, !record.blocked);
    return h(
      "div",
      { class: "actions" },
      button("Edit", name, () => this.edit(record)),
      button(blocking, name, () => this.act(blocked, `${name} ${record.blocked ? "unblocked" : "blocked"}.`)),
      button("Delete", name, () => this.confirmDelete(record), "danger"),
      entity.extraActions ? entity.extraActions(record) : null,
    );
  }

  async load() {
    const { entity, ctx } = this;
    ctx.status(`Loading ${entity.plural}…`);
    const { rows, total } = await entity.list(ctx.api, this.page);
    if (!ctx.alive()) return;
    const onPage = (next) => {
      this.page = next;
      this.load();
    };
    const totalPages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    replace(
      this.listing,
      plainTable({
        caption: `${entity.title} (page ${this.page})`,
        columns: [...entity.columns, { key: "actions", label: "Actions", cell: (record) => this.actions(record) }],
        rows,
        empty: `No ${entity.plural} yet.`,
      }),
      total > PAGE_SIZE ? pager({ page: this.page, totalPages, total, label: `${entity.title} pages`, onPage }) : null,
    );
    ctx.status(`${total} ${entity.plural}.`);
  }

  /** Opens the record `id` for editing (?focus=<id>), or the create form prefilled when it has no record yet. */
  async focus(id) {
    const { entity, ctx } = this;
    try {
      this.edit(await entity.find(ctx.api, id));
    } catch (error) {
      if (error.status !== 404) throw error;
      this.creator.open = true;
      const input = this.creator.querySelector(`[name="${entity.idField}"]`);
      if (input) {
        input.value = id;
        input.focus();
      }
      replace(this.editor, note(`The ${entity.singular} ${id} has no record yet: create it to set its limits.`));
    }
  }

  async render() {
    const { entity, ctx } = this;
    const lead = h("p", { class: "lead" }, entity.lead);
    replace(ctx.main, pageHeading(entity.title), lead, this.creator, this.editor, this.listing);
    await this.load();
    const focus = ctx.query.get("focus");
    if (focus && entity.find) await this.focus(focus);
  }
}

/** Renders the admin page of `entity` (see `EntityPage`). */
export function entityPage(ctx, entity) {
  return new EntityPage(ctx, entity).render();
}
