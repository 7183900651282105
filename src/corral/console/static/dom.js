// @ts-check
/**
 * Building the page: a small element factory and the formatting every page shares.
 *
 * Agents write much of what the console shows (outputs, tool arguments, names), so text only
 * ever reaches the page as text nodes: nothing here parses a string as HTML.
 */

/** @typedef {string | number | Node | null | undefined | false} Child */
/** @typedef {Child | Child[] | (Child | Child[])[] | (Child | Child[] | (Child | Child[])[])[]} Children nested lists of children, flattened when added */
/** @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attributes */

/**
 * An element with attributes, listeners (`onclick`...) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes | null} [attributes]
 * @param {...Children} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

/**
 * @param {Node} parent
 * @param {Children[]} children
 */
export function append(parent, children) {
  for (const child of /** @type {Child[]} */ (children.flat(Infinity))) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces what `parent` holds.
 * @param {Node} parent
 * @param {...Children} children
 */
export function replace(parent, ...children) {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}

/**
 * A path with each interpolated part percent-encoded (``path`/runs/${id}` ``), so an id, which
 * a model may have had a hand in, can never add a segment or a query to the address it is in.
 * @param {TemplateStringsArray} strings
 * @param {...(string | number)} parts
 */
export function path(strings, ...parts) {
  return strings.reduce(
    (out, text, index) => out + text + (index < parts.length ? encodeURIComponent(String(parts[index])) : ""),
    "",
  );
}

/**
 * A link inside the console, followed without reloading the page.
 * @param {string} path
 * @param {...Children} children
 */
export function link(path, ...children) {
  return h("a", { href: path, "data-nav": true }, ...children);
}

/**
 * An id short enough for a table cell (`run_…7cr603`), whole on hover and when copied.
 * @param {string} id
 */
export function shortId(id) {
  const cut = id.indexOf("_") + 1;
  const short = id.length > cut + 10 ? `${id.slice(0, cut)}…${id.slice(-6)}` : id;
  return h("code", { class: "id", title: id, "data-id": id }, short);
}

/** @param {string} status */
export function badge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status }, status.replace("_", " "));
}

/** @param {string | null | undefined} moment */
export function when(moment) {
  if (!moment) return "";
  const date = new Date(moment);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/**
 * A `<time>` showing `moment` in the reader's zone, with the exact UTC time on hover.
 * @param {string | null | undefined} moment
 */
export function time(moment) {
  if (!moment) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: moment, title: moment }, when(moment));
}

/** @param {number | null | undefined} seconds */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * Seconds from `start` to `end` (or to now, for something still going).
 * @param {string | null | undefined} start
 * @param {string | null | undefined} [end]
 */
export function between(start, end) {
  if (!start) return null;
  const stop = end ? Date.parse(end) : Date.now();
  return Math.max(0, (stop - Date.parse(start)) / 1000);
}

/** @param {number | null | undefined} usd */
export function cost(usd) {
  if (!usd) return "$0";
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

/** @param {number | null | undefined} count */
export function tokens(count) {
  if (!count) return "0";
  if (count < 10_000) return count.toLocaleString();
  if (count < 1_000_000) return `${(count / 1000).toFixed(1)}k`;
  return `${(count / 1_000_000).toFixed(2)}M`;
}

/** Pretty JSON of what a model or a tool gave, for a `<pre>`. @param {unknown} value */
export function json(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/**
 * A list as a table: a head row naming `columns` (a name, or `[name, class]`), then `rest`
 * (its `<tbody>`).
 * @param {string} kind the table's class besides `list` (`runs`, `agents`…)
 * @param {(string | [string, string])[]} columns
 * @param {...Children} rest
 */
export function listTable(kind, columns, ...rest) {
  const head = columns.map((column) =>
    typeof column === "string" ? h("th", null, column) : h("th", { class: column[1] }, column[0]),
  );
  return h("table", { class: `list ${kind}` }, h("thead", null, h("tr", null, head)), ...rest);
}

/**
 * A definition list of label → value rows, skipping empty values.
 * @param {[string, Children][]} rows
 */
export function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([label, value]) => [h("dt", null, label), h("dd", null, value)]),
  );
}

/** @param {Record<string, string> | null | undefined} metadata */
export function chips(metadata) {
  const entries = Object.entries(metadata ?? {});
  if (!entries.length) return null;
  return h(
    "span",
    { class: "chips" },
    entries.map(([key, value]) => h("span", { class: "chip" }, `${key}: ${value}`)),
  );
}

/**
 * The message shown where a page could not load what it needed.
 * @param {unknown} error
 */
export function failure(error) {
  const message = error instanceof Error ? error.message : String(error);
  const code = /** @type {{code?: string}} */ (error).code;
  return h("p", { class: "error", role: "alert" }, code ? `${message} (${code})` : message);
}
