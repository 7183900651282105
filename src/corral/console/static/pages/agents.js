// @ts-check
/**
 * Agents: the list; one agent with its manifest, its versions compared side by side, and a box to
 * run it.
 */

import { api } from "../api.js";
import { sideBySide } from "../diff.js";
import { chips, facts, failure, h, link, listTable, path, replace, time } from "../dom.js";
import { can, navigate } from "../nav.js";
import { toYaml } from "../yaml.js";
import { runRow, runTable } from "./runs.js";

/** The fields of a manifest (`corral agents apply`), in its order: `name`, then the spec's. */
const MANIFEST = [
  "description",
  "model",
  "instructions",
  "tools",
  "limits",
  "model_settings",
  "include_builtin_tools",
  "builtin_tools",
  "environment",
  "skills",
  "metadata",
  "spend_limits",
  "permissions",
];

/**
 * `value` without its null fields, as a manifest leaves out what takes its default.
 * @param {any} value
 * @returns {any}
 */
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== null)
        .map(([key, item]) => [key, withoutNulls(item)]),
    );
  }
  return value;
}

/**
 * An agent (or one of its versions) as the manifest that would create it.
 * @param {string} name
 * @param {Record<string, any>} spec
 */
export function manifest(name, spec) {
  /** @type {Record<string, any>} */
  const document = { name };
  for (const field of MANIFEST) {
    if (spec[field] !== null && spec[field] !== undefined) document[field] = withoutNulls(spec[field]);
  }
  return toYaml(document);
}

/**
 * @param {string[]} _parts
 * @param {URLSearchParams} params
 */
export function agentsPage(_parts, params) {
  const body = h("tbody");
  const state = h("p", { class: "muted" });
  const pager = h("nav", { class: "pager" });
  const element = h(
    "section",
    null,
    h("h1", null, "Agents"),
    state,
    listTable("agents", ["Agent", "Version", "Model", "Description", "Updated", "Metadata"],
      body,
    ),
    pager,
  );
  api("/v1/agents", { query: { cursor: params.get("cursor"), limit: 50 } })
    .then((page) => {
      replace(
        body,
        page.data.map((/** @type {any} */ agent) =>
          h(
            "tr",
            { "data-href": path`/agents/${agent.id}`, "data-id": agent.id },
            h("td", null, link(path`/agents/${agent.id}`, agent.name)),
            h("td", { class: "num" }, `v${agent.version}`),
            h("td", null, agent.model),
            h("td", null, agent.description),
            h("td", null, time(agent.updated_at)),
            h("td", null, chips(agent.metadata)),
          ),
        ),
      );
      replace(state, page.data.length ? "" : "No agents yet: create one with `corral agents apply` or POST /v1/agents.");
      replace(pager, page.next_cursor ? link(`/agents?cursor=${encodeURIComponent(page.next_cursor)}`, "More →") : null);
    })
    .catch((error) => replace(state, failure(error)));
  return { element };
}

/** @param {string[]} parts */
export function agentPage([agentId]) {
  const element = h("section", { class: "agent" }, h("h1", null, agentId));
  load();
  return { element };

  async function load() {
    try {
      const id = encodeURIComponent(agentId);
      const [agent, versions, runs] = await Promise.all([
        api(path`/v1/agents/${id}`),
        api(path`/v1/agents/${id}/versions`, { query: { limit: 100 } }),
        can("runs:read") ? api("/v1/runs", { query: { agent: agentId, limit: 10 } }) : { data: [] },
      ]);
      const recent = runTable();
      replace(recent.body, runs.data.map(runRow));
      replace(
        element,
        h("h1", null, agent.name, h("span", { class: "muted" }, ` v${agent.version}`)),
        facts([
          ["Id", h("code", null, agent.id)],
          ["Model", agent.model],
          ["Description", agent.description],
          ["Updated", time(agent.updated_at)],
          ["Metadata", chips(agent.metadata)],
        ]),
        can("runs:write") ? runBox(agent) : null,
        h("h2", null, "Manifest"),
        h("pre", { class: "manifest" }, manifest(agent.name, agent)),
        h("h2", null, "Versions"),
        compare(agent.name, versions.data),
        h("h2", null, "Recent runs"),
        runs.data.length ? recent.table : h("p", { class: "muted" }, "No runs yet."),
      );
    } catch (error) {
      element.append(failure(error));
    }
  }
}

/** @param {any} agent */
function runBox(agent) {
  const input = h("textarea", { name: "input", rows: 3, required: true, placeholder: `Ask ${agent.name}…`, "aria-label": "Input" });
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const button = h("button", { type: "submit", class: "primary" }, "Run this agent");
  return h(
    "form",
    {
      class: "composer",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        button.disabled = true;
        problem.hidden = true;
        try {
          const run = await api("/v1/runs", { method: "POST", body: { agent: agent.id, input: input.value } });
          navigate(path`/runs/${run.id}`);
        } catch (error) {
          replace(problem, failure(error));
          problem.hidden = false;
          button.disabled = false;
        }
      },
    },
    input,
    h("div", { class: "composer-actions" }, button, problem),
  );
}

/**
 * Two versions side by side: the previous and the newest unless the person picks others.
 * @param {string} name
 * @param {any[]} versions newest first
 */
function compare(name, versions) {
  if (versions.length < 2) return h("p", { class: "muted" }, "One version so far.");
  const pick = (/** @type {string} */ label, /** @type {number} */ chosen) =>
    h(
      "select",
      { "aria-label": label },
      versions.map((version) => h("option", { value: String(version.version), selected: version.version === chosen }, `v${version.version} · ${new Date(version.created_at).toLocaleString()}`)),
    );
  const left = pick("Older version", versions[1].version);
  const right = pick("Newer version", versions[0].version);
  const table = h("table", { class: "diff" });
  const draw = () => {
    const byNumber = (/** @type {string} */ value) => versions.find((version) => String(version.version) === value);
    const rows = sideBySide(manifest(name, byNumber(left.value)), manifest(name, byNumber(right.value)));
    replace(
      table,
      h(
        "tbody",
        null,
        rows.map((row) =>
          h("tr", { class: row.kind }, h("td", { class: "left" }, h("pre", null, row.left ?? "")), h("td", { class: "right" }, h("pre", null, row.right ?? ""))),
        ),
      ),
    );
  };
  left.addEventListener("change", draw);
  right.addEventListener("change", draw);
  draw();
  return h("div", { class: "compare" }, h("div", { class: "compare-pick" }, left, "→", right), table);
}
