// Keys, teams and customers: what each admin page lists and edits, over /key/*, /team/* and /customer/*.
// A new key is shown once, in a dialog with a copy button and a warning: the gateway keeps only its hash.

import { customerLink } from "./common.js";
import { h, route } from "./dom.js";
import { showSecret } from "./forms.js";
import { when } from "./format.js";
import { LIMIT_FIELDS, PAGE_SIZE, budgetCell, entityPage, stateCell } from "./admin.js";

const KEY_FIELDS = [
  { name: "key_alias", label: "Alias", hint: "A name to recognise the key by." },
  {
    name: "role",
    label: "Role",
    type: "select",
    options: [
      ["user", "User"],
      ["team_admin", "Team admin"],
      ["admin", "Admin"],
    ],
  },
  { name: "team_id", label: "Team id" },
  { name: "user_id", label: "User id" },
  { name: "customer_id", label: "Customer id", hint: "Requests with this key are that customer's." },
  { name: "models", label: "Allowed models", type: "list", hint: "Comma-separated; empty for every model." },
];

const keys = {
  title: "Keys",
  singular: "key",
  plural: "keys",
  idField: "key_alias",
  lead:
    "Virtual keys: who may call the gateway, with which budget and limits. " +
    "A key is shown once, when it is created.",
  columns: [
    {
      key: "name",
      label: "Key",
      cell: (key) =>
        h(
          "span",
          {},
          key.key_alias || key.key_name,
          key.key_alias ? h("span", { class: "note" }, ` (${key.key_name})`) : null,
        ),
    },
    { key: "role", label: "Role" },
    { key: "team_id", label: "Team" },
    { key: "customer_id", label: "Customer", cell: (key) => (key.customer_id ? customerLink(key.customer_id) : "—") },
    { key: "budget", label: "Budget", cell: budgetCell },
    { key: "rpm_limit", label: "RPM", type: "number" },
    { key: "expires", label: "Expires", cell: (key) => (key.expires ? when(key.expires) : "Never") },
    { key: "state", label: "State", cell: stateCell },
  ],
  createFields: [
    ...KEY_FIELDS,
    { name: "duration", label: "Expires after", hint: "e.g. 30d; empty: never." },
    ...LIMIT_FIELDS,
  ],
  editFields: [...KEY_FIELDS, ...LIMIT_FIELDS],
  idOf: (key) => key.token,
  nameOf: (key) => key.key_alias || key.key_name,
  list: async (api, page) => {
    const answer = await api.get("/key/list", { return_full_object: "true", page, size: PAGE_SIZE });
    return { rows: answer.keys || [], total: answer.total_count || 0 };
  },
  create: (api, body) => api.post("/key/generate", body),
  afterCreate: (answer) =>
    showSecret({
      title: `Key ${answer.key_alias || answer.key_name} created`,
      secret: answer.key,
      warning:
        "This is the only time the key is shown. Copy it now and keep it somewhere safe; " +
        "the gateway stores only its hash.",
    }),
  update: (api, key, body) => api.post("/key/update", { key: key.token, ...body }),
  block: (api, key, blocked) => api.post(blocked ? "/key/block" : "/key/unblock", { key: key.token }),
  remove: (api, key) => api.post("/key/delete", { keys: [key.token] }),
  extraActions: (key) =>
    h(
      "a",
      { href: route("logs", { api_key: key.token }), "aria-label": `Requests of ${key.key_alias || key.key_name}` },
      "Requests",
    ),
};

const TEAM_FIELDS = [
  { name: "team_alias", label: "Name" },
  { name: "models", label: "Allowed models", type: "list", hint: "Comma-separated; empty for every model." },
];

const teams = {
  title: "Teams",
  singular: "team",
  plural: "teams",
  idField: "team_id",
  lead: "Teams share a budget, limits and allowed models across their members' keys.",
  columns: [
    {
      key: "team",
      label: "Team",
      cell: (team) =>
        h(
          "span",
          {},
          team.team_alias || team.team_id,
          team.team_alias ? h("span", { class: "note" }, ` (${team.team_id})`) : null,
        ),
    },
    {
      key: "members",
      label: "Members",
      type: "number",
      cell: (team) => String((team.members_with_roles || []).length),
    },
    { key: "budget", label: "Budget", cell: budgetCell },
    { key: "rpm_limit", label: "RPM", type: "number" },
    { key: "tpm_limit", label: "TPM", type: "number" },
    { key: "state", label: "State", cell: stateCell },
  ],
  createFields: [
    { name: "team_id", label: "Team id", hint: "Empty: one is generated." },
    ...TEAM_FIELDS,
    ...LIMIT_FIELDS,
  ],
  editFields: [...TEAM_FIELDS, ...LIMIT_FIELDS],
  idOf: (team) => team.team_id,
  nameOf: (team) => team.team_alias || team.team_id,
  list: async (api, page) => {
    const answer = await api.request("/team/list", { query: { page, page_size: PAGE_SIZE } });
    return {
      rows: answer.data || [],
      total: Number(answer.headers.get("x-total-count") || (answer.data || []).length),
    };
  },
  create: (api, body) => api.post("/team/new", body),
  update: (api, team, body) => api.post("/team/update", { team_id: team.team_id, ...body }),
  block: (api, team, blocked) => api.post(blocked ? "/team/block" : "/team/unblock", { team_id: team.team_id }),
  remove: (api, team) => api.post("/team/delete", { team_ids: [team.team_id] }),
  deleteWarning: () => "Its keys are deleted with it. ",
};

const CUSTOMER_FIELDS = [
  { name: "alias", label: "Name" },
  { name: "plan", label: "Plan" },
];

const customers = {
  title: "Customer admin",
  singular: "customer",
  plural: "customers",
  idField: "customer_id",
  lead:
    "Customers are the end users of your product (the request's user field, the x-tollway-customer header, " +
    "or a key's customer). Set their budgets and limits, or block them.",
  columns: [
    { key: "customer_id", label: "Customer", cell: (row) => customerLink(row.customer_id) },
    { key: "alias", label: "Name" },
    { key: "plan", label: "Plan" },
    { key: "budget", label: "Budget", cell: budgetCell },
    { key: "rpm_limit", label: "RPM", type: "number" },
    { key: "state", label: "State", cell: stateCell },
  ],
  createFields: [{ name: "customer_id", label: "Customer id", required: true }, ...CUSTOMER_FIELDS, ...LIMIT_FIELDS],
  editFields: [...CUSTOMER_FIELDS, ...LIMIT_FIELDS],
  idOf: (row) => row.customer_id,
  nameOf: (row) => row.alias || row.customer_id,
  list: async (api, page) => {
    const answer = await api.request("/customer/list", { query: { page, page_size: PAGE_SIZE } });
    return {
      rows: answer.data || [],
      total: Number(answer.headers.get("x-total-count") || (answer.data || []).length),
    };
  },
  find: (api, id) => api.get("/customer/info", { customer_id: id }),
  create: (api, body) => api.post("/customer/new", body),
  update: (api, row, body) => api.post("/customer/update", { customer_id: row.customer_id, ...body }),
  block: (api, row, blocked) =>
    api.post(blocked ? "/customer/block" : "/customer/unblock", { customer_ids: [row.customer_id] }),
  remove: (api, row) => api.post("/customer/delete", { customer_ids: [row.customer_id] }),
};

/** #/keys */
export const renderKeys = (ctx) => entityPage(ctx, keys);
/** #/teams */
export const renderTeams = (ctx) => entityPage(ctx, teams);
/** #/customer-admin */
export const renderCustomers = (ctx) => entityPage(ctx, customers);
