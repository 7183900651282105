// @ts-check
/** Usage and cost: the workspace's spend over a range, by day, by agent and by model. */

import { api } from "../api.js";
import { bars, columns } from "../chart.js";
import { cost, facts, failure, h, replace, tokens } from "../dom.js";
import { can } from "../nav.js";

const RANGES = { "7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days" };

/**
 * @param {string[]} _parts
 * @param {URLSearchParams} params
 */
export function usagePage(_parts, params) {
  const asked = params.get("days") ?? "";
  const days = asked in RANGES ? asked : "30";
  const content = h("div", { class: "usage" }, h("p", { class: "muted" }, "Loading…"));
  const element = h(
    "section",
    null,
    h("h1", null, "Usage"),
    h(
      "nav",
      { class: "tabs" },
      Object.entries(RANGES).map(([value, label]) =>
        h("a", { href: `/usage?days=${value}`, "data-nav": true, "aria-current": value === days ? "page" : null }, label),
      ),
    ),
    content,
  );
  load();
  return { element };

  async function load() {
    const until = new Date();
    const since = new Date(Date.UTC(until.getUTCFullYear(), until.getUTCMonth(), until.getUTCDate() - Number(days) + 1));
    const query = { since: since.toISOString(), until: new Date(until.getTime() + 1000).toISOString() };
    try {
      const [byDay, byAgent, byModel, agents] = await Promise.all([
        ...["day", "agent", "model"].map((group_by) => api("/v1/usage", { query: { ...query, group_by } })),
        can("agents:read") ? api("/v1/agents", { query: { limit: 100 } }) : { data: [] },
      ]);
      const names = new Map(agents.data.map((/** @type {any} */ agent) => [agent.id, agent.name]));
      const spent = new Map(byDay.groups.map((/** @type {any} */ group) => [group.day, group]));
      const daily = [];
      for (let day = new Date(since); day <= until; day.setUTCDate(day.getUTCDate() + 1)) {
        const label = day.toISOString().slice(0, 10);
        daily.push({ label, value: spent.get(label)?.cost_usd ?? 0, runs: spent.get(label)?.runs ?? 0 });
      }
      const totals = byDay.totals;
      replace(
        content,
        facts([
          ["Runs", totals.runs.toLocaleString()],
          ["Tokens", `${tokens(totals.input_tokens)} in · ${tokens(totals.output_tokens)} out`],
          ["Cost", cost(totals.cost_usd)],
        ]),
        h("h2", null, "Cost by day"),
        columns(daily, cost, "Cost by day"),
        h("h2", null, "Runs by day"),
        columns(daily.map((day) => ({ label: day.label, value: day.runs })), (n) => n.toLocaleString(), "Runs by day"),
        h("div", { class: "split" },
          h("div", null, h("h2", null, "Cost by agent"), bars(byAgent.groups.map((/** @type {any} */ g) => ({ label: g.agent ? names.get(g.agent) ?? g.agent : "inline", value: g.cost_usd })), cost, "Cost by agent")),
          h("div", null, h("h2", null, "Cost by model"), bars(byModel.groups.map((/** @type {any} */ g) => ({ label: g.model ?? "", value: g.cost_usd })), cost, "Cost by model")),
        ),
        h("h2", null, "Tokens by model"),
        bars(byModel.groups.map((/** @type {any} */ g) => ({ label: g.model ?? "", value: g.input_tokens + g.output_tokens })), tokens, "Tokens by model"),
      );
    } catch (error) {
      replace(content, failure(error));
    }
  }
}
