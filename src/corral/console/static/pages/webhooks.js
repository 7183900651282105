// @ts-check
/** Outbound webhooks and the deliveries made to each, with a way to send one again. */

import { api } from "../api.js";
import { badge, facts, failure, h, link, listTable, path, replace, time } from "../dom.js";
import { can } from "../nav.js";

export function webhooksPage() {
  const body = h("tbody");
  const state = h("p", { class: "muted" });
  const element = h(
    "section",
    null,
    h("h1", null, "Webhooks"),
    state,
    listTable("webhooks", ["Webhook", "URL", "Events", "State", "Created"],
      body,
    ),
  );
  api("/v1/webhooks", { query: { limit: 100 } })
    .then((page) => {
      replace(
        body,
        page.data.map((/** @type {any} */ hook) =>
          h(
            "tr",
            { "data-href": path`/webhooks/${hook.id}`, "data-id": hook.id },
            h("td", null, link(path`/webhooks/${hook.id}`, h("code", null, hook.id))),
            h("td", null, hook.url),
            h("td", null, hook.event_types.join(", ")),
            h("td", null, badge(hook.enabled ? "active" : "disabled")),
            h("td", null, time(hook.created_at)),
          ),
        ),
      );
      replace(state, page.data.length ? "" : "No webhooks yet.");
    })
    .catch((error) => replace(state, failure(error)));
  return { element };
}

/** @param {string[]} parts */
export function webhookPage([webhookId]) {
  const base = `/v1/webhooks/${encodeURIComponent(webhookId)}`;
  const element = h("section", { class: "webhook" }, h("h1", null, webhookId));

  async function load() {
    try {
      const [hook, deliveries] = await Promise.all([api(base), api(`${base}/deliveries`, { query: { limit: 50 } })]);
      /** @param {string} messageId */
      const resend = (messageId) => async () => {
        try {
          await api(`${base}/deliveries/${encodeURIComponent(messageId)}/resend`, { method: "POST" });
          await load();
        } catch (error) {
          element.append(failure(error));
        }
      };
      replace(
        element,
        h("h1", null, h("code", null, hook.id), " ", badge(hook.enabled ? "active" : "disabled")),
        facts([
          ["URL", hook.url],
          ["Description", hook.description],
          ["Events", hook.event_types.join(", ")],
          ["Disabled because", hook.disabled_reason],
          ["Created", time(hook.created_at)],
        ]),
        h("h2", null, "Deliveries"),
        deliveries.data.length
          ? listTable("deliveries", ["Delivery", "Event", "Status", "Attempts", "Last answer", "Created", ""],
              h(
                "tbody",
                null,
                deliveries.data.map((/** @type {any} */ delivery) =>
                  h(
                    "tr",
                    null,
                    h("td", null, h("code", null, delivery.message_id)),
                    h("td", null, delivery.event_type, delivery.run_id ? [" · ", link(path`/runs/${delivery.run_id}`, delivery.run_id)] : null),
                    h("td", null, badge(delivery.status)),
                    h("td", { class: "num" }, String(delivery.attempts)),
                    h("td", null, delivery.last_status_code ? String(delivery.last_status_code) : delivery.last_error ?? ""),
                    h("td", null, time(delivery.created_at)),
                    h("td", null, can("webhooks:write") && hook.enabled ? h("button", { type: "button", class: "link", onclick: resend(delivery.message_id) }, "Send again") : null),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "Nothing delivered yet."),
      );
    } catch (error) {
      element.append(failure(error));
    }
  }
  load();
  return { element };
}
