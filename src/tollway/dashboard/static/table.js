// Tables: sortable column headers (buttons, so the keyboard reaches them; aria-sort says the order), client-side
// paging for long aggregated lists, and a pager for lists the gateway pages itself (never an unbounded fetch).

import { compareDecimal, count } from "./format.js";
import { h, replace } from "./dom.js";

/** Compares two cells of a column: money (decimal strings), numbers, or text. */
function comparer(column) {
  if (column.compare) return column.compare;
  if (column.type === "money") return (a, b) => compareDecimal(a, b);
  if (column.type === "number") {
    return (a, b) =>
      (a === null || a === undefined ? -Infinity : Number(a)) - (b === null || b === undefined ? -Infinity : Number(b));
  }
  return (a, b) => String(a ?? "").localeCompare(String(b ?? ""));
}

/** Header cells of `columns`; sortable ones hold a button calling `onSort(key)`. */
function headerRow(columns, sort, onSort) {
  return h(
    "tr",
    {},
    columns.map((column) => {
      const numeric = column.type === "money" || column.type === "number";
      if (!column.sortable || !onSort) return h("th", { scope: "col", class: numeric ? "num" : "" }, column.label);
      const active = sort && sort.key === column.key;
      const order = active ? (sort.dir === "asc" ? "ascending" : "descending") : "none";
      const arrow = active ? (sort.dir === "asc" ? " ▲" : " ▼") : "";
      return h(
        "th",
        { scope: "col", "aria-sort": order, class: numeric ? "num" : "" },
        h(
          "button",
          { type: "button", class: "sort", onclick: () => onSort(column.key) },
          column.label,
          h("span", { "aria-hidden": "true" }, arrow),
        ),
      );
    }),
  );
}

function bodyRows(columns, rows, rowClass) {
  return rows.map((row) =>
    h(
      "tr",
      { class: rowClass ? rowClass(row) : null },
      columns.map((column, index) => {
        const numeric = column.type === "money" || column.type === "number";
        const content = column.cell ? column.cell(row) : row[column.key];
        const tag = index === 0 && column.header !== false ? "th" : "td";
        return h(tag, { scope: tag === "th" ? "row" : null, class: numeric ? "num" : "" }, content ?? "—");
      }),
    ),
  );
}

/** `rows` in `order` ({key, dir}) of the column `key` (a copy; the rows as given without an order). */
function sortedRows(rows, columns, order) {
  if (!order) return rows;
  const column = columns.find((one) => one.key === order.key);
  const compare = comparer(column);
  const value = column.value || ((row) => row[column.key]);
  const sign = order.dir === "asc" ? 1 : -1;
  return [...rows].sort((a, b) => sign * compare(value(a), value(b)));
}

/** The table element of one page of sorted rows. */
function tableOf(caption, columns, slice, order, onSort, rowClass, empty) {
  const body = slice.length
    ? bodyRows(columns, slice, rowClass)
    : h("tr", {}, h("td", { colspan: columns.length }, empty));
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, headerRow(columns, order, onSort)),
    h("tbody", {}, body),
  );
}

/**
 * A table of already-fetched `rows`, sortable by clicking a header, paged `pageSize` at a time in the browser.
 * `columns`: [{key, label, type: "money"|"number"|"text", sortable, cell(row) -> Node|string, value(row)}].
 */
export function sortableTable({
  caption,
  columns,
  rows,
  sort = null,
  rowClass = null,
  pageSize = 50,
  empty = "No rows.",
}) {
  let order = sort;
  let page = 1;
  const wrap = h("div", { class: "table-block" });

  function onSort(key) {
    const column = columns.find((one) => one.key === key);
    const first = column.type === "money" || column.type === "number" ? "desc" : "asc";
    order = order && order.key === key ? { key, dir: order.dir === "asc" ? "desc" : "asc" } : { key, dir: first };
    page = 1;
    draw(key);
  }

  function draw(focusKey = null) {
    const all = sortedRows(rows, columns, order);
    const pages = Math.max(1, Math.ceil(all.length / pageSize));
    page = Math.min(page, pages);
    const slice = all.slice((page - 1) * pageSize, page * pageSize);
    const table = tableOf(caption, columns, slice, order, onSort, rowClass, empty);
    replace(
      wrap,
      h("div", { class: "table-wrap" }, table),
      all.length > pageSize
        ? pager({
            page,
            totalPages: pages,
            total: all.length,
            pageSize,
            onPage: (next) => {
              page = next;
              draw();
            },
          })
        : null,
    );
    if (focusKey) {
      const index = columns.findIndex((one) => one.key === focusKey);
      const button = table.querySelectorAll("thead th")[index]?.querySelector("button");
      if (button) button.focus();
    }
  }

  draw();
  return wrap;
}

/** A plain table of one page of rows (the gateway sorts and pages). */
export function plainTable({ caption, columns, rows, rowClass = null, empty = "No rows." }) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, headerRow(columns, null, null)),
      h(
        "tbody",
        {},
        rows.length ? bodyRows(columns, rows, rowClass) : h("tr", {}, h("td", { colspan: columns.length }, empty)),
      ),
    ),
  );
}

/** Previous / next page buttons and where we are ("Page 2 of 40 · 3,950 rows"). */
export function pager({ page, totalPages, total, onPage, label = "Pages" }) {
  const last = Math.max(totalPages, 1);
  return h(
    "nav",
    { class: "pager", "aria-label": label },
    h("button", { type: "button", disabled: page <= 1, onclick: () => onPage(page - 1) }, "Previous page"),
    h("span", { class: "pager-state" }, `Page ${count(page)} of ${count(last)} · ${count(total)} rows`),
    h("button", { type: "button", disabled: page >= last, onclick: () => onPage(page + 1) }, "Next page"),
  );
}
