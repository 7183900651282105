// @ts-check
/**
 * The console's only way to the server: the public HTTP API, with the key the person signed in
 * with. The key lives in this tab's session storage (gone when the tab closes) and travels only
 * in the `Authorization` header, never in a URL, so it stays out of logs and history.
 */

const KEY_ITEM = "corral.key";

/** An answer that was not a success, with the API's machine-readable code. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{error?: string, message?: string, field?: string}} body
   */
  constructor(status, body) {
    super(body.message || `the server answered ${status}`);
    this.status = status;
    this.code = body.error || `http_${status}`;
    this.field = body.field ?? null;
  }
}

export const credentials = {
  /** @returns {string | null} */
  get key() {
    return sessionStorage.getItem(KEY_ITEM);
  },
  /** @param {string} key */
  remember(key) {
    sessionStorage.setItem(KEY_ITEM, key);
  },
  forget() {
    sessionStorage.removeItem(KEY_ITEM);
  },
};

/** Called when the server no longer accepts the key, so the app can ask for another. */
let onSignedOut = () => {};

/** @param {() => void} handler */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

/** @typedef {Record<string, string | number | boolean | string[] | null | undefined>} Query */

/**
 * @param {string} path
 * @param {Query} [query]
 */
export function url(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, String(item));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

/** @param {string} [key] */
function headers(key) {
  /** @type {Record<string, string>} */
  const values = {};
  const token = key ?? credentials.key;
  if (token) values.Authorization = `Bearer ${token}`;
  return values;
}

/** @param {Response} response */
async function errorOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // A body that is not the API's error JSON (a proxy's page): the status says enough.
  }
  const error = new ApiError(response.status, body);
  if (response.status === 401) onSignedOut();
  return error;
}

/**
 * A JSON request to the API; throws `ApiError` for an answer that is not a success.
 * @param {string} path
 * @param {{method?: string, query?: Query, body?: unknown, key?: string, signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const init = /** @type {RequestInit} */ ({
    method: options.method ?? "GET",
    headers: headers(options.key),
    signal: options.signal,
  });
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    /** @type {Record<string, string>} */ (init.headers)["Content-Type"] = "application/json";
  }
  const response = await fetch(url(path, options.query), init);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

/**
 * Saves a file the API serves (a run's output) through the browser, with the key in a header.
 * @param {string} path
 * @param {string} name
 */
export async function download(path, name) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await errorOf(response);
  const address = URL.createObjectURL(await response.blob());
  const anchor = document.createElement("a");
  anchor.href = address;
  anchor.download = name;
  anchor.click();
  setTimeout(() => URL.revokeObjectURL(address), 10_000);
}

/**
 * @typedef {object} Frame
 * @property {string} id
 * @property {string} type
 * @property {any} data
 */

/**
 * Follows an event stream (`/v1/runs/{id}/stream`, `/v1/sessions/{id}/stream`), handing each
 * frame to `onFrame`. When the connection drops it connects again with `Last-Event-ID`, so the
 * server replays exactly what was missed. Ends when `signal` aborts, or when the server closes
 * the stream and `finished()` says nothing more will come.
 *
 * @param {string} path
 * @param {{
 *   after?: string | null,
 *   onFrame: (frame: Frame) => void,
 *   onConnection?: (state: "open" | "retrying") => void,
 *   finished: () => boolean,
 *   signal: AbortSignal,
 * }} options
 */
export async function follow(path, options) {
  let last = options.after ?? null;
  let backoff = 250;
  while (!options.signal.aborted) {
    try {
      /** @type {Record<string, string>} */
      const requestHeaders = { ...headers(), Accept: "text/event-stream" };
      if (last !== null) requestHeaders["Last-Event-ID"] = last;
      const response = await fetch(path, { headers: requestHeaders, signal: options.signal });
      if (!response.ok) throw await errorOf(response);
      options.onConnection?.("open");
      backoff = 250;
      for await (const frame of frames(/** @type {ReadableStream<Uint8Array>} */ (response.body))) {
        last = frame.id || last;
        options.onFrame(frame);
      }
      if (options.finished()) return;
    } catch (error) {
      if (options.signal.aborted) return;
      // A refusal stays a refusal; a dropped connection or a busy server is worth another try.
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) throw error;
    }
    options.onConnection?.("retrying");
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 5000);
  }
}

/**
 * The frames of a `text/event-stream` body, as the server writes them.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<Frame>}
 */
export async function* frames(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let id = "";
  let type = "message";
  /** @type {string[]} */
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length) yield { id, type, data: JSON.parse(data.join("\n")) };
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = text;
      else if (field === "event") type = text;
      else if (field === "data") data.push(text);
    }
  }
}
