// Entry point of the rebuilt SDK: the published source files above are used unchanged, and this
// file only gathers their public names the way the package's consumers import them.
export * from "./client.js";
export * from "./errors.js";
export * from "./tools.js";
export { readSseStream } from "./sse.js";
export type { SseEvent, SseStreamOptions } from "./sse.js";
export { toToolParametersWire, zodToJsonSchema } from "./zod-to-json-schema.js";
export { SDK_VERSION } from "./version.js";
