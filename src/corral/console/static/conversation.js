// @ts-check
/** A conversation (a session's messages) drawn the way the timeline draws a run. */

import { h, json } from "./dom.js";

/**
 * @typedef {{type: string, text?: string, call_id?: string, name?: string, input?: any, output?: string, is_error?: boolean}} Block
 * @typedef {{role: string, content: string | Block[]}} Message
 */

/** @param {Message[]} messages */
export function conversation(messages) {
  const list = h("ol", { class: "timeline conversation" });
  /** @type {Map<string, HTMLElement>} */
  const calls = new Map();
  for (const message of messages) {
    const blocks = typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
    for (const block of blocks) {
      if (block.type === "text" && block.text) {
        list.append(h("li", { class: `message role-${message.role}`, "data-role": message.role }, h("span", { class: "role" }, message.role), block.text));
      } else if (block.type === "thinking") {
        list.append(h("li", { class: "thinking" }, h("details", null, h("summary", null, "Thinking"), h("div", { class: "prose" }, block.text ?? ""))));
      } else if (block.type === "tool_call") {
        const body = h("div", { class: "card-body" });
        list.append(
          h(
            "li",
            { class: "card tool", "data-state": "open" },
            h("div", { class: "card-head" }, h("strong", { class: "tool-name" }, block.name ?? "")),
            h("details", { class: "arguments" }, h("summary", null, "Arguments"), h("pre", null, json(block.input))),
            body,
          ),
        );
        calls.set(block.call_id ?? "", body);
      } else if (block.type === "tool_result") {
        const body = calls.get(block.call_id ?? "");
        const output = h(
          "details",
          { class: `output ${block.is_error ? "error" : ""}` },
          h("summary", null, block.is_error ? "Error" : "Output"),
          h("pre", null, block.output ?? ""),
        );
        if (body) {
          body.append(output);
          body.parentElement?.setAttribute("data-state", block.is_error ? "failed" : "ok");
        } else {
          list.append(h("li", { class: "card tool" }, output));
        }
      }
    }
  }
  return list;
}
