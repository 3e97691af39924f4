// What several pages share: the period a page shows (from its hash query), links between pages, and how a loss
// is marked (in text, not colour alone).

import { h, route } from "./dom.js";
import { isDay, isNegative, shiftDay, today } from "./format.js";

/** The page's period: ?start=&end= when valid, else the last `days` days ending today (UTC). */
export function periodFrom(query, days = 7) {
  const end = isDay(query.get("end")) ? query.get("end") : today();
  const start = isDay(query.get("start")) && query.get("start") <= end ? query.get("start") : shiftDay(end, days - 1);
  return { start, end };
}

/** Navigates to the same page with a new query (the router re-renders it). */
export function navigate(page, query, ...parts) {
  window.location.hash = route(page, ...parts, query);
}

/** The display name of a customer id (traffic without a customer is one row with id null). */
export function customerName(id) {
  return id === null || id === undefined ? "(no customer)" : String(id);
}

/** A link to a customer's page (plain text for the row of traffic without a customer). */
export function customerLink(id, period) {
  if (id === null || id === undefined) return customerName(id);
  return h("a", { href: route("customers", id, period || {}) }, String(id));
}

/** The "Simulate cheaper model" action of a customer, prefilled with the customer and the period. */
export function simulateLink(id, period, label = "Simulate cheaper model") {
  const query = { customer: id, start: period.start, end: period.end };
  return h(
    "a",
    { class: "button", href: route("simulator", query), "aria-label": `${label} for ${customerName(id)}` },
    label,
  );
}

/** A text badge "Loss" for a negative margin ("Profitable" otherwise; nothing when unknown). */
export function marginBadge(margin) {
  if (margin === null || margin === undefined) return null;
  return isNegative(margin)
    ? h("span", { class: "badge badge-loss" }, "Loss")
    : h("span", { class: "badge badge-ok" }, "Profitable");
}

/** The UTC days from `start` to `end` inclusive. */
export function daysOf(start, end) {
  const days = [];
  for (let day = start; day <= end && days.length < 3700; day = shiftDay(day, -1)) days.push(day);
  return days;
}

/** A loading line inside a container, replaced when the data arrives. */
export function loading(what) {
  return h("p", { class: "note", "aria-busy": "true" }, `Loading ${what}…`);
}
