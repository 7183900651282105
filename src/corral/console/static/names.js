// @ts-check
/** Agents' names for their ids, so tables can say `triage`, not `agt_…`. */

import { api } from "./api.js";
import { h } from "./dom.js";
import { can } from "./nav.js";

/** @type {Map<string, string>} */
const names = new Map();
/** @type {Promise<void> | null} */
let loading = null;
let loadedAt = 0;
const FRESH_MS = 60_000;

/** Reads the workspace's agents (the first 100; others show as ids), at most once a minute. */
export function loadAgentNames() {
  if (!loading || Date.now() - loadedAt > FRESH_MS) {
    loadedAt = Date.now();
    loading = can("agents:read")
      ? api("/v1/agents", { query: { limit: 100 } })
          .then((page) => {
            for (const agent of page.data) names.set(agent.id, agent.name);
          })
          .catch(() => {})
      : Promise.resolve();
  }
  return loading;
}

/** @param {string} id */
export function agentName(id) {
  const name = names.get(id);
  return name ? h("span", { title: id }, name) : h("code", { class: "id", title: id }, id);
}
