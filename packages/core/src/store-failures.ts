/**
 * Store failures raised while a piece of work runs. SDK v2's `createMcpHandler` turns an error a
 * tool or request handler throws into a result that carries only its message (HTTP 200): the
 * dual-era handler runs the modern leg under `observeStoreFailures` to learn that a store failed
 * and answer as the session leg does (503 with Retry-After), without the driver's text.
 *
 * Shared by the root entry and `@mcp-sessions/core/http` by name (see tsup.config.ts): the error
 * classes note themselves here, the http entry reads.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

// Plain `Error`s here: errors.ts imports this file, so this one names no error class of its own.
const scope = new AsyncLocalStorage<Error[]>();

/** Called by `StoreUnavailableError` and `StoreError` as they are created: noted if work is observed. */
export function noteStoreFailure(error: Error): void {
  scope.getStore()?.push(error);
}

/**
 * Runs `work` and gives what it returned and the store failures created while it ran, wherever
 * they went (thrown, wrapped as a `cause`, or turned into a result). The list grows while work it
 * started goes on (a streamed response).
 */
export async function observeStoreFailures<T>(
  work: () => Promise<T>,
): Promise<{ result: T; failures: readonly Error[] }> {
  const failures: Error[] = [];
  const result = await scope.run(failures, work);
  return { result, failures };
}
