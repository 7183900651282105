// @ts-check
/** Sessions: the list, and one session's conversation with a box to send the next message. */

import { api } from "../api.js";
import { conversation } from "../conversation.js";
import { badge, chips, cost, facts, failure, h, link, listTable, path, replace, time } from "../dom.js";
import { can } from "../nav.js";
import { Timeline } from "../timeline.js";
import { runRow, runTable } from "./runs.js";

const REFRESH_MS = 2000;

/**
 * @param {string[]} _parts
 * @param {URLSearchParams} params
 */
export function sessionsPage(_parts, params) {
  const body = h("tbody");
  const pager = h("nav", { class: "pager" });
  const state = h("p", { class: "muted" });
  const element = h(
    "section",
    null,
    h("h1", null, "Sessions"),
    state,
    listTable("sessions", ["Session", "Status", "Agent", "Model", "Updated", "Spend cap", "Metadata"],
      body,
    ),
    pager,
  );
  api("/v1/sessions", { query: { cursor: params.get("cursor"), limit: 50 } })
    .then((page) => {
      replace(
        body,
        page.data.map((/** @type {any} */ session) =>
          h(
            "tr",
            { "data-href": path`/sessions/${session.id}`, "data-id": session.id },
            h("td", null, link(path`/sessions/${session.id}`, h("code", null, session.id))),
            h("td", null, badge(session.status)),
            h("td", null, session.agent ? link(path`/agents/${session.agent}`, session.agent) : "inline"),
            h("td", null, session.model),
            h("td", null, time(session.updated_at)),
            h("td", { class: "num" }, session.max_spend_usd == null ? "" : cost(session.max_spend_usd)),
            h("td", null, chips(session.metadata)),
          ),
        ),
      );
      replace(state, page.data.length ? "" : "No sessions yet.");
      replace(
        pager,
        params.get("cursor") ? link("/sessions", "← Newest") : null,
        page.next_cursor ? link(`/sessions?cursor=${encodeURIComponent(page.next_cursor)}`, "Older →") : null,
      );
    })
    .catch((error) => replace(state, failure(error)));
  return { element };
}

/** @param {string[]} parts */
export function sessionPage([sessionId]) {
  const base = `/v1/sessions/${encodeURIComponent(sessionId)}`;
  const header = h("div", { class: "run-header" });
  const summary = h("div");
  const talk = h("div", { class: "talk" });
  const live = h("div", { class: "live" });
  const runs = runTable();
  const input = h("textarea", { name: "input", rows: 3, placeholder: "Your message", required: true, "aria-label": "Message" });
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const composer = h(
    "form",
    {
      class: "composer",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        send.disabled = true;
        problem.hidden = true;
        try {
          await api(`${base}/messages`, { method: "POST", body: { input: input.value } });
          input.value = "";
          await refresh();
        } catch (error) {
          replace(problem, failure(error));
          problem.hidden = false;
        } finally {
          send.disabled = false;
        }
      },
    },
    input,
    h("div", { class: "composer-actions" }, send, problem),
  );
  const element = h(
    "section",
    { class: "session", "data-session": sessionId },
    header,
    summary,
    h("h2", null, "Conversation"),
    talk,
    live,
    can("sessions:write") ? composer : null,
    h("h2", null, "Runs"),
    runs.table,
  );
  /** @type {Timeline | null} */
  let following = null;
  let followingRun = "";
  let timer = 0;
  let stopped = false;
  let shown = -1;

  async function refresh() {
    clearTimeout(timer);
    try {
      const [session, page] = await Promise.all([
        api(base),
        api("/v1/runs", { query: { session: sessionId, limit: 20 } }),
      ]);
      if (stopped) return;
      replace(
        header,
        h("h1", null, h("code", null, session.id), " ", badge(session.status)),
        session.status !== "ended" && can("sessions:write")
          ? h("button", { type: "button", class: "danger", onclick: () => end() }, "End session")
          : null,
      );
      replace(
        summary,
        facts([
          ["Agent", session.agent ? link(path`/agents/${session.agent}`, session.agent) : "inline"],
          ["Model", session.model],
          ["Created", time(session.created_at)],
          ["Spend cap", session.max_spend_usd == null ? null : cost(session.max_spend_usd)],
          ["Stopped", session.stop_reason ? `${session.stop_reason.type}: spent ${cost(session.stop_reason.spent_usd)}` : null],
          ["Metadata", chips(session.metadata)],
        ]),
      );
      if (session.messages.length !== shown) {
        shown = session.messages.length;
        replace(talk, conversation(session.messages));
      }
      replace(runs.body, page.data.map(runRow));
      composer.hidden = session.status === "ended";
      const active = page.data.find((/** @type {any} */ run) => ["queued", "running", "waiting"].includes(run.status));
      if (active && active.id !== followingRun) {
        following?.stop();
        followingRun = active.id;
        following = new Timeline(live, { runId: active.id });
        following.start().catch(() => {});
      } else if (!active && following) {
        following.stop();
        following = null;
        followingRun = "";
        replace(live);
      }
    } catch (error) {
      replace(header, h("h1", null, sessionId), failure(error));
    }
    if (!stopped) timer = window.setTimeout(refresh, REFRESH_MS);
  }

  async function end() {
    try {
      await api(base, { method: "DELETE" });
      await refresh();
    } catch (error) {
      header.append(failure(error));
    }
  }

  refresh();
  return {
    element,
    leave() {
      stopped = true;
      clearTimeout(timer);
      following?.stop();
    },
  };
}

