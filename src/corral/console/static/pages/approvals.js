// @ts-check
/** The approvals inbox: every tool call in the workspace that waits for a person. */

import { api } from "../api.js";
import { badge, chips, failure, h, json, link, path, replace, time } from "../dom.js";
import { can, every } from "../nav.js";

const REFRESH_MS = 3000;

/**
 * @param {string[]} _parts
 * @param {URLSearchParams} params
 */
export function approvalsPage(_parts, params) {
  const status = params.get("status") ?? "pending";
  const list = h("div", { class: "approvals" });
  const state = h("p", { class: "muted", "aria-live": "polite" });
  const element = h(
    "section",
    null,
    h("h1", null, "Approvals"),
    h(
      "nav",
      { class: "tabs" },
      ["pending", "allowed", "denied", "expired"].map((name) =>
        h("a", { href: `/approvals?status=${name}`, "data-nav": true, "aria-current": name === status ? "page" : null }, name),
      ),
    ),
    state,
    list,
  );
  /** @type {Set<string>} */
  const deciding = new Set();

  /** @param {() => boolean} stopped */
  async function load(stopped) {
    try {
      const page = await api("/v1/approvals", { query: { status, limit: 100 } });
      if (stopped()) return;
      replace(state, page.data.length ? "" : status === "pending" ? "Nothing waits for a decision." : `No ${status} approvals.`);
      // A card being decided stays as it is until its answer comes.
      const kept = new Map([...list.querySelectorAll("article[data-id]")].map((card) => [card.getAttribute("data-id"), card]));
      replace(
        list,
        page.data.map((/** @type {any} */ approval) =>
          deciding.has(approval.id) && kept.get(approval.id) ? kept.get(approval.id) : card(approval),
        ),
      );
    } catch (error) {
      if (!stopped()) replace(state, failure(error));
    }
  }

  /** @param {any} approval */
  function card(approval) {
    const message = h("input", { type: "text", name: "message", placeholder: "Why (the model reads it)" });
    const problem = h("span", { class: "error" });
    /** @param {"allow" | "deny"} decision */
    const decide = async (decision) => {
      deciding.add(approval.id);
      try {
        await api(path`/v1/runs/${approval.run_id}/approvals/${approval.call_id}`, {
          method: "POST",
          body: { decision, message: decision === "deny" && message.value ? message.value : undefined },
        });
        article.remove();
      } catch (error) {
        replace(problem, failure(error));
      } finally {
        deciding.delete(approval.id);
      }
    };
    const article = h(
      "article",
      { class: "card approval", "data-id": approval.id, "data-state": approval.status === "pending" ? "open" : approval.status },
      h(
        "div",
        { class: "card-head" },
        h("strong", { class: "tool-name" }, approval.tool),
        badge(approval.status),
        "in ",
        link(path`/runs/${approval.run_id}`, approval.run_id),
        approval.agent ? [" of ", link(path`/agents/${approval.agent}`, approval.agent)] : null,
        time(approval.created_at),
      ),
      h("pre", null, json(approval.decided_input ?? approval.input)),
      h("p", { class: "muted" }, `Held by ${approval.policy}`, approval.expires_at ? `, until ${new Date(approval.expires_at).toLocaleString()}` : "", " ", chips(approval.metadata)),
      approval.message ? h("p", null, `Message: ${approval.message}`) : null,
      approval.status === "pending" && can("runs:write")
        ? h(
            "form",
            { class: "decision", onsubmit: (/** @type {Event} */ e) => e.preventDefault() },
            h("button", { type: "button", class: "primary", onclick: () => decide("allow") }, "Approve"),
            message,
            h("button", { type: "button", class: "danger", onclick: () => decide("deny") }, "Deny"),
            problem,
          )
        : null,
    );
    return article;
  }

  // Only the pending ones change by themselves.
  return { element, leave: every(REFRESH_MS, load, () => status === "pending") };
}
