// The dashboard talks only to the gateway's documented APIs, with the session cookie (credentials "same-origin")
// and the session's CSRF token on every request (the gateway requires it on POST, PUT, PATCH and DELETE).

const TIMEOUT_MS = 60000;

/** An API answer that is not a success: the OpenAI error envelope's fields, and the HTTP status. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type || null;
    this.code = error.code || null;
    this.param = error.param || null;
  }
}

/** The `error` object of an envelope, whatever shape the body has (a proxy's HTML page, empty, truncated). */
async function envelope(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "object" && body.error !== null) return body.error;
    if (body && typeof body.detail === "string") return { message: body.detail };
  } catch {
    // not JSON: fall through to a message built from the status
  }
  return { message: `${response.status} ${response.statusText || "error"}` };
}

/**
 * A client of the gateway: `request(path, {method, query, body})` -> `{data, headers, status}`.
 * `csrf()` gives the current session's token; `unauthorized(error)` runs on any 401 (the session ended).
 */
export function makeApi({ csrf, unauthorized }) {
  async function request(path, { method = "GET", query = null, body = undefined } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
    }
    const headers = { accept: "application/json" };
    const token = csrf();
    if (token) headers["x-csrf-token"] = token;
    if (body !== undefined) headers["content-type"] = "application/json";
    const abort = new AbortController();
    const timer = window.setTimeout(() => abort.abort(), TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        signal: abort.signal,
        cache: "no-store",
      });
    } catch (error) {
      const message = error.name === "AbortError" ? "the gateway did not answer in time" : "the gateway is unreachable";
      throw new ApiError(0, { message, code: "network_error" });
    } finally {
      window.clearTimeout(timer);
    }
    if (!response.ok) {
      const error = new ApiError(response.status, await envelope(response));
      if (response.status === 401 && unauthorized) unauthorized(error);
      throw error;
    }
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        throw new ApiError(response.status, { message: "the gateway answered something that is not JSON" });
      }
    }
    return { data, headers: response.headers, status: response.status };
  }

  return {
    request,
    /** GET, the body only. */
    get: async (path, query) => (await request(path, { query })).data,
    /** POST a JSON body, the answer's body only. */
    post: async (path, body) => (await request(path, { method: "POST", body: body ?? {} })).data,
    /** DELETE, the answer's body only. */
    del: async (path) => (await request(path, { method: "DELETE" })).data,
  };
}

/** A message for a failed call, naming the field the gateway refused when it says which. */
export function describe(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const where = error.param && !error.message.includes(error.param) ? ` (${error.param})` : "";
  if (error.status === 403) return `Not allowed${where}: ${error.message}`;
  return `${error.message}${where}`;
}
