/**
 * Diagnostic preload, never for a reported figure: a zero-delay `setTimeout` runs as
 * `setImmediate`, which removes Node's 1 ms clamp (RESULTS.md, "The SDK's resumable row"). From
 * `bench/`: `node --import ./probes/no-timer-clamp.mjs --import tsx
 * --conditions=@mcp-sessions/source run.ts hotpath`.
 */
const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = (fn, ms, ...args) =>
  ms === undefined || ms === 0 ? setImmediate(fn, ...args) : realSetTimeout(fn, ms, ...args);
