// DOM building without innerHTML: every text from the API (entity names, model names, error messages) is hostile
// input, so it only ever reaches the page as a text node or an attribute value set through the DOM API.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Sets attributes, properties and listeners on `node` from `attrs` (see `h`). */
function apply(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class")
      node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "selected") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

/** Appends children (strings become text nodes; arrays are flattened; null/false are skipped). */
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: `h("button", {class: "primary", onclick: fn}, "Save")`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  apply(node, attrs);
  return append(node, children);
}

/** An SVG element (attributes are presentation attributes: allowed by a `style-src 'self'` CSP). */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, attrs);
  return append(node, children);
}

/** Removes every child of `node`, then appends `children`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Ids unique within the page: every label points at its control by id. */
export function idFactory(prefix) {
  let next = 0;
  return (name) => `${prefix}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}-${++next}`;
}

/** A link to a hash route: `route("customers", id)` -> "#/customers/<encoded id>", with an optional query. */
export function route(...parts) {
  let query = null;
  if (parts.length && typeof parts[parts.length - 1] === "object" && parts[parts.length - 1] !== null) {
    query = parts.pop();
  }
  const path = "#/" + parts.map((part) => encodeURIComponent(String(part))).join("/");
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** A heading that takes focus after a page change, so screen readers announce the new page. */
export function pageHeading(text) {
  return h("h1", { tabindex: "-1", class: "page-title" }, text);
}

/** A short message block ("nothing yet", "not available"). */
export function note(text, kind = "info") {
  return h("p", { class: ["note", `note-${kind}`] }, text);
}

/** A visually hidden text (for screen readers), e.g. the unit of a number. */
export function hidden(text) {
  return h("span", { class: "visually-hidden" }, text);
}
