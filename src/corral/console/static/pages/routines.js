// @ts-check
/** Routines (what starts runs by itself) and their history of fires. */

import { api } from "../api.js";
import { badge, chips, facts, failure, h, link, listTable, path, replace, time } from "../dom.js";
import { can } from "../nav.js";

export function routinesPage() {
  const body = h("tbody");
  const state = h("p", { class: "muted" });
  const element = h(
    "section",
    null,
    h("h1", null, "Routines"),
    state,
    listTable("routines", ["Routine", "Status", "Agent", "Triggers", "Next fire", "Last fired"],
      body,
    ),
  );
  api("/v1/routines", { query: { limit: 100 } })
    .then((page) => {
      replace(
        body,
        page.data.map((/** @type {any} */ routine) =>
          h(
            "tr",
            { "data-href": path`/routines/${routine.id}`, "data-id": routine.id },
            h("td", null, link(path`/routines/${routine.id}`, routine.name)),
            h("td", null, badge(routine.status)),
            h("td", null, link(path`/agents/${routine.agent}`, routine.agent)),
            h("td", null, routine.triggers.map((/** @type {any} */ t) => (t.type === "schedule" ? t.cron : "webhook")).join(", ") || "by hand"),
            h("td", null, time(nextFire(routine))),
            h("td", null, time(routine.last_fired_at)),
          ),
        ),
      );
      replace(state, page.data.length ? "" : "No routines yet.");
    })
    .catch((error) => replace(state, failure(error)));
  return { element };
}

/** @param {any} routine */
function nextFire(routine) {
  const times = routine.triggers.map((/** @type {any} */ t) => t.next_fire_at).filter(Boolean).sort();
  return times[0] ?? null;
}

/** @param {string[]} parts */
export function routinePage([routineId]) {
  const base = `/v1/routines/${encodeURIComponent(routineId)}`;
  const element = h("section", { class: "routine" }, h("h1", null, routineId));
  const problem = h("p", { class: "error", role: "alert" });

  async function load() {
    try {
      const [routine, fires] = await Promise.all([api(base), api(`${base}/fires`, { query: { limit: 50 } })]);
      /** @param {string} action */
      const act = (action) => async () => {
        try {
          await api(`${base}/${action}`, { method: "POST", body: action === "run" ? {} : undefined });
          await load();
        } catch (error) {
          replace(problem, failure(error));
        }
      };
      replace(
        element,
        h(
          "div",
          { class: "run-header" },
          h("h1", null, routine.name, " ", badge(routine.status)),
          can("routines:write")
            ? h(
                "div",
                { class: "actions" },
                h("button", { type: "button", class: "primary", onclick: act("run") }, "Run now"),
                routine.status === "active"
                  ? h("button", { type: "button", onclick: act("pause") }, "Pause")
                  : h("button", { type: "button", onclick: act("resume") }, "Resume"),
              )
            : null,
        ),
        problem,
        facts([
          ["Id", h("code", null, routine.id)],
          ["Agent", [link(path`/agents/${routine.agent}`, routine.agent), routine.agent_version ? ` v${routine.agent_version}` : " (latest)"]],
          ["Description", routine.description],
          ["Paused because", routine.paused_reason ? `${routine.paused_reason.message} (${routine.paused_reason.code})` : null],
          ["Session", routine.session_id ? link(path`/sessions/${routine.session_id}`, routine.session_id) : routine.session],
          ["Catch-up", routine.catch_up],
          ["Overlap", routine.overlap],
          ["Metadata", chips(routine.metadata)],
          ["Input", h("pre", null, routine.input)],
        ]),
        h("h2", null, "Triggers"),
        routine.triggers.length
          ? h(
              "ul",
              { class: "triggers" },
              routine.triggers.map((/** @type {any} */ trigger) =>
                trigger.type === "schedule"
                  ? h(
                      "li",
                      null,
                      h("code", null, trigger.cron),
                      ` in ${trigger.timezone}`,
                      trigger.next_fire_at ? [" · next ", time(trigger.next_fire_at)] : " · none while paused",
                    )
                  : h("li", null, "Webhook ", h("code", null, `${location.origin}${trigger.path}`), trigger.filter ? [" · filter ", h("code", null, trigger.filter)] : null),
              ),
            )
          : h("p", { class: "muted" }, "Runs by hand only."),
        h("h2", null, "Fires"),
        fires.data.length
          ? listTable("fires", ["Fire", "Trigger", "Status", "Scheduled", "Run", "Why"],
              h(
                "tbody",
                null,
                fires.data.map((/** @type {any} */ fire) =>
                  h(
                    "tr",
                    fire.run_id ? { "data-href": path`/runs/${fire.run_id}` } : null,
                    h("td", null, h("code", null, fire.id)),
                    h("td", null, fire.trigger),
                    h("td", null, badge(fire.status)),
                    h("td", null, time(fire.scheduled_at ?? fire.created_at)),
                    h("td", null, fire.run_id ? link(path`/runs/${fire.run_id}`, fire.run_id) : ""),
                    h("td", null, fire.error ? `${fire.error.message} (${fire.error.code})` : fire.reason ?? "", fire.missed ? ` · ${fire.missed} missed` : ""),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "It has not fired yet."),
      );
    } catch (error) {
      element.append(failure(error));
    }
  }
  load();
  return { element };
}
