// @ts-check
/** API keys and vault secrets: what exists and when it was used, never a secret's value. */

import { api } from "../api.js";
import { badge, failure, h, listTable, replace, time } from "../dom.js";
import { can } from "../nav.js";

export function keysPage() {
  const keys = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const secrets = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const element = h("section", null, h("h1", null, "Keys and secrets"), h("h2", null, "API keys"), keys, h("h2", null, "Secrets"), secrets);

  if (can("keys:read")) {
    api("/v1/keys", { query: { limit: 100 } })
      .then((page) =>
        replace(
          keys,
          listTable("keys", ["Name", "Key", "Scopes", "Agents", "Last used", "Expires", "State"],
            h(
              "tbody",
              null,
              page.data.map((/** @type {any} */ key) =>
                h(
                  "tr",
                  { "data-id": key.id },
                  h("td", null, key.name),
                  h("td", null, h("code", { title: key.id }, `${key.prefix}…`)),
                  h("td", null, key.scopes.join(", ")),
                  h("td", null, key.agents ? key.agents.join(", ") : "all"),
                  h("td", null, time(key.last_used_at)),
                  h("td", null, time(key.expires_at)),
                  h("td", null, badge(key.revoked_at ? "revoked" : key.expires_at && Date.parse(key.expires_at) < Date.now() ? "expired" : "active")),
                ),
              ),
            ),
          ),
        ),
      )
      .catch((error) => replace(keys, failure(error)));
  } else {
    replace(keys, h("p", { class: "muted" }, "This key may not list keys (it lacks keys:read)."));
  }

  if (can("secrets:read")) {
    api("/v1/secrets", { query: { limit: 100 } })
      .then((page) =>
        replace(
          secrets,
          page.data.length
            ? listTable("secrets", ["Name", "Description", "Version", "Updated"],
                h(
                  "tbody",
                  null,
                  page.data.map((/** @type {any} */ secret) =>
                    h(
                      "tr",
                      { "data-id": secret.id },
                      h("td", null, h("code", null, secret.name)),
                      h("td", null, secret.description ?? ""),
                      h("td", { class: "num" }, `v${secret.version}`),
                      h("td", null, time(secret.updated_at)),
                    ),
                  ),
                ),
              )
            : h("p", { class: "muted" }, "The vault is empty."),
        ),
      )
      .catch((error) => replace(secrets, failure(error)));
  } else {
    replace(secrets, h("p", { class: "muted" }, "This key may not list secrets (it lacks secrets:read)."));
  }
  return { element };
}
