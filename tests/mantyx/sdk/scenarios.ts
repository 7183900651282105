// Scenarios of the published MANTYX SDK against a Corral server, one per run of this script:
//
//   MANTYX_BASE_URL=http://127.0.0.1:7070 MANTYX_API_KEY=... MANTYX_WORKSPACE=default \
//     node_modules/.bin/tsx scenarios.ts <scenario>
//
// Each prints one JSON document of what it observed; tests/mantyx/test_sdk.py checks it.
import { z } from "zod";

import {
  MantyxClient,
  MantyxError,
  defineLocalTool,
  mantyxTool,
  type RunEvent,
} from "./src/index.js";

const baseUrl = required("MANTYX_BASE_URL");
const apiKey = required("MANTYX_API_KEY");
const workspaceSlug = required("MANTYX_WORKSPACE");
const AGENT = { systemPrompt: "You are a terse assistant.", modelId: "test" };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function client(overrides: Partial<{ apiKey: string; workspaceSlug: string; fetch: typeof fetch }> = {}) {
  return new MantyxClient({ apiKey, workspaceSlug, baseUrl, timeoutMs: 20_000, ...overrides });
}

/** What a thrown error says about itself, so a test can check it. */
function described(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { thrown: String(error) };
  const fields = error as Error & Record<string, unknown>;
  return {
    name: error.name,
    message: error.message,
    isMantyxError: error instanceof MantyxError,
    code: fields.code,
    status: fields.status,
    subtype: fields.subtype,
    runId: fields.runId,
  };
}

async function failure(action: () => Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await action();
  } catch (error) {
    return described(error);
  }
  return { thrown: null };
}

const weather = defineLocalTool({
  name: "get_weather",
  description: "Current weather of a city",
  parameters: z.object({
    city: z.string(),
    unit: z.enum(["celsius", "fahrenheit"]).default("celsius"),
  }),
  execute: ({ city, unit }) => `sunny in ${city}, 21 degrees ${unit}`,
});

const broken = defineLocalTool({
  name: "read_file",
  description: "Read a file of the user's machine",
  parameters: z.object({ path: z.string() }),
  execute: () => {
    throw new Error("ENOENT: no such file");
  },
});

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  async models() {
    const catalog = await client().listModels();
    return { defaultModelId: catalog.defaultModelId, models: catalog.models };
  },

  async one_shot() {
    const result = await client().runAgent({
      ...AGENT,
      prompt: "Hello from the SDK",
      metadata: { customer: "acme", via: "sdk" },
    });
    return { runId: result.runId, text: result.text, types: result.events.map((e) => e.type) };
  },

  async streaming() {
    const events: RunEvent[] = [];
    for await (const event of client().streamAgent({
      ...AGENT,
      prompt: "[[stream_delay 5ms]] [[deltas 21]] Streaming, word by word, as it is written.",
    })) {
      events.push(event);
    }
    const deltas: string[] = [];
    const result = await client().runAgent({
      ...AGENT,
      prompt: "[[think hmm]] Callbacks see every piece",
      onAssistantDelta: (text) => deltas.push(text),
    });
    return {
      streamed: events.map((e) => ({ ...e })),
      callbackDeltas: deltas,
      callbackText: result.text,
      callbackTypes: result.events.map((e) => e.type),
    };
  },

  async local_tools() {
    const sdk = client();
    const ok = await sdk.runAgent({
      ...AGENT,
      prompt: 'Weather in Oslo? [[call get_weather {"city": "Oslo"}]]',
      tools: [weather],
    });
    const failed = await sdk.runAgent({
      ...AGENT,
      prompt: "Read /etc/hosts",
      tools: [broken],
    });
    const invalid = await sdk.runAgent({
      ...AGENT,
      prompt: '[[call get_weather {"city": 5}]]',
      tools: [weather],
    });
    return {
      ok: { runId: ok.runId, text: ok.text, types: ok.events.map((e) => e.type) },
      failed: { runId: failed.runId, text: failed.text },
      invalid: { runId: invalid.runId, text: invalid.text },
    };
  },

  async sessions() {
    const sdk = client();
    const session = await sdk.createSession({ ...AGENT, metadata: { customer: "acme" } });
    const first = await session.send("My name is Ada.");
    const afterFirst = await session.history();
    const second = await session.send("What is my name?", { metadata: { trace_id: "t-2" } });
    const afterSecond = await session.history();
    const streamed: string[] = [];
    for await (const event of session.stream("Third, streamed")) streamed.push(event.type);
    const info = await session.info();
    const resumed = await sdk.resumeSession(session.id);
    const fourth = await resumed.send("Still there?");

    const withTools = await sdk.createSession({ ...AGENT, tools: [weather] });
    const toolAnswer = await withTools.send('[[call get_weather {"city": "Lima"}]]');

    await session.end();
    const ended = await session.info();
    const late = await failure(() => session.send("Anyone?"));
    const gone = await failure(() => sdk.getSessionInfo("ses_missing"));
    return {
      sessionId: session.id,
      texts: [first.text, second.text, fourth.text],
      secondRunId: second.runId,
      afterFirst,
      afterSecond,
      streamed,
      info,
      toolAnswer: toolAnswer.text,
      ended: { status: ended.status, endedAt: ended.endedAt, messages: ended.messages.length },
      late,
      gone,
    };
  },

  async stored_agent() {
    // Run with a key that may start runs and sessions but not read agents: the SDK needs no more.
    const sdk = client();
    const run = await sdk.runAgent({ agentId: "helper", prompt: "Hi" });
    const session = await sdk.createSession({ agentId: "helper" });
    const first = await session.send("Hello");
    const resumed = await sdk.resumeSession(session.id);
    const second = await resumed.send("Still there?");
    return {
      text: run.text,
      answers: [first.text, second.text],
      history: await resumed.history(),
      info: await resumed.info(),
    };
  },

  async cancel() {
    const sdk = client();
    // Cancel before following: the stream replays what happened and ends `cancelled`.
    const created = await sdk.request<{ runId: string; streamUrl: string }>({
      method: "POST",
      path: "/agent-runs",
      body: { ...AGENT, prompt: "[[delay 10s]] never answered", tools: [] },
    });
    await sdk.cancelRun(created.runId);
    await sdk.cancelRun(created.runId);
    const early = await failure(() => sdk.driveRun(created.runId, new Map()));

    // Cancel while following: the live stream ends with the `cancelled` event.
    const live = await sdk.request<{ runId: string; streamUrl: string }>({
      method: "POST",
      path: "/agent-runs",
      body: { ...AGENT, prompt: "[[delay 10s]] never answered either", tools: [] },
    });
    const seen: string[] = [];
    const during = await failure(() =>
      sdk.driveRun(live.runId, new Map(), {
        onEvent: (event) => {
          seen.push(event.type);
          if (event.type === "started") void sdk.cancelRun(live.runId);
        },
      }),
    );
    return { runIds: [created.runId, live.runId], early, during, seen };
  },

  async bad_key() {
    const wrongKey = client({ apiKey: "crl_not_a_key" });
    const wrongWorkspace = client({ workspaceSlug: "not-my-workspace" });
    return {
      models: await failure(() => wrongKey.listModels()),
      run: await failure(() => wrongKey.runAgent({ ...AGENT, prompt: "hi" })),
      workspace: await failure(() => wrongWorkspace.listModels()),
      model: await failure(() => client().runAgent({ ...AGENT, modelId: "gpt-9", prompt: "hi" })),
      tool: await failure(() =>
        client().runAgent({ ...AGENT, prompt: "hi", tools: [mantyxTool("tool_1")] }),
      ),
    };
  },

  async reconnect() {
    // The first stream is closed by the "network" after a few events, the second fails with an
    // error: the SDK must resume from the last seq each time and see every event once.
    const cuts: Array<{ frames: number; how: "close" | "error" }> = [
      { frames: 6, how: "close" },
      { frames: 5, how: "error" },
    ];
    const connections: Array<{ url: string; lastEventId: string | null }> = [];
    const flaky: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const url = String(input);
      if (!url.includes("/stream")) return response;
      connections.push({ url, lastEventId: new Headers(init?.headers).get("Last-Event-ID") });
      const cut = cuts.shift();
      if (!cut || !response.body) return response;
      return new Response(cutAfter(response.body, cut.frames, cut.how), {
        status: response.status,
        headers: response.headers,
      });
    };
    const result = await client({ fetch: flaky }).runAgent({
      ...AGENT,
      prompt: "[[stream_delay 20ms]] [[deltas 30]] A long answer that arrives slowly.",
    });
    return {
      runId: result.runId,
      text: result.text,
      seqs: result.events.map((e) => e.seq),
      types: result.events.map((e) => e.type),
      connections,
    };
  },
};

/** The body of an event stream that ends after `frames` events, cleanly or with an error. */
function cutAfter(
  body: ReadableStream<Uint8Array>,
  frames: number,
  how: "close" | "error",
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        if (pending) controller.enqueue(encoder.encode(pending));
        controller.close();
        return;
      }
      pending += decoder.decode(value, { stream: true });
      let complete = "";
      let end: number;
      while ((end = pending.indexOf("\n\n")) !== -1) {
        const block = pending.slice(0, end + 2);
        pending = pending.slice(end + 2);
        complete += block;
        if (!block.startsWith(":")) seen += 1;
        if (seen >= frames) {
          controller.enqueue(encoder.encode(complete));
          await reader.cancel();
          if (how === "close") controller.close();
          else controller.error(new Error("connection reset by peer"));
          return;
        }
      }
      if (complete) controller.enqueue(encoder.encode(complete));
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

const name = process.argv[2] ?? "";
const scenario = scenarios[name];
if (!scenario) {
  console.error(`unknown scenario ${JSON.stringify(name)}; one of: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
scenario().then(
  (observed) => {
    process.stdout.write(JSON.stringify(observed) + "\n");
  },
  (error: unknown) => {
    process.stdout.write(JSON.stringify({ unexpected: described(error) }) + "\n");
    process.exitCode = 1;
  },
);
