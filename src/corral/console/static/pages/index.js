// @ts-check
/** Every page of the console and the address it lives at. */

import { agentPage, agentsPage } from "./agents.js";
import { approvalsPage } from "./approvals.js";
import { keysPage } from "./keys.js";
import { routinePage, routinesPage } from "./routines.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";
import { serverPage } from "./server.js";
import { sessionPage, sessionsPage } from "./sessions.js";
import { usagePage } from "./usage.js";
import { webhookPage, webhooksPage } from "./webhooks.js";

/**
 * @typedef {object} Route
 * @property {RegExp} pattern
 * @property {string} section the navigation entry it belongs to
 * @property {string} title
 * @property {(parts: string[], params: URLSearchParams) => {element: HTMLElement, leave?: () => void}} page
 */

const ID = "([^/]+)";

/** @type {Route[]} */
export const routes = [
  { pattern: /^\/runs\/?$/, section: "runs", title: "Runs", page: runsPage },
  { pattern: new RegExp(`^/runs/${ID}$`), section: "runs", title: "Run", page: runPage },
  { pattern: /^\/sessions\/?$/, section: "sessions", title: "Sessions", page: sessionsPage },
  { pattern: new RegExp(`^/sessions/${ID}$`), section: "sessions", title: "Session", page: sessionPage },
  { pattern: /^\/agents\/?$/, section: "agents", title: "Agents", page: agentsPage },
  { pattern: new RegExp(`^/agents/${ID}$`), section: "agents", title: "Agent", page: agentPage },
  { pattern: /^\/approvals\/?$/, section: "approvals", title: "Approvals", page: approvalsPage },
  { pattern: /^\/routines\/?$/, section: "routines", title: "Routines", page: routinesPage },
  { pattern: new RegExp(`^/routines/${ID}$`), section: "routines", title: "Routine", page: routinePage },
  { pattern: /^\/webhooks\/?$/, section: "webhooks", title: "Webhooks", page: webhooksPage },
  { pattern: new RegExp(`^/webhooks/${ID}$`), section: "webhooks", title: "Webhook", page: webhookPage },
  { pattern: /^\/usage\/?$/, section: "usage", title: "Usage", page: usagePage },
  { pattern: /^\/keys\/?$/, section: "keys", title: "Keys and secrets", page: keysPage },
  { pattern: /^\/server\/?$/, section: "server", title: "Server", page: serverPage },
];
