// The dashboard's shell: the session, the navigation and the hash router (#/overview, #/customers/<id>, ...).
// Pages are modules with `render(ctx)`; ctx gives them the API client, the route's parts and query, a status line
// (aria-live) and `alive()`, false once the user has moved on (a late answer then paints nothing).

import { ApiError, describe, makeApi } from "./api.js";
import { h, note, pageHeading, replace } from "./dom.js";
import * as alerts from "./page_alerts.js";
import * as customer from "./page_customer.js";
import * as customers from "./page_customers.js";
import * as entities from "./page_entities.js";
import * as logs from "./page_logs.js";
import * as models from "./page_models.js";
import * as overview from "./page_overview.js";
import * as signin from "./page_signin.js";
import * as simulator from "./page_simulator.js";

const PAGES = [
  { path: "overview", label: "Overview", render: overview.render },
  { path: "customers", label: "Customers", render: customers.render, detail: customer.render },
  { path: "simulator", label: "Simulator", render: simulator.render },
  { path: "logs", label: "Request log", render: logs.render },
  { path: "keys", label: "Keys", render: entities.renderKeys },
  { path: "teams", label: "Teams", render: entities.renderTeams },
  { path: "customer-admin", label: "Customer admin", render: entities.renderCustomers },
  { path: "models", label: "Models", render: models.render },
  { path: "alerts", label: "Alerts", render: alerts.render },
];
const HOME = "overview";

const state = { session: null, generation: 0, config: { sso: false }, notice: "" };
const byId = (id) => document.getElementById(id);

const api = makeApi({
  csrf: () => (state.session ? state.session.csrf_token : null),
  unauthorized: () => {
    if (!state.session) return;
    state.session = null;
    state.notice = "Your session has ended. Sign in again.";
    show();
  },
});

/** The status line (announced politely to screen readers). */
function status(text) {
  byId("status").textContent = text || "";
}

/** The current hash as {page, parts, query}: "#/customers/a%20b?start=..." -> customers, ["a b"], params. */
function parse() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?", 2);
  const parts = path
    .split("/")
    .filter(Boolean)
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
  return { page: parts[0] || HOME, parts: parts.slice(1), query: new URLSearchParams(search) };
}

function drawNav(current) {
  replace(
    byId("nav-list"),
    PAGES.map((page) =>
      h(
        "li",
        {},
        h("a", { href: `#/${page.path}`, "aria-current": page.path === current ? "page" : null }, page.label),
      ),
    ),
  );
}

function drawChrome() {
  const signedIn = Boolean(state.session);
  byId("nav").hidden = !signedIn;
  byId("whoami").hidden = !signedIn;
  if (signedIn) byId("whoami-name").textContent = `${state.session.name || "admin"} (${state.session.role})`;
}

/** Renders the page the hash names (the sign-in page without a session). */
async function show({ focus = false } = {}) {
  const generation = ++state.generation;
  const main = byId("main");
  const route = parse();
  drawChrome();
  if (!state.session) {
    drawNav(null);
    const notice = state.notice;
    state.notice = "";
    main.removeAttribute("aria-busy");
    await signin.render({ main, api, config: state.config, notice, onSignedIn: signedIn });
    return;
  }
  const page = PAGES.find((one) => one.path === route.page);
  drawNav(page ? page.path : null);
  const ctx = {
    main,
    api,
    session: state.session,
    parts: route.parts,
    query: route.query,
    status,
    alive: () => generation === state.generation,
  };
  replace(main);
  main.setAttribute("aria-busy", "true"); // until the page's data is in (tests and assistive technology wait on it)
  try {
    if (!page) {
      replace(
        main,
        pageHeading("Page not found"),
        note(`There is no page "${route.page}".`),
        h("a", { href: `#/${HOME}` }, "Go to the overview"),
      );
    } else if (route.parts.length && page.detail) {
      await page.detail(ctx);
    } else {
      await page.render(ctx);
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    if (ctx.alive()) {
      main.append(h("p", { class: "form-error", role: "alert" }, `Could not load this page: ${describe(error)}`));
      status("");
    }
  }
  if (!ctx.alive()) return;
  main.removeAttribute("aria-busy");
  if (focus) main.querySelector("h1")?.focus();
}

function signedIn(session) {
  state.session = session;
  if (window.location.hash.startsWith("#/")) show({ focus: true });
  else window.location.hash = `#/${HOME}`; // the hashchange shows it
}

async function signOut() {
  try {
    await api.request("/ui/logout", { method: "POST" });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      status(`Signing out failed: ${describe(error)}`);
      return;
    }
  }
  state.session = null;
  state.notice = "You have signed out.";
  show();
}

async function start() {
  byId("sign-out").addEventListener("click", signOut);
  byId("skip-link").addEventListener("click", (event) => {
    event.preventDefault(); // the hash is the router's: move focus instead of navigating
    byId("main").focus();
  });
  window.addEventListener("hashchange", () => show({ focus: true }));
  try {
    state.config = (await api.get("/ui/config")) || { sso: false };
  } catch {
    state.config = { sso: false };
  }
  try {
    state.session = await api.get("/ui/session");
  } catch {
    state.session = null;
  }
  await show();
}

start();
