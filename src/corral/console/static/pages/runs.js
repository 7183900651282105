// @ts-check
/**
 * The runs of the workspace, newest first: filters kept in the address (so a filtered view can be
 * shared), cursor paging, and the first page refreshed every few seconds while it is in view.
 */

import { api } from "../api.js";
import { agentName, loadAgentNames } from "../names.js";
import { badge, between, chips, cost, duration, failure, h, link, listTable, path, replace, shortId, time, tokens } from "../dom.js";
import { every, navigate } from "../nav.js";

const STATUSES = ["queued", "running", "waiting", "completed", "failed", "cancelled", "timed_out"];
const REFRESH_MS = 2000;
const FILTERS = ["status", "agent", "session", "metadata", "since", "until"];

/**
 * The run list's query from the address: `metadata` is written `key:value`, several separated by
 * spaces, exactly as `GET /v1/runs` takes it.
 * @param {URLSearchParams} params
 */
export function runQuery(params) {
  return {
    status: params.get("status"),
    agent: params.get("agent"),
    session: params.get("session"),
    metadata: (params.get("metadata") ?? "").split(/\s+/).filter(Boolean),
    created_after: params.get("since") ? new Date(params.get("since") ?? "").toISOString() : null,
    created_before: params.get("until") ? new Date(params.get("until") ?? "").toISOString() : null,
    cursor: params.get("cursor"),
    limit: 50,
  };
}

/**
 * @param {any} run
 */
export function runRow(run) {
  return h(
    "tr",
    { "data-href": path`/runs/${run.id}`, "data-id": run.id, "data-status": run.status },
    h("td", null, link(path`/runs/${run.id}`, shortId(run.id))),
    h("td", null, badge(run.status)),
    h("td", null, run.agent ? link(path`/agents/${run.agent}`, agentName(run.agent)) : h("span", { class: "muted" }, "inline")),
    h("td", { class: "hide-narrow" }, run.session ? link(path`/sessions/${run.session}`, shortId(run.session)) : ""),
    h("td", { class: "hide-narrow" }, run.model),
    h("td", null, time(run.created_at)),
    h("td", { class: "num" }, duration(between(run.started_at, run.ended_at))),
    h("td", { class: "num hide-narrow" }, tokens(run.usage.input_tokens + run.usage.output_tokens)),
    h("td", { class: "num" }, cost(run.usage.cost_usd)),
    h("td", { class: "hide-narrow" }, chips(run.metadata)),
  );
}

export function runTable() {
  const body = h("tbody");
  const narrow = "hide-narrow";
  const table = listTable(
    "runs",
    ["Run", "Status", "Agent", ["Session", narrow], ["Model", narrow], "Created", "Took", ["Tokens", narrow], "Cost", ["Metadata", narrow]],
    body,
  );
  return { table, body };
}

/**
 * @param {string[]} _parts
 * @param {URLSearchParams} params
 */
export function runsPage(_parts, params) {
  const { table, body } = runTable();
  const state = h("p", { class: "muted", "aria-live": "polite" });
  const pager = h("nav", { class: "pager" });
  const form = filterForm(params);
  const element = h("section", null, h("h1", null, "Runs"), form, state, table, pager);
  const firstPage = !params.get("cursor");

  /** @param {() => boolean} stopped */
  async function load(stopped) {
    try {
      const [page] = await Promise.all([api("/v1/runs", { query: runQuery(params) }), loadAgentNames()]);
      if (stopped()) return;
      const selected = body.querySelector("tr.selected")?.getAttribute("data-id");
      replace(body, page.data.map(runRow));
      if (selected) body.querySelector(`tr[data-id="${CSS.escape(selected)}"]`)?.classList.add("selected");
      replace(state, page.data.length ? "" : "No runs match.");
      replace(
        pager,
        firstPage ? null : h("a", { href: pageHref(params, null), "data-nav": true }, "← Newest"),
        page.next_cursor
          ? h("a", { href: pageHref(params, page.next_cursor), "data-nav": true, rel: "next" }, "Older →")
          : null,
      );
      element.dataset.loaded = "true";
    } catch (error) {
      if (!stopped()) replace(state, failure(error));
    }
  }
  // Only the newest runs change: an older page stays as it was read.
  return { element, leave: every(REFRESH_MS, load, () => firstPage) };
}

/**
 * @param {URLSearchParams} params
 * @param {string | null} cursor
 */
function pageHref(params, cursor) {
  const next = new URLSearchParams(params);
  if (cursor) next.set("cursor", cursor);
  else next.delete("cursor");
  const search = next.toString();
  return search ? `/runs?${search}` : "/runs";
}

/** @param {URLSearchParams} params */
function filterForm(params) {
  /** @param {string} name @param {string} label @param {Record<string, any>} [extra] */
  const field = (name, label, extra = {}) =>
    h("label", null, label, h("input", { name, value: params.get(name) ?? "", ...extra }));
  const status = h(
    "select",
    { name: "status", "data-filter": true },
    h("option", { value: "" }, "any status"),
    STATUSES.map((value) => h("option", { value, selected: params.get("status") === value }, value.replace("_", " "))),
  );
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        const data = new FormData(form);
        const next = new URLSearchParams();
        for (const name of FILTERS) {
          const value = String(data.get(name) ?? "").trim();
          if (value) next.set(name, value);
        }
        const search = next.toString();
        navigate(search ? `/runs?${search}` : "/runs");
      },
      onchange: (/** @type {Event} */ event) => {
        if (event.target instanceof HTMLSelectElement) form.requestSubmit();
      },
    },
    h("label", null, "Status", status),
    field("agent", "Agent", { placeholder: "id or name" }),
    field("session", "Session", { placeholder: "ses_…" }),
    field("metadata", "Metadata", { placeholder: "key:value key:value" }),
    field("since", "From", { type: "datetime-local" }),
    field("until", "To", { type: "datetime-local" }),
    h("button", { type: "submit" }, "Filter"),
  );
  return form;
}
