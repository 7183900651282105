// @ts-check
/**
 * One run: what it is (status, agent, usage, metadata, lineage), its live timeline, its output
 * files, and a cancel button while it is going.
 */

import { api, download } from "../api.js";
import { badge, between, chips, cost, duration, facts, failure, h, link, path, replace, time, tokens } from "../dom.js";
import { can } from "../nav.js";
import { Timeline } from "../timeline.js";

const TERMINAL = ["completed", "failed", "cancelled", "timed_out"];

/** @param {string[]} parts */
export function runPage([runId]) {
  const header = h("div", { class: "run-header" });
  const summary = h("div", { class: "summary" });
  const outputs = h("div", { class: "outputs" });
  const connection = h("span", { class: "connection muted", "aria-live": "polite" });
  const timelineRoot = h("div");
  const element = h(
    "section",
    { class: "run", "data-run": runId },
    header,
    summary,
    h("h2", null, "Timeline ", connection),
    timelineRoot,
    outputs,
  );
  /** @type {any} */
  let run = null;
  let refreshing = false;
  let again = false;

  /** Reads the run again; calls made while a read is out are folded into one more read. */
  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      run = await api(`/v1/runs/${encodeURIComponent(runId)}`);
      drawHeader();
      if (TERMINAL.includes(run.status)) drawOutputs();
    } catch (error) {
      replace(header, h("h1", null, runId), failure(error));
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  function drawHeader() {
    const going = !TERMINAL.includes(run.status);
    replace(
      header,
      h("h1", null, h("code", null, run.id), " ", badge(run.status)),
      going && can("runs:write")
        ? h("button", { type: "button", class: "danger", onclick: cancel }, "Cancel run")
        : null,
    );
    const usage = run.total_usage ?? run.usage;
    replace(
      summary,
      facts([
        ["Agent", run.agent ? [link(path`/agents/${run.agent}`, run.agent), run.agent_version ? ` v${run.agent_version}` : ""] : "inline"],
        ["Model", run.model],
        ["Session", run.session ? link(path`/sessions/${run.session}`, run.session) : null],
        ["Parent", run.parent_run ? link(path`/runs/${run.parent_run}`, run.parent_run) : null],
        ["Root", run.root_run && run.root_run !== run.parent_run ? link(path`/runs/${run.root_run}`, run.root_run) : null],
        ["Created", time(run.created_at)],
        ["Took", run.started_at ? duration(between(run.started_at, run.ended_at)) : "not started"],
        ["Tokens", `${tokens(usage.input_tokens)} in · ${tokens(usage.output_tokens)} out`],
        ["Cost", [cost(usage.cost_usd), run.total_usage ? " with its subagents" : ""]],
        ["Subagents", run.subagents ? String(run.subagents) : null],
        ["Metadata", chips(run.metadata)],
        ["Input", h("pre", { class: "input" }, typeof run.input === "string" ? run.input : JSON.stringify(run.input, null, 2))],
      ]),
    );
  }

  async function cancel() {
    try {
      run = await api(`/v1/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" });
      drawHeader();
    } catch (error) {
      header.append(failure(error));
    }
  }

  async function drawOutputs() {
    try {
      const listed = await api(`/v1/runs/${encodeURIComponent(runId)}/outputs`);
      if (!listed.data.length) return;
      replace(
        outputs,
        h("h2", null, "Outputs"),
        h(
          "ul",
          { class: "files" },
          listed.data.map((/** @type {any} */ file) =>
            h(
              "li",
              null,
              h(
                "button",
                {
                  type: "button",
                  class: "link",
                  onclick: () => download(`/v1/runs/${encodeURIComponent(runId)}/outputs/${file.path.split("/").map(encodeURIComponent).join("/")}`, file.path.split("/").pop()),
                },
                file.path,
              ),
              h("span", { class: "muted" }, ` ${file.size.toLocaleString()} bytes`),
            ),
          ),
        ),
      );
    } catch {
      // A run with no environment has no outputs to list.
    }
  }

  const timeline = new Timeline(timelineRoot, {
    runId,
    onEvent: (event) => {
      // The header follows the events that change the run's standing.
      if (/^(run\.|approval\.|client_tool\.|usage$)/.test(event.type)) refresh();
    },
    onConnection: (state) => replace(connection, state === "open" ? "" : "reconnecting…"),
  });
  refresh();
  timeline.start().catch((error) => timelineRoot.append(failure(error)));
  return { element, leave: () => timeline.stop() };
}
