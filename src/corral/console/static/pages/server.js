// @ts-check
/** The server as this key sees it: readiness, how agents' tools are isolated, and the limits. */

import { api } from "../api.js";
import { badge, facts, failure, h, replace } from "../dom.js";
import { signedIn } from "../nav.js";

export function serverPage() {
  const content = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const element = h("section", null, h("h1", null, "Server"), content);
  load();
  return { element };

  async function load() {
    try {
      const ready = await fetch("/readyz").then((response) => response.json());
      const me = signedIn.current ?? (await api("/v1/whoami"));
      const sandbox = me.sandbox;
      replace(
        content,
        facts([
          ["Ready", [badge(ready.status === "ready" ? "active" : "failed"), " ", ready.status]],
          ["Schema", ready.revision ?? null],
          ["Workspace", `${me.workspace.name} (${me.workspace.id})`],
          ["Key", `${me.key.name}: ${me.key.scopes.join(", ")}`],
        ]),
        h("h2", null, "Sandbox"),
        facts([
          ["Tier", h("strong", { class: sandbox.tier === "bwrap" ? "" : "error", "data-tier": sandbox.tier }, sandbox.tier)],
          ["Own users", sandbox.dedicated_users ? "yes" : "no"],
          ["Resource limits", sandbox.cgroups ? `cgroups ${sandbox.cgroups}` : "not enforced"],
          ["Stopping a command", sandbox.kill_tree],
          ["Networks", sandbox.networks.join(", ")],
          ["Open network", sandbox.open_network],
          ["Disk quotas", sandbox.disk_quota ? "yes" : "no"],
          ["System call filter", sandbox.seccomp ? "seccomp" : "none"],
          ["In short", sandbox.detail],
          ["To fix", sandbox.fix ?? null],
        ]),
        h("h2", null, "Limits"),
        h("pre", null, JSON.stringify(me.limits, null, 2)),
      );
    } catch (error) {
      replace(content, failure(error));
    }
  }
}
