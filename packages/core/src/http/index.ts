/**
 * `@mcp-sessions/core/http`: the MCP Streamable HTTP integration. Peer: the MCP TypeScript SDK,
 * v1 (`@modelcontextprotocol/sdk` 1.25+) or v2 (`@modelcontextprotocol/server` 2.4+), or both.
 */
export * from './agent-state';
export * from './dual-era';
export * from './event-store';
export * from './handler';
export * from './node';
export { loadDefaultTransportClass, SdkNotFoundError } from './sdk-assumptions';
export * from './server-event-bus';
export type { TaskContext, TaskHandler } from './task-runner';
export {
  declaresTasks,
  MISSING_REQUIRED_CLIENT_CAPABILITY,
  TASKS_EXTENSION,
  TaskProtocolError,
  type TaskSupport,
} from './task-wire';
export * from './tasks-extension';
export * from './v1-task-queue';
export * from './v1-task-store';
export type { V1CreateTaskOptions, V1DequeuedMessage, V1QueuedMessage, V1Task } from './wire';
