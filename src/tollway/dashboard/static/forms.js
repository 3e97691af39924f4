// Form pieces: labelled fields (every control has a <label for>), the period picker, the error region that names
// the field the gateway refused, a confirm dialog and the dialog that shows a new key once.

import { h, idFactory } from "./dom.js";
import { isDay, shiftDay, today } from "./format.js";

const ids = idFactory("f");

/**
 * A labelled control. `type`: text | number | money | date | select | textarea | password | list (comma-separated)
 * | checkbox. Returns {node, control}; the control's `name` is the API field it sets.
 */
export function field({
  name,
  label,
  type = "text",
  value = "",
  options = [],
  hint = "",
  required = false,
  list = null,
  placeholder = "",
}) {
  const id = ids(name);
  const hintId = hint ? `${id}-hint` : null;
  let control;
  if (type === "select") {
    control = h(
      "select",
      { id, name },
      options.map((option) => {
        const [optionValue, optionLabel] = Array.isArray(option) ? option : [option, option];
        return h("option", { value: optionValue, selected: String(optionValue) === String(value) }, optionLabel);
      }),
    );
  } else if (type === "textarea") {
    control = h("textarea", { id, name, rows: 3, value: value ?? "" });
  } else if (type === "checkbox") {
    control = h("input", { id, name, type: "checkbox", checked: Boolean(value) });
  } else {
    const inputType = { money: "text", list: "text", number: "number" }[type] || type;
    control = h("input", {
      id,
      name,
      type: inputType,
      value: value ?? "",
      list,
      placeholder: placeholder || null,
      inputmode: type === "money" ? "decimal" : null,
      min: type === "number" ? "0" : null,
      step: type === "number" ? "1" : null,
      autocomplete: type === "password" ? "current-password" : "off",
      spellcheck: "false",
    });
  }
  if (required) control.required = true;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  control.dataset.kind = type;
  const labelNode = h("label", { for: id }, label, required ? h("span", { class: "required" }, " (required)") : null);
  const node =
    type === "checkbox"
      ? h(
          "div",
          { class: "field field-check" },
          control,
          labelNode,
          hint ? h("p", { id: hintId, class: "hint" }, hint) : null,
        )
      : h("div", { class: "field" }, labelNode, control, hint ? h("p", { id: hintId, class: "hint" }, hint) : null);
  return { node, control };
}

/** The region where a form's errors are announced (role="alert"). */
export function errorRegion() {
  return h("p", { class: "form-error", role: "alert" });
}

/** Shows `message` in `region` and marks the control named `param` (from the gateway's error) invalid. */
export function showError(form, region, message, param = null) {
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  region.textContent = message || "";
  if (!param) return;
  const name = String(param).split(/[.[]/)[0];
  const control = [...form.elements].find((element) => element.name === name);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
}

/** The preset periods of the picker: [value, label, days back]. */
const PRESETS = [
  ["7", "Last 7 days", 6],
  ["30", "Last 30 days", 29],
  ["90", "Last 90 days", 89],
];

/**
 * A period picker: a preset select and start/end dates (UTC days, end inclusive). `onApply({start, end})` runs on
 * submit once both dates are valid and in order; `extra` are more fields inside the same form (e.g. "group by").
 */
export function periodPicker({ start, end, onApply, extra = [], legend = "Period" }) {
  const preset = field({
    name: "preset",
    label: "Range",
    type: "select",
    options: [...PRESETS.map(([value, text]) => [value, text]), ["custom", "Custom"]],
    value: PRESETS.find(([, , back]) => end === today() && start === shiftDay(end, back))?.[0] || "custom",
  });
  const from = field({ name: "start", label: "From (UTC)", type: "date", value: start, required: true });
  const to = field({ name: "end", label: "To (UTC, inclusive)", type: "date", value: end, required: true });
  const errors = errorRegion();
  preset.control.addEventListener("change", () => {
    const chosen = PRESETS.find(([value]) => value === preset.control.value);
    if (!chosen) return;
    to.control.value = today();
    from.control.value = shiftDay(today(), chosen[2]);
  });
  const form = h(
    "form",
    { class: "toolbar", "aria-label": legend },
    preset.node,
    from.node,
    to.node,
    extra,
    h("div", { class: "field field-button" }, h("button", { type: "submit", class: "primary" }, "Show")),
    errors,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = { start: from.control.value, end: to.control.value };
    if (!isDay(chosen.start) || !isDay(chosen.end))
      return showError(form, errors, "Enter both dates as YYYY-MM-DD.", "start");
    if (chosen.end < chosen.start) return showError(form, errors, "The end date is before the start date.", "end");
    showError(form, errors, "");
    onApply(chosen, form);
  });
  return form;
}

/** Asks to confirm a destructive action in a modal dialog; resolves true when confirmed. */
export function confirmAction(message, { confirm = "Delete", title = "Are you sure?" } = {}) {
  return new Promise((resolve) => {
    const titleId = ids("dialog-title");
    const cancel = h("button", { type: "button", autofocus: true }, "Cancel");
    const proceed = h("button", { type: "button", class: "danger" }, confirm);
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId, class: "dialog" },
      h("h2", { id: titleId }, title),
      h("p", {}, message),
      h("div", { class: "actions" }, cancel, proceed),
    );
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => done(false));
    proceed.addEventListener("click", () => done(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Copies `text` to the clipboard; false when the browser refuses (then the user copies from the selected field). */
async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.select();
    return false;
  }
}

/** Shows a secret (a new key) once, with a copy button and a warning; resolves when the dialog is closed. */
export function showSecret({ title, secret, warning, label = "Key" }) {
  return new Promise((resolve) => {
    const titleId = ids("secret-title");
    const value = field({ name: "secret", label, value: secret });
    value.control.readOnly = true;
    value.control.classList.add("secret");
    const status = h("p", { class: "copy-status", role: "status", "aria-live": "polite" });
    const copyButton = h("button", { type: "button", class: "primary" }, `Copy ${label.toLowerCase()}`);
    const close = h("button", { type: "button" }, `I have saved the ${label.toLowerCase()}`);
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId, class: "dialog" },
      h("h2", { id: titleId }, title),
      h("p", { class: "warning" }, h("strong", {}, "Warning: "), warning),
      value.node,
      h("div", { class: "actions" }, copyButton, close),
      status,
    );
    copyButton.addEventListener("click", async () => {
      const copied = await copy(secret, value.control);
      status.textContent = copied
        ? "Copied to the clipboard."
        : `Copying was refused: the ${label.toLowerCase()} is selected, press Ctrl+C.`;
    });
    const done = () => {
      dialog.close();
      dialog.remove();
      resolve();
    };
    close.addEventListener("click", done);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done();
    });
    document.body.append(dialog);
    dialog.showModal();
    value.control.focus();
    value.control.select();
  });
}

/** The values of a form's named controls, by name (checkboxes as booleans). */
export function values(form) {
  const result = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    result[element.name] = element.type === "checkbox" ? element.checked : element.value.trim();
  }
  return result;
}
