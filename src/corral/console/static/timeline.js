// @ts-check
/**
 * A run's timeline: its events, as they stream, turned into what a person reads — text, collapsed
 * thinking, a card per tool call, approvals to decide, subagents to open.
 *
 * Events arrive in bursts (a replay sends thousands at once), so they are queued and drawn once
 * per animation frame; streamed text, and a running command's output in its card, each grow one
 * text node instead of re-rendering anything.
 */

import { api, follow } from "./api.js";
import { badge, between, cost, duration, h, json, link, path, replace, time, tokens } from "./dom.js";

const TERMINAL = new Set(["run.completed", "run.failed", "run.cancelled", "run.timed_out"]);

/**
 * @typedef {object} RunEvent
 * @property {number} seq
 * @property {string} type
 * @property {string} run_id
 * @property {string} created_at
 */

/**
 * @typedef {object} Card
 * @property {HTMLElement} element
 * @property {HTMLElement} state
 * @property {HTMLElement} body
 * @property {string} started
 * @property {HTMLElement | null} live the output streamed while the call runs, until its result
 * @property {Text | null} output the text node of `live`, grown by each piece
 */

export class Timeline {
  /**
   * @param {HTMLElement} root where the timeline is drawn
   * @param {{
   *   runId: string,
   *   onEvent?: (event: any) => void,
   *   onConnection?: (state: "open" | "retrying") => void,
   *   depth?: number,
   * }} options
   */
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.list = h("ol", { class: "timeline", "aria-live": "polite" });
    replace(root, this.list);
    /** @type {any[]} */
    this.queue = [];
    this.frame = 0;
    this.lastSeq = 0;
    this.ended = false;
    /** @type {Text | null} */
    this.text = null;
    /** @type {Text | null} the newest text block, to compare with the run's output */
    this.lastText = null;
    /** @type {Text | null} */
    this.thinking = null;
    /** @type {Map<string, Card>} */
    this.cards = new Map();
    this.controller = new AbortController();
  }

  /** Starts following the run's stream; resolves when the run has ended or `stop()` was called. */
  async start() {
    await follow(`/v1/runs/${encodeURIComponent(this.options.runId)}/stream`, {
      after: null,
      onFrame: (frame) => this.receive(frame.data),
      onConnection: this.options.onConnection,
      finished: () => this.ended,
      signal: this.controller.signal,
    });
  }

  stop() {
    this.controller.abort();
    cancelAnimationFrame(this.frame);
  }

  /** @param {any} event */
  receive(event) {
    if (event.seq <= this.lastSeq) return; // already shown before a reconnect
    this.lastSeq = event.seq;
    if (TERMINAL.has(event.type)) this.ended = true;
    this.queue.push(event);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const follow = this.atBottom();
    const events = this.queue;
    this.queue = [];
    for (const event of events) {
      this.draw(event);
      this.options.onEvent?.(event);
    }
    this.list.dataset.seq = String(this.lastSeq);
    if (follow) window.scrollTo({ top: document.body.scrollHeight });
  }

  /** Whether to keep the newest event in view: only once the reader has scrolled down to it. */
  atBottom() {
    return window.scrollY > 0 && window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  /** @param {any} event */
  draw(event) {
    switch (event.type) {
      case "run.started":
        return this.note(event, `Started on ${event.model}`);
      case "message.delta":
        return this.appendText(event.text);
      case "thinking.delta":
        return this.appendThinking(event.text);
      case "message.completed":
        if (!this.text && event.text) this.appendText(event.text); // a provider that did not stream
        this.text = null;
        this.thinking = null;
        return;
      case "tool.started":
        return this.card(event, "tool", "running");
      case "tool.output_delta":
        return this.appendOutput(event.call_id, event.text);
      case "tool.completed":
        return this.complete(event.call_id, event, event.ok, event.ok ? event.output : event.error);
      case "tool.interrupted":
        return this.annotate(event.call_id, `Interrupted: ${event.reason}`);
      case "client_tool.call":
        return this.card(event, "client", "waiting for the caller");
      case "client_tool.result":
        return this.complete(
          event.call_id,
          event,
          event.error == null,
          event.error == null ? event.output : event.error,
        );
      case "approval.requested":
        return this.approval(event);
      case "approval.decided":
        return this.decided(event);
      case "subagent.started":
        return this.subagent(event);
      case "subagent.completed":
        return this.subagentEnded(event);
      case "usage":
        return;
      case "context.compacted":
        return this.note(
          event,
          `Compacted the context: ${event.messages_summarized} of ${event.messages_total} messages summarized`,
        );
      case "budget.warning":
        return this.note(event, `Spent $${event.used_usd} of a $${event.cap_usd} ${event.scope} cap`, "warn");
      case "mcp.unavailable":
        return this.note(event, `MCP server ${event.server} unavailable: ${event.reason}`, "warn");
      case "mcp.reconnected":
        return this.note(event, `MCP server ${event.server} reconnected`);
      case "session.stopped":
        return this.note(event, `The session stopped: ${event.stop_reason}`, "warn");
      case "run.completed":
        // The answer is the text just shown; repeat it only when it is not.
        return this.end(event, "completed", event.output === this.lastText?.data ? "" : event.output);
      case "run.failed":
      case "run.timed_out":
        return this.end(event, event.type.slice(4), `${event.error.message} (${event.error.code})`);
      case "run.cancelled":
        return this.end(event, "cancelled", event.reason);
      default:
        return this.note(event, event.type); // a type newer than this console
    }
  }

  /**
   * @param {any} event
   * @param {string} text
   * @param {string} [tone]
   */
  note(event, text, tone = "") {
    this.text = null;
    this.list.append(
      h("li", { class: `note ${tone}`, "data-type": event.type }, time(event.created_at), " ", text),
    );
  }

  /** @param {string} text */
  appendText(text) {
    if (!this.text) {
      this.text = document.createTextNode("");
      this.lastText = this.text;
      this.thinking = null;
      this.list.append(h("li", { class: "message", "data-type": "message" }, this.text));
    }
    this.text.appendData(text);
  }

  /** @param {string} text */
  appendThinking(text) {
    if (!this.thinking) {
      this.thinking = document.createTextNode("");
      this.text = null;
      this.list.append(
        h(
          "li",
          { class: "thinking", "data-type": "thinking" },
          h("details", null, h("summary", null, "Thinking"), h("div", { class: "prose" }, this.thinking)),
        ),
      );
    }
    this.thinking.appendData(text);
  }

  /**
   * A card for a tool call, found again by its `call_id` when its result comes.
   * @param {any} event
   * @param {string} kind
   * @param {string} state
   */
  card(event, kind, state) {
    this.text = null;
    const existing = this.cards.get(event.call_id);
    if (existing) return existing; // an approved call starts after its approval card
    const stateLabel = h("span", { class: "state" }, state);
    const body = h("div", { class: "card-body" });
    const element = h(
      "li",
      { class: `card ${kind}`, "data-type": kind, "data-call": event.call_id, "data-state": "open" },
      h(
        "div",
        { class: "card-head" },
        h("strong", { class: "tool-name" }, event.name),
        kind === "client" ? h("span", { class: "tag" }, "client tool") : null,
        stateLabel,
        time(event.created_at),
      ),
      h("details", { class: "arguments", open: true }, h("summary", null, "Arguments"), h("pre", null, json(event.input))),
      body,
    );
    this.list.append(element);
    /** @type {Card} */
    const card = { element, state: stateLabel, body, started: event.created_at, live: null, output: null };
    this.cards.set(event.call_id, card);
    return card;
  }

  /**
   * A piece of a running call's output: one text node in its card grows, as message text does.
   * @param {string} callId
   * @param {string} text
   */
  appendOutput(callId, text) {
    const card = this.cards.get(callId);
    if (!card) return;
    if (!card.output) {
      card.output = document.createTextNode("");
      card.live = h("details", { class: "output live", open: true }, h("summary", null, "Output"), h("pre", null, card.output));
      card.body.append(card.live);
    }
    card.output.appendData(text);
  }

  /**
   * @param {string} callId
   * @param {any} event
   * @param {boolean} ok
   * @param {string | null} output
   */
  complete(callId, event, ok, output) {
    const card = this.cards.get(callId) ?? this.card({ ...event, input: {} }, "tool", "");
    card.live?.remove(); // the result holds the whole output
    card.live = null;
    card.output = null;
    card.element.dataset.state = ok ? "ok" : "failed";
    replace(
      card.state,
      ok ? "done" : "failed",
      " · ",
      duration(between(card.started, event.created_at)),
    );
    card.body.append(
      h(
        "details",
        { class: `output ${ok ? "" : "error"}`, open: true },
        h("summary", null, ok ? "Output" : "Error"),
        h("pre", null, output ?? ""),
      ),
    );
  }

  /**
   * @param {string} callId
   * @param {string} text
   */
  annotate(callId, text) {
    this.cards.get(callId)?.body.append(h("p", { class: "warn" }, text));
  }

  /** @param {any} event */
  approval(event) {
    const card = this.card(event, "approval", "waiting for approval");
    const message = h("input", { type: "text", name: "message", placeholder: "Why (the model reads it)" });
    const status = h("span", { class: "muted" });
    /** @param {"allow" | "deny"} decision */
    const decide = async (decision) => {
      for (const button of card.body.querySelectorAll("button")) button.disabled = true;
      try {
        const body = { decision, message: decision === "deny" && message.value ? message.value : undefined };
        await api(path`/v1/runs/${event.run_id}/approvals/${event.call_id}`, { method: "POST", body });
      } catch (error) {
        replace(status, error instanceof Error ? error.message : String(error));
        for (const button of card.body.querySelectorAll("button")) button.disabled = false;
      }
    };
    card.body.append(
      h(
        "form",
        {
          class: "decision",
          onsubmit: (/** @type {Event} */ e) => e.preventDefault(),
        },
        h("p", { class: "muted" }, `Held by ${event.policy}`, event.expires_at ? ` until ${new Date(event.expires_at).toLocaleString()}` : ""),
        h("button", { type: "button", class: "primary", onclick: () => decide("allow") }, "Approve"),
        message,
        h("button", { type: "button", class: "danger", onclick: () => decide("deny") }, "Deny"),
        status,
      ),
    );
  }

  /** @param {any} event */
  decided(event) {
    const card = this.cards.get(event.call_id);
    if (!card) return;
    card.body.querySelector("form.decision")?.remove();
    card.element.dataset.state = event.decision === "allow" ? "allowed" : "denied";
    replace(card.state, event.decision === "allow" ? "approved, running" : "denied");
    card.body.append(
      h("p", { class: "decision-made" }, event.decision === "allow" ? "Approved" : "Denied", event.message ? `: ${event.message}` : ""),
    );
  }

  /** @param {any} event */
  subagent(event) {
    const card = this.card({ ...event, input: { agent: event.agent } }, "subagent", "running");
    const nested = h("div", { class: "nested" });
    /** @type {Timeline | null} */
    let child = null;
    const details = h(
      "details",
      {
        class: "child",
        ontoggle: () => {
          if (details.open && !child) {
            child = new Timeline(nested, { runId: event.child_run_id, depth: (this.options.depth ?? 0) + 1 });
            child.start().catch(() => {});
          }
        },
      },
      h("summary", null, "Timeline of ", link(path`/runs/${event.child_run_id}`, event.child_run_id)),
      nested,
    );
    card.body.append(details);
  }

  /** @param {any} event */
  subagentEnded(event) {
    const card = this.cards.get(event.call_id);
    if (!card) return;
    card.element.dataset.state = event.status === "completed" ? "ok" : "failed";
    replace(card.state, badge(event.status), " · ", duration(between(card.started, event.created_at)));
    card.body.append(
      h("p", { class: "muted" }, `${tokens(event.input_tokens + event.output_tokens)} tokens · ${cost(event.cost_usd)}`),
      h("pre", null, event.output ?? event.error?.message ?? ""),
    );
  }

  /**
   * @param {any} event
   * @param {string} status
   * @param {string} text
   */
  end(event, status, text) {
    this.text = null;
    this.list.append(
      h(
        "li",
        { class: `end status-${status}`, "data-type": event.type },
        h("div", { class: "card-head" }, badge(status), time(event.created_at)),
        text ? h("pre", { class: "prose" }, text) : null,
      ),
    );
  }
}
