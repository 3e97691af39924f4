// Hand-rolled SVG charts. Each is a <figure> with a text alternative: the SVG has role="img" with a <title> and a
// <desc> summarising it, every bar has its own <title> (a tooltip), the legend names each colour, and the same
// numbers are in a table behind a "Show the data as a table" disclosure (the accessible fallback).

import { h, idFactory, s } from "./dom.js";

// Distinguishable in the common forms of colour blindness (Okabe-Ito, then a few more); the legend and the
// table carry the names, so colour is never the only cue.
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#555555",
  "#8C564B",
  "#17BECF",
];
const WIDTH = 800;
const ids = idFactory("chart");

/** A "nice" upper bound for an axis (1, 2 or 5 times a power of ten). */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= value);
  return step * power;
}

function number(value) {
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : 0;
}

function shorten(text, length) {
  const value = String(text);
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

function svgRoot(title, description, height) {
  const titleId = ids("title");
  const descId = ids("desc");
  return s(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      class: "chart-svg",
      preserveAspectRatio: "xMinYMin meet",
    },
    s("title", { id: titleId }, title),
    s("desc", { id: descId }, description),
  );
}

function legend(names) {
  return h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    names.map((name, index) =>
      h(
        "li",
        {},
        s(
          "svg",
          { width: 12, height: 12, viewBox: "0 0 12 12", "aria-hidden": "true", focusable: "false" },
          s("rect", { width: 12, height: 12, fill: PALETTE[index % PALETTE.length] }),
        ),
        " ",
        name,
      ),
    ),
  );
}

/** The chart's numbers as a table, inside a disclosure. */
export function dataTable(caption, header, rows) {
  return h(
    "details",
    { class: "chart-data" },
    h("summary", {}, "Show the data as a table"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("caption", {}, caption),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            header.map((cell, index) => h("th", { scope: "col", class: index ? "num" : "" }, cell)),
          ),
        ),
        h(
          "tbody",
          {},
          rows.map((row) =>
            h(
              "tr",
              {},
              row.map((cell, index) => (index ? h("td", { class: "num" }, cell) : h("th", { scope: "row" }, cell))),
            ),
          ),
        ),
      ),
    ),
  );
}

function yAxis(root, max, plot, format) {
  for (let tick = 0; tick <= 4; tick += 1) {
    const value = (max * tick) / 4;
    const y = plot.top + plot.height - (plot.height * tick) / 4;
    root.append(
      s("line", { x1: plot.left, x2: plot.left + plot.width, y1: y, y2: y, class: "grid" }),
      s("text", { x: plot.left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, format(String(value))),
    );
  }
}

/**
 * Stacked vertical bars: one bar per category (a day), one segment per series (a model or provider).
 * `series`: [{name, values}] with values aligned to `categories` (numbers or decimal strings).
 */
export function stackedBars({ title, description, categories, series, format, caption, categoryLabel = "Day" }) {
  const height = 280;
  const plot = { left: 84, top: 12, width: WIDTH - 96, height: height - 52 };
  const totals = categories.map((_, index) => series.reduce((sum, one) => sum + number(one.values[index]), 0));
  const max = niceMax(Math.max(0, ...totals));
  const root = svgRoot(title, description, height);
  yAxis(root, max, plot, format);
  const band = plot.width / Math.max(categories.length, 1);
  const labelEvery = Math.max(1, Math.ceil(categories.length / 10));
  categories.forEach((category, index) => {
    const x = plot.left + band * index + band * 0.15;
    let base = plot.top + plot.height;
    series.forEach((one, position) => {
      const value = number(one.values[index]);
      if (value <= 0) return;
      const size = (plot.height * value) / max;
      base -= size;
      root.append(
        s(
          "rect",
          {
            x,
            y: base,
            width: Math.max(band * 0.7, 1),
            height: Math.max(size, 0.5),
            fill: PALETTE[position % PALETTE.length],
          },
          s("title", {}, `${category} · ${one.name}: ${format(String(one.values[index]))}`),
        ),
      );
    });
    if (index % labelEvery === 0) {
      const label = String(category).length === 10 ? String(category).slice(5) : shorten(category, 10);
      root.append(s("text", { x: x + band * 0.35, y: height - 24, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  const header = [categoryLabel, ...series.map((one) => one.name), "Total"];
  const rows = categories.map((category, index) => [
    category,
    ...series.map((one) => format(String(one.values[index] ?? 0))),
    format(String(totals[index])),
  ]);
  return h(
    "figure",
    { class: "chart" },
    root,
    legend(series.map((one) => one.name)),
    h("figcaption", {}, caption || title),
    dataTable(caption || title, header, rows),
  );
}

/**
 * Horizontal grouped bars: one row per category (a customer), one bar per series (baseline, simulated).
 * At most `limit` categories are drawn; the table holds them all.
 */
export function groupedBars({ title, description, categories, series, format, caption, categoryLabel, limit = 15 }) {
  const shown = categories.slice(0, limit);
  const rowHeight = 14 * series.length + 12;
  const height = Math.max(60, shown.length * rowHeight + 40);
  const plot = { left: 200, top: 8, width: WIDTH - 300, height: height - 40 };
  const max = niceMax(Math.max(0, ...series.flatMap((one) => one.values.slice(0, limit).map(number))));
  const root = svgRoot(title, description, height);
  for (let tick = 0; tick <= 4; tick += 1) {
    const x = plot.left + (plot.width * tick) / 4;
    root.append(
      s("line", { x1: x, x2: x, y1: plot.top, y2: plot.top + plot.height, class: "grid" }),
      s("text", { x, y: height - 14, "text-anchor": "middle", class: "axis" }, format(String((max * tick) / 4))),
    );
  }
  shown.forEach((category, index) => {
    const top = plot.top + index * rowHeight + 6;
    root.append(
      s(
        "text",
        { x: plot.left - 8, y: top + (rowHeight - 12) / 2 + 4, "text-anchor": "end", class: "axis" },
        shorten(category, 28),
      ),
    );
    series.forEach((one, position) => {
      const value = number(one.values[index]);
      const width = (plot.width * Math.max(value, 0)) / max;
      const y = top + position * 14;
      root.append(
        s(
          "rect",
          { x: plot.left, y, width: Math.max(width, 0.5), height: 12, fill: PALETTE[position % PALETTE.length] },
          s("title", {}, `${category} · ${one.name}: ${format(String(one.values[index]))}`),
        ),
        s("text", { x: plot.left + width + 6, y: y + 10, class: "axis" }, format(String(one.values[index]))),
      );
    });
  });
  const header = [categoryLabel, ...series.map((one) => one.name)];
  const rows = categories.map((category, index) => [
    category,
    ...series.map((one) => format(String(one.values[index] ?? 0))),
  ]);
  return h(
    "figure",
    { class: "chart" },
    root,
    legend(series.map((one) => one.name)),
    h("figcaption", {}, caption || title),
    dataTable(caption || title, header, rows),
  );
}
