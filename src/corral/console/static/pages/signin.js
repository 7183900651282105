// @ts-check
/** Signing in: an API key, checked against `/v1/whoami` before it is kept for this tab. */

import { h } from "../dom.js";

/**
 * @param {(key: string) => Promise<void>} check throws when the server refuses the key
 */
export function signIn(check) {
  const input = h("input", {
    type: "password",
    name: "key",
    id: "key",
    autocomplete: "off",
    required: true,
    placeholder: "crl_…",
    "aria-describedby": "key-help",
  });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        error.hidden = true;
        button.disabled = true;
        try {
          await check(input.value.trim());
        } catch (refused) {
          const code = /** @type {{code?: string}} */ (refused).code;
          error.textContent =
            code === "unauthorized"
              ? "The server does not know this key (or it was revoked or has expired)."
              : refused instanceof Error
                ? refused.message
                : String(refused);
          error.hidden = false;
          input.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", null, "Sign in to Corral"),
    h("label", { for: "key" }, "API key"),
    input,
    h(
      "p",
      { id: "key-help", class: "muted" },
      "The console sees what this key may see. It is kept in this tab only, and sent only to this server.",
    ),
    button,
    error,
  );
  queueMicrotask(() => input.focus());
  return form;
}
